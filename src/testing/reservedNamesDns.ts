import dns from 'node:dns';

/*
 * Jest setup: names under the domains reserved for examples and tests (RFC
 * 2606, RFC 6761) answer ENOTFOUND at once, as every real resolver answers
 * them, instead of after a round trip to this machine's resolver, which drops
 * queries under load and then takes seconds. The tests register hundreds of
 * servers at such names, and registration resolves every URL's host.
 */

const RESERVED =
  /(^|\.)(example|example\.com|example\.net|example\.org|test|invalid)\.?$/i;
const PATCHED = Symbol.for('lightspeed-mcp.reservedNamesDns');

// Core modules are shared by all test files of a worker: patch once.
const promises = dns.promises as typeof dns.promises & { [PATCHED]?: true };
if (!promises[PATCHED]) {
  const lookup = promises.lookup;
  promises.lookup = ((hostname: string, options: dns.LookupAllOptions) =>
    RESERVED.test(hostname)
      ? Promise.reject(
          Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
            code: 'ENOTFOUND',
            hostname,
          }),
        )
      : lookup(hostname, options)) as typeof promises.lookup;
  promises[PATCHED] = true;
}

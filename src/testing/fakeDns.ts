import dns from 'node:dns';
import { isIP } from 'node:net';

/**
 * Stands in for DNS until jest's mocks are restored: each name of `names`
 * resolves to its addresses (none: ENOTFOUND), every other name as usual. So a
 * test can have a host name resolve to a cloud metadata address without sending
 * anything anywhere but loopback.
 */
export function fakeDns(names: Record<string, string[]>) {
  const real = dns.promises.lookup;
  return jest.spyOn(dns.promises, 'lookup').mockImplementation((async (
    hostname: string,
    options: unknown,
  ) => {
    const addresses = names[hostname];
    if (!addresses) {
      return real(hostname, options as dns.LookupAllOptions);
    }
    if (addresses.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
        code: 'ENOTFOUND',
      });
    }
    return addresses.map(address => ({ address, family: isIP(address) }));
  }) as never);
}

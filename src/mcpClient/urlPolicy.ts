import dns from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** `lightspeedMcp.urlPolicy`: host names, wildcards, IP addresses and CIDRs. */
export interface UrlPolicyRules {
  allow?: string[];
  deny?: string[];
}

/**
 * How long a registration waits for DNS. A resolver that does not answer in
 * time is treated like one that found nothing, so a slow resolver cannot hold
 * registrations; connections re-check anyway.
 */
const REGISTRATION_LOOKUP_TIMEOUT_MS = 2000;

const ALWAYS_REFUSED_REASON =
  'its address is in a range that is always refused (link-local and cloud metadata addresses)';
const NOT_AN_ADDRESS_REASON = 'its address is not an IP address';
const DENY_REASON = 'it matches lightspeedMcp.urlPolicy.deny';
const ALLOW_REASON = 'it matches no entry of lightspeedMcp.urlPolicy.allow';
const ENTRY_RULE =
  'must be a host name, a wildcard such as *.example.com, an IP address or a CIDR such as 10.0.0.0/8';

// Letters, digits, "-" and "_" (Docker and Compose service names use "_"); URL
// host names are ASCII (punycode).
const LABEL_PATTERN = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
// A URL whose host ends in such a label is parsed as IPv4 (or rejected), so a
// name entry like it never matches.
const NUMERIC_LABEL_PATTERN = /^(?:\d+|0x[0-9a-f]*)$/;
const PREFIX_PATTERN = /^(?:0|[1-9]\d{0,2})$/;

// Link-local addresses reach cloud metadata services (169.254.169.254,
// fd00:ec2::254 on AWS), which hand out credentials. BlockList also checks
// IPv4-mapped IPv6 addresses (::ffff:169.254.169.254) against IPv4 rules.
const ALWAYS_REFUSED = new BlockList();
ALWAYS_REFUSED.addSubnet('169.254.0.0', 16, 'ipv4');
ALWAYS_REFUSED.addSubnet('fe80::', 10, 'ipv6');
ALWAYS_REFUSED.addAddress('fd00:ec2::254', 'ipv6');
// 169.254.0.0/16 as reached through a NAT64 gateway.
ALWAYS_REFUSED.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');

// Errors of a lookup that found no address for the name, as opposed to one that
// could not be made.
const UNRESOLVED_CODES = new Set([
  'ENOTFOUND',
  'ENODATA',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NODATA',
  'EAI_NONAME',
  'ESERVFAIL',
  'EREFUSED',
  'ETIMEOUT',
]);

interface Matcher {
  names: Set<string>;
  /** Each as '.example.com', for '*.example.com'. */
  suffixes: string[];
  addresses: BlockList;
  hasAddresses: boolean;
  size: number;
}

/**
 * The outbound URL policy (SSRF guard) for connections to MCP servers:
 * link-local and metadata addresses are always refused, `deny` always wins, and
 * a non-empty `allow` refuses whatever none of its entries matches.
 */
export class UrlPolicy {
  private readonly allow: Matcher;
  private readonly deny: Matcher;

  /**
   * Throws an Error naming the bad entry, which stops the plugin at startup.
   */
  constructor(rules: UrlPolicyRules = {}) {
    this.allow = buildMatcher(rules.allow ?? [], 'allow');
    this.deny = buildMatcher(rules.deny ?? [], 'deny');
  }

  /**
   * Why a connection to `address` for `hostname` is refused, or undefined when
   * it is allowed.
   */
  refusalFor(hostname: string, address: string): string | undefined {
    const ip = unbracketed(address);
    const family = isIP(ip);
    if (family === 0) {
      return NOT_AN_ADDRESS_REASON;
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (ALWAYS_REFUSED.check(ip, type)) {
      return ALWAYS_REFUSED_REASON;
    }
    const name = normalizedHostname(hostname);
    if (
      matchesName(this.deny, name) ||
      (this.deny.hasAddresses && this.deny.addresses.check(ip, type))
    ) {
      return DENY_REASON;
    }
    if (
      this.allow.size > 0 &&
      !matchesName(this.allow, name) &&
      !(this.allow.hasAddresses && this.allow.addresses.check(ip, type))
    ) {
      return ALLOW_REASON;
    }
    return undefined;
  }

  /**
   * The check made when a URL is registered or changed. A name is refused if
   * any of its addresses is; a name that does not resolve here is judged on the
   * name alone, since Llama Stack may resolve it differently.
   */
  async refusalForUrl(url: string): Promise<string | undefined> {
    const host = unbracketed(new URL(url).hostname);
    if (isIP(host)) {
      return this.refusalFor(host, host);
    }
    let addresses: string[];
    let timer: NodeJS.Timeout | undefined;
    try {
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              Object.assign(new Error(`DNS lookup of ${host} timed out`), {
                code: 'ETIMEOUT',
              }),
            ),
          REGISTRATION_LOOKUP_TIMEOUT_MS,
        );
      });
      addresses = await Promise.race([resolveHost(host), timedOut]);
    } catch (error) {
      if (UNRESOLVED_CODES.has((error as NodeJS.ErrnoException)?.code ?? '')) {
        return this.refusalForName(normalizedHostname(host));
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
    for (const address of addresses) {
      const reason = this.refusalFor(host, address);
      if (reason) {
        return reason;
      }
    }
    return undefined;
  }

  private refusalForName(name: string): string | undefined {
    if (matchesName(this.deny, name)) {
      return DENY_REASON;
    }
    // An allowed CIDR may hold the address the name resolves to elsewhere, so
    // only a names-only allow refuses.
    if (
      this.allow.size > 0 &&
      !matchesName(this.allow, name) &&
      !this.allow.hasAddresses
    ) {
      return ALLOW_REASON;
    }
    return undefined;
  }
}

/**
 * Every address of a host name; an IP literal (with or without brackets) is
 * returned as it is, unbracketed. Throws a DNS error, with code ENOTFOUND when
 * the name has no address.
 */
export async function resolveHost(hostname: string): Promise<string[]> {
  const host = unbracketed(hostname);
  if (isIP(host)) {
    return [host];
  }
  // Looked up on dns.promises at call time, so tests can stand in for DNS.
  const results = await dns.promises.lookup(host, {
    all: true,
    verbatim: true,
  });
  if (results.length === 0) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
      code: 'ENOTFOUND',
      hostname: host,
    });
  }
  return results.map(result => result.address);
}

function buildMatcher(entries: string[], key: 'allow' | 'deny'): Matcher {
  const matcher: Matcher = {
    names: new Set(),
    suffixes: [],
    addresses: new BlockList(),
    hasAddresses: false,
    size: entries.length,
  };
  entries.forEach((entry, index) => {
    if (!addEntry(matcher, entry)) {
      throw new Error(
        `Invalid lightspeedMcp.urlPolicy.${key}[${index}] '${entry}': ${ENTRY_RULE}`,
      );
    }
  });
  return matcher;
}

/** Adds one entry, or returns false when it is none of the accepted shapes. */
function addEntry(matcher: Matcher, entry: unknown): boolean {
  // A zone (fe80::1%eth0) cannot appear in a URL's host, so an entry with one
  // would never match.
  if (typeof entry !== 'string' || entry.includes('%')) {
    return false;
  }
  const family = isIP(entry);
  if (family !== 0) {
    matcher.addresses.addAddress(entry, family === 4 ? 'ipv4' : 'ipv6');
    matcher.hasAddresses = true;
    return true;
  }
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    const network = entry.slice(0, slash);
    const prefixText = entry.slice(slash + 1);
    const networkFamily = isIP(network);
    if (networkFamily === 0 || !PREFIX_PATTERN.test(prefixText)) {
      return false;
    }
    const prefix = Number(prefixText);
    if (prefix > (networkFamily === 4 ? 32 : 128)) {
      return false;
    }
    matcher.addresses.addSubnet(
      network,
      prefix,
      networkFamily === 4 ? 'ipv4' : 'ipv6',
    );
    matcher.hasAddresses = true;
    return true;
  }
  const lower = normalizedHostname(entry);
  if (lower.startsWith('*.')) {
    const domain = lower.slice(2);
    if (!isHostName(domain)) {
      return false;
    }
    matcher.suffixes.push(`.${domain}`);
    return true;
  }
  if (!isHostName(lower)) {
    return false;
  }
  matcher.names.add(lower);
  return true;
}

function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) {
    return false;
  }
  const labels = name.split('.');
  return (
    labels.every(label => LABEL_PATTERN.test(label)) &&
    !NUMERIC_LABEL_PATTERN.test(labels[labels.length - 1])
  );
}

function matchesName(matcher: Matcher, name: string): boolean {
  // The suffix keeps its leading dot, so *.example.com matches neither
  // example.com nor badexample.com.
  return (
    matcher.names.has(name) ||
    matcher.suffixes.some(suffix => name.endsWith(suffix))
  );
}

/**
 * Lower case, without brackets or the trailing dot of a fully qualified name.
 */
function normalizedHostname(hostname: string): string {
  return unbracketed(hostname).toLowerCase().replace(/\.$/, '');
}

function unbracketed(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

import dns from 'node:dns';
import { isIP } from 'node:net';
import { resolveHost, UrlPolicy } from './urlPolicy';

const ALWAYS_REFUSED =
  'its address is in a range that is always refused (link-local and cloud metadata addresses)';
const DENIED = 'it matches lightspeedMcp.urlPolicy.deny';
const NOT_ALLOWED = 'it matches no entry of lightspeedMcp.urlPolicy.allow';

/**
 * Stands in for DNS: each name resolves to the given addresses, or the lookup
 * rejects with the error.
 */
function mockLookup(result: string[] | Error) {
  const spy = jest.spyOn(dns.promises, 'lookup');
  if (result instanceof Error) {
    spy.mockRejectedValue(result);
  } else {
    spy.mockResolvedValue(
      result.map(address => ({ address, family: isIP(address) })) as never,
    );
  }
  return spy;
}

function dnsError(code: string): Error {
  return Object.assign(new Error(`getaddrinfo ${code} mcp.example.com`), {
    code,
  });
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('UrlPolicy.refusalFor', () => {
  it.each([
    '169.254.169.254',
    '169.254.0.1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '[::ffff:a9fe:a9fe]',
    'fe80::1',
    'FE80::abcd',
    'febf::1',
    'fd00:ec2::254',
    '64:ff9b::169.254.169.254',
  ])('always refuses %s, even when allow covers every address', address => {
    const policy = new UrlPolicy({ allow: ['0.0.0.0/0', '::/0'] });
    expect(policy.refusalFor('mcp.example.com', address)).toBe(ALWAYS_REFUSED);
    expect(new UrlPolicy().refusalFor('mcp.example.com', address)).toBe(
      ALWAYS_REFUSED,
    );
  });

  it.each(['169.253.255.255', '169.255.0.0', 'fec0::1', 'fd00:ec2::253'])(
    'does not count the neighbour %s as always refused',
    address => {
      expect(
        new UrlPolicy().refusalFor('mcp.example.com', address),
      ).toBeUndefined();
    },
  );

  it.each([
    '127.0.0.1',
    '::1',
    '[::1]',
    '10.1.2.3',
    '192.168.0.10',
    'fd12::1',
    '93.184.215.14',
    '2606:4700::1111',
  ])('allows %s by default', address => {
    expect(
      new UrlPolicy().refusalFor('mcp.example.com', address),
    ).toBeUndefined();
    expect(
      new UrlPolicy({ allow: [], deny: [] }).refusalFor(
        'mcp.example.com',
        address,
      ),
    ).toBeUndefined();
  });

  it('refuses an address that is not an IP address', () => {
    expect(
      new UrlPolicy().refusalFor('mcp.example.com', 'mcp.example.com'),
    ).toBe('its address is not an IP address');
  });

  it.each([
    // [deny entry, hostname, address, refused]
    ['10.0.0.0/8', 'mcp.example.com', '10.9.8.7', true],
    ['10.0.0.0/8', 'mcp.example.com', '::ffff:10.9.8.7', true],
    ['10.0.0.0/8', 'mcp.example.com', '11.0.0.1', false],
    ['fd00::/8', 'mcp.example.com', 'fd12:3456::1', true],
    ['fd00::/8', 'mcp.example.com', 'fe00::1', false],
    ['192.168.1.5', 'mcp.example.com', '192.168.1.5', true],
    ['192.168.1.5', 'mcp.example.com', '192.168.1.6', false],
    ['::1', 'localhost', '::1', true],
    ['::1', 'localhost', '127.0.0.1', false],
    ['mcp.example.com', 'mcp.example.com', '10.0.0.1', true],
    ['mcp.example.com', 'other.example.com', '10.0.0.1', false],
    ['mcp.example.com', 'MCP.Example.COM', '10.0.0.1', true],
    ['mcp.example.com', 'mcp.example.com.', '10.0.0.1', true],
    ['MCP.EXAMPLE.com.', 'mcp.example.com', '10.0.0.1', true],
    ['*.example.com', 'mcp.example.com', '10.0.0.1', true],
    ['*.example.com', 'a.b.example.com', '10.0.0.1', true],
    ['*.example.com', 'A.Example.Com.', '10.0.0.1', true],
    ['*.example.com', 'example.com', '10.0.0.1', false],
    ['*.example.com', 'badexample.com', '10.0.0.1', false],
    ['*.Example.COM', 'mcp.example.com', '10.0.0.1', true],
  ])(
    'deny %s for %s at %s refuses: %s',
    (entry, hostname, address, refused) => {
      const policy = new UrlPolicy({ deny: [entry] });
      expect(policy.refusalFor(hostname, address)).toBe(
        refused ? DENIED : undefined,
      );
    },
  );

  it.each([
    // [hostname, address, allowed]
    ['mcp.example.com', '93.184.215.14', true],
    ['deep.tools.internal', '93.184.215.14', true],
    ['tools.internal', '93.184.215.14', false],
    ['other.example.com', '10.20.30.40', true],
    ['other.example.com', '::ffff:10.20.30.40', true],
    ['other.example.com', '2001:db8::5', true],
    ['other.example.com', '127.0.0.1', false],
    ['other.example.com', '93.184.215.14', false],
    ['other.example.com', '2001:db9::5', false],
  ])('allow narrows: %s at %s allowed: %s', (hostname, address, allowed) => {
    const policy = new UrlPolicy({
      allow: [
        'mcp.example.com',
        '*.tools.internal',
        '10.0.0.0/8',
        '2001:db8::/32',
      ],
    });
    expect(policy.refusalFor(hostname, address)).toBe(
      allowed ? undefined : NOT_ALLOWED,
    );
  });

  it('lets deny win over allow', () => {
    const policy = new UrlPolicy({
      allow: ['mcp.example.com', '10.0.0.0/8'],
      deny: ['10.0.0.5', '*.example.com'],
    });
    expect(policy.refusalFor('other.internal', '10.0.0.5')).toBe(DENIED);
    expect(policy.refusalFor('mcp.example.com', '10.0.0.6')).toBe(DENIED);
    expect(policy.refusalFor('other.internal', '10.0.0.6')).toBeUndefined();
  });

  it.each([
    ['deny', 2, ''],
    ['deny', 2, 'x/y'],
    ['deny', 2, '10.0.0.0/33'],
    ['deny', 2, '10.0.0.0/'],
    ['deny', 2, '10.0.0.0/08'],
    ['deny', 2, '::/129'],
    ['deny', 2, '*.'],
    ['deny', 2, '*'],
    ['deny', 2, '*foo.com'],
    ['deny', 2, '*.*.example.com'],
    ['deny', 2, 'a b'],
    ['deny', 2, ' mcp.example.com'],
    ['deny', 2, 'http://x'],
    ['deny', 2, 'mcp.example.com:8080'],
    ['deny', 2, '[::1]'],
    ['deny', 2, 'fe80::1%eth0'],
    ['deny', 2, '10.0.0'],
    ['deny', 2, '-mcp.example.com'],
    ['deny', 2, 'mcp..example.com'],
    ['allow', 1, '::/129'],
    ['allow', 1, 'a b'],
  ])('throws naming %s[%d] for %j', (key, index, bad) => {
    const valid = ['mcp.example.com', '10.0.0.0/8', '*.example.org'];
    const entries = [...valid.slice(0, index), bad, ...valid.slice(index)];
    expect(() => new UrlPolicy({ [key]: entries })).toThrow(
      `Invalid lightspeedMcp.urlPolicy.${key}[${index}] '${bad}': must be a host name, ` +
        'a wildcard such as *.example.com, an IP address or a CIDR such as 10.0.0.0/8',
    );
  });

  it.each([
    'mcp.example.com',
    'mcp.example.com.',
    'my_service',
    'localhost',
    '*.com',
    '10.1.2.3',
    '::1',
    '::/0',
  ])('accepts the entry %j', entry => {
    expect(
      () => new UrlPolicy({ allow: [entry], deny: [entry] }),
    ).not.toThrow();
  });
});

describe('UrlPolicy.refusalForUrl', () => {
  it.each([
    'http://[::ffff:169.254.169.254]/mcp',
    'http://169.254.169.254/meta-data',
    'https://[fe80::1]:8443/',
  ])('checks the IP literal of %s without a lookup', async url => {
    const lookup = mockLookup(new Error('no lookup expected'));
    await expect(new UrlPolicy().refusalForUrl(url)).resolves.toBe(
      ALWAYS_REFUSED,
    );
    expect(lookup).not.toHaveBeenCalled();
  });

  it('treats a resolver that does not answer within 2 s like one that found nothing', async () => {
    jest.useFakeTimers();
    try {
      jest
        .spyOn(dns.promises, 'lookup')
        .mockReturnValue(new Promise(() => undefined) as never);
      const accepted = new UrlPolicy().refusalForUrl(
        'http://slow.example.com/mcp',
      );
      const refused = new UrlPolicy({ deny: ['*.example.com'] }).refusalForUrl(
        'http://slow.example.com/mcp',
      );
      await jest.advanceTimersByTimeAsync(2000);
      await expect(accepted).resolves.toBeUndefined();
      await expect(refused).resolves.toBe(DENIED);
    } finally {
      jest.useRealTimers();
    }
  });

  it('allows an IPv6 loopback literal by default and refuses it when denied', async () => {
    mockLookup(new Error('no lookup expected'));
    await expect(
      new UrlPolicy().refusalForUrl('http://[::1]:8080/mcp'),
    ).resolves.toBeUndefined();
    await expect(
      new UrlPolicy({ deny: ['::1'] }).refusalForUrl('http://[::1]:8080/mcp'),
    ).resolves.toBe(DENIED);
  });

  it('refuses a name that resolves to the metadata address', async () => {
    const lookup = mockLookup(['169.254.169.254']);
    await expect(
      new UrlPolicy().refusalForUrl('http://metadata.example.com/mcp'),
    ).resolves.toBe(ALWAYS_REFUSED);
    expect(lookup).toHaveBeenCalledWith('metadata.example.com', {
      all: true,
      verbatim: true,
    });
  });

  it('refuses a name when any one of its addresses is refused', async () => {
    mockLookup(['10.0.0.1', '192.168.5.5']);
    const url = 'https://mcp.example.com/mcp';
    await expect(
      new UrlPolicy({ deny: ['192.168.0.0/16'] }).refusalForUrl(url),
    ).resolves.toBe(DENIED);
    await expect(
      new UrlPolicy({ deny: ['172.16.0.0/12'] }).refusalForUrl(url),
    ).resolves.toBeUndefined();
  });

  it('refuses a name none of whose addresses or names is allowed', async () => {
    mockLookup(['93.184.215.14']);
    const policy = new UrlPolicy({ allow: ['10.0.0.0/8', 'mcp.example.com'] });
    await expect(
      policy.refusalForUrl('https://other.example.com/'),
    ).resolves.toBe(NOT_ALLOWED);
    await expect(
      policy.refusalForUrl('https://MCP.example.com./'),
    ).resolves.toBeUndefined();
  });

  it.each([
    // [rules, refusal]
    [{}, undefined],
    [{ deny: ['*.example.com'] }, DENIED],
    [{ deny: ['mcp.example.com'] }, DENIED],
    [{ deny: ['10.0.0.0/8'] }, undefined],
    [{ allow: ['other.example.com', '*.internal'] }, NOT_ALLOWED],
    [{ allow: ['*.example.com'] }, undefined],
    [{ allow: ['other.example.com', '10.0.0.0/8'] }, undefined],
  ])(
    'judges a name that does not resolve on the name alone: %j',
    async (rules, refusal) => {
      mockLookup(dnsError('ENOTFOUND'));
      await expect(
        new UrlPolicy(rules).refusalForUrl('http://mcp.example.com:8080/mcp'),
      ).resolves.toBe(refusal);
    },
  );

  it.each(['EAI_AGAIN', 'ENODATA', 'ESERVFAIL'])(
    'treats %s as a name that does not resolve',
    async code => {
      mockLookup(dnsError(code));
      const url = 'http://mcp.example.com/';
      await expect(
        new UrlPolicy({ deny: ['*.example.com'] }).refusalForUrl(url),
      ).resolves.toBe(DENIED);
      await expect(new UrlPolicy().refusalForUrl(url)).resolves.toBeUndefined();
    },
  );

  it('treats a lookup with no address as a name that does not resolve', async () => {
    mockLookup([]);
    const policy = new UrlPolicy({ allow: ['other.example.com'] });
    await expect(policy.refusalForUrl('http://mcp.example.com/')).resolves.toBe(
      NOT_ALLOWED,
    );
  });

  it('lets other DNS errors propagate', async () => {
    mockLookup(dnsError('EBADNAME'));
    await expect(
      new UrlPolicy().refusalForUrl('http://mcp.example.com/'),
    ).rejects.toThrow('EBADNAME');
  });
});

describe('resolveHost', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[::ffff:a9fe:a9fe]', '::ffff:a9fe:a9fe'],
  ])(
    'returns the IP literal %s as %s without a lookup',
    async (hostname, address) => {
      const lookup = mockLookup(new Error('no lookup expected'));
      await expect(resolveHost(hostname)).resolves.toEqual([address]);
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it('returns every address of a name, in the order DNS gave them', async () => {
    const lookup = mockLookup(['2001:db8::1', '10.0.0.1']);
    await expect(resolveHost('mcp.example.com')).resolves.toEqual([
      '2001:db8::1',
      '10.0.0.1',
    ]);
    expect(lookup).toHaveBeenCalledWith('mcp.example.com', {
      all: true,
      verbatim: true,
    });
  });

  it('rejects with ENOTFOUND when the name has no address', async () => {
    mockLookup([]);
    await expect(resolveHost('mcp.example.com')).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
  });
});

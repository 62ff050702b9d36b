import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { readPluginConfig } from './readPluginConfig';
import { UrlPolicy } from '../mcpClient/urlPolicy';

const BASE_URL = 'http://llama-stack.example.com:8321';

/**
 * Reads `lightspeedMcp` with the given keys over a minimal valid llamaStack
 * block.
 */
function read(lightspeedMcp: JsonObject, llamaStack: JsonObject = {}) {
  return readPluginConfig(
    new ConfigReader({
      lightspeedMcp: {
        ...lightspeedMcp,
        llamaStack: { baseUrl: BASE_URL, ...llamaStack },
      },
    }),
  );
}

const VALID_SERVER = { name: 'docs', url: 'https://docs.example.com/mcp' };

describe('readPluginConfig', () => {
  it('applies the defaults to a minimal config', () => {
    expect(read({})).toEqual({
      llamaStack: {
        baseUrl: BASE_URL,
        timeoutMs: 10_000,
        token: undefined,
        toolgroups: 'auto',
      },
      defaultProviderId: 'model-context-protocol',
      staticServers: [],
      orgTokens: new Map(),
      tokenCipher: undefined,
      reconcileFrequency: { minutes: 1 },
      reconcileTimeout: { minutes: 5 },
      urlPolicy: expect.any(UrlPolicy),
      checkTimeoutMs: 10_000,
      actionsAllowWrites: false,
    });
  });

  it('reads whether the actions may write', () => {
    expect(read({ actions: { allowWrites: true } }).actionsAllowWrites).toBe(
      true,
    );
    expect(() => read({ actions: { allowWrites: 'maybe' } })).toThrow(
      /actions\.allowWrites/,
    );
  });

  it('reads the check timeout, and refuses a URL policy entry that is not a host, address or CIDR', () => {
    expect(read({ check: { timeout: { seconds: 3 } } }).checkTimeoutMs).toBe(
      3000,
    );
    expect(() =>
      read({ urlPolicy: { deny: ['10.0.0.0/8', 'http://x'] } }),
    ).toThrow(/Invalid lightspeedMcp\.urlPolicy\.deny\[1\] 'http:\/\/x'/);
  });

  it('reads the reconcile frequency and timeout', () => {
    const config = read({
      reconcile: { frequency: { seconds: 30 }, timeout: { seconds: 20 } },
    });
    expect(config.reconcileFrequency).toEqual({ seconds: 30 });
    expect(config.reconcileTimeout).toEqual({ seconds: 20 });
  });

  it.each([
    ['one trailing slash', `${BASE_URL}/`, BASE_URL],
    ['several trailing slashes', `${BASE_URL}//`, BASE_URL],
    ['a path with a trailing slash', `${BASE_URL}/llama/`, `${BASE_URL}/llama`],
  ])('strips %s from baseUrl', (_case, baseUrl, expected) => {
    expect(read({}, { baseUrl }).llamaStack!.baseUrl).toBe(expected);
  });

  it('reads the timeout as a duration', () => {
    expect(read({}, { timeout: { seconds: 3 } }).llamaStack!.timeoutMs).toBe(
      3000,
    );
    expect(
      read({}, { timeout: { minutes: 1, milliseconds: 500 } }).llamaStack!
        .timeoutMs,
    ).toBe(60_500);
  });

  it('reads the token', () => {
    expect(read({}, { token: 's3cret' }).llamaStack!.token).toBe('s3cret');
  });

  it.each<[string, JsonObject, RegExp]>([
    [
      'a missing baseUrl',
      { baseUrl: undefined as unknown as string },
      /baseUrl/,
    ],
    ['an ftp: baseUrl', { baseUrl: 'ftp://x' }, /baseUrl/],
    ['a relative baseUrl', { baseUrl: 'llama-stack:8321' }, /baseUrl/],
    ['a zero timeout', { timeout: { seconds: 0 } }, /timeout/],
  ])('throws on %s', (_case, llamaStack, message) => {
    expect(() => read({}, llamaStack)).toThrow(message);
  });

  it('throws when the lightspeedMcp block is missing', () => {
    expect(() => readPluginConfig(new ConfigReader({}))).toThrow(
      /lightspeedMcp/,
    );
  });

  describe('static servers', () => {
    it('parses camelCase keys and applies the default provider', () => {
      const jira = {
        name: 'jira',
        url: 'https://jira.example.com/mcp',
        providerId: 'my-provider',
        authorizationHeaders: {
          Authorization: 'client',
          'X-Kube': 'kubernetes',
        },
        headers: ['x-request-id'],
        timeout: 30,
      };
      const { staticServers } = read({ mcpServers: [VALID_SERVER, jira] });
      expect(staticServers).toEqual([
        { ...VALID_SERVER, providerId: 'model-context-protocol' },
        jira,
      ]);
    });

    it('applies a custom defaultProviderId', () => {
      const config = read({
        defaultProviderId: 'custom-mcp',
        mcpServers: [VALID_SERVER],
      });
      expect(config.defaultProviderId).toBe('custom-mcp');
      expect(config.staticServers).toEqual([
        { ...VALID_SERVER, providerId: 'custom-mcp' },
      ]);
    });

    it.each<[string, JsonObject, RegExp]>([
      [
        'a bad url',
        { ...VALID_SERVER, name: 'jira', url: 'ftp://jira.example.com' },
        /\burl\b/,
      ],
      [
        'a snake_case key',
        {
          ...VALID_SERVER,
          name: 'jira',
          provider_id: 'model-context-protocol',
        },
        /unknown field.*provider_id/,
      ],
      ['a bad name', { ...VALID_SERVER, name: '.jira' }, /\bname\b/],
      [
        'a bad timeout',
        { ...VALID_SERVER, name: 'jira', timeout: 0 },
        /\btimeout\b/,
      ],
      [
        'a bad authorization kind',
        {
          ...VALID_SERVER,
          name: 'jira',
          authorizationHeaders: { Authorization: 'bearer' },
        },
        /authorizationHeaders/,
      ],
      ['a missing url', { name: 'jira' }, /\burl\b/],
    ])(
      'rejects an entry with %s, naming the entry and the field',
      (_case, entry, field) => {
        const call = () => read({ mcpServers: [VALID_SERVER, entry] });
        expect(call).toThrow('lightspeedMcp.mcpServers[1]');
        expect(call).toThrow(field);
      },
    );

    it('rejects a duplicate name, naming both entries', () => {
      const call = () =>
        read({
          mcpServers: [
            VALID_SERVER,
            { ...VALID_SERVER, name: 'jira' },
            { ...VALID_SERVER, url: 'https://other.example.com' },
          ],
        });
      expect(call).toThrow(
        /lightspeedMcp\.mcpServers\[2\].*docs.*lightspeedMcp\.mcpServers\[0\]/,
      );
    });
  });

  describe('the upstream', () => {
    const LCS_URL = 'http://lightspeed-stack.example.com:8080';
    const readOnly = (lightspeedMcp: JsonObject) =>
      readPluginConfig(new ConfigReader({ lightspeedMcp }));

    it('reads lightspeedStack, and then no llamaStack', () => {
      const config = readOnly({
        lightspeedStack: {
          baseUrl: `${LCS_URL}/`,
          token: 'lcs-token',
          timeout: { seconds: 4 },
        },
      });

      expect(config.lightspeedStack).toEqual({
        baseUrl: LCS_URL,
        token: 'lcs-token',
        timeoutMs: 4000,
      });
      expect(config.llamaStack).toBeUndefined();
    });

    it('refuses both upstreams, and neither, naming both keys', () => {
      expect(() =>
        readOnly({
          lightspeedStack: { baseUrl: LCS_URL },
          llamaStack: { baseUrl: BASE_URL },
        }),
      ).toThrow(
        /lightspeedMcp\.llamaStack and lightspeedMcp\.lightspeedStack are both set/,
      );
      expect(() => readOnly({})).toThrow(
        /Neither lightspeedMcp\.lightspeedStack nor lightspeedMcp\.llamaStack is set/,
      );
    });

    it('refuses a lightspeedStack URL that is not http(s), naming the key', () => {
      expect(() =>
        readOnly({ lightspeedStack: { baseUrl: 'ftp://lcs.example.com' } }),
      ).toThrow(
        'lightspeedMcp.lightspeedStack.baseUrl must be an absolute http:// or https:// URL',
      );
    });
  });

  describe('tokens', () => {
    const SECRET = 'a-secret-of-at-least-32-characters!!';

    it('keeps org tokens apart from the servers, and reads the encryption keys', () => {
      const config = read({
        mcpServers: [{ ...VALID_SERVER, token: 'org-token' }],
        tokenEncryption: { keys: [{ secret: SECRET }] },
      });

      expect(config.staticServers).toEqual([
        { ...VALID_SERVER, providerId: 'model-context-protocol' },
      ]);
      expect(config.orgTokens).toEqual(new Map([['docs', 'org-token']]));
      const cipher = config.tokenCipher!;
      expect(cipher.decrypt(cipher.encrypt('t', 'c'), 'c')).toBe('t');
    });

    it('refuses a short secret or an empty org token, without repeating it', () => {
      expect(() =>
        read({ tokenEncryption: { keys: [{ secret: 'too-short' }] } }),
      ).toThrow(/tokenEncryption\.keys\[\]\.secret must be at least 32/);
      expect(() =>
        read({ mcpServers: [{ ...VALID_SERVER, token: '' }] }),
      ).toThrow(/lightspeedMcp\.mcpServers\[0\].*'token' must not be empty/);
    });
  });
});

import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  asUser,
  BASE,
  createTestDatabases,
  startPlugin,
  TestPlugin,
} from '../testing/testBackend';

const databases = createTestDatabases();

const VALID = { name: 'docs', url: 'https://mcp.example.com/mcp' };
const LIMIT_BYTES = 64 * 1024;

/** `n` distinct, valid HTTP header names. */
const headerNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `x-header-${i}`);
const authorizationHeaders = (n: number) =>
  Object.fromEntries(headerNames(n).map(h => [h, 'client']));
const urlOfLength = (n: number) => {
  const prefix = 'https://mcp.example.com/';
  return prefix + 'a'.repeat(n - prefix.length);
};

/**
 * A POST body as raw text, so that any JSON value (or non-JSON) can be sent
 * exactly.
 */
interface BadBody {
  text: string;
  contentType?: string;
}
const json = (value: unknown): BadBody => ({ text: JSON.stringify(value) });
const withField = (field: string, value: unknown) =>
  json({ ...VALID, [field]: value });
const without = (field: keyof typeof VALID) => {
  const { [field]: _omitted, ...rest } = VALID;
  return json(rest);
};

/** [case, body, what the error message must name] */
const BAD_BODIES: Array<[string, BadBody, string]> = [
  // name
  ['name missing', without('name'), 'name'],
  ['name empty', withField('name', ''), 'name'],
  ['name of 129 characters', withField('name', 'a'.repeat(129)), 'name'],
  ['name with a leading space', withField('name', ' docs'), 'name'],
  ['name with a leading dot', withField('name', '.docs'), 'name'],
  ['name with a leading dash', withField('name', '-docs'), 'name'],
  ['name with a trailing space', withField('name', 'docs '), 'name'],
  ['name with a slash', withField('name', 'team/docs'), 'name'],
  ['name with a control character', withField('name', 'do\u0001cs'), 'name'],
  ['name with a tab', withField('name', 'do\tcs'), 'name'],
  ['name with a newline', withField('name', 'docs\n'), 'name'],
  ['name with unicode letters', withField('name', 'café'), 'name'],
  ['name a number', withField('name', 42), 'name'],
  ['name an object', withField('name', { first: 'docs' }), 'name'],
  // url
  ['url missing', without('url'), 'url'],
  ['url empty', withField('url', ''), 'url'],
  ['url relative', withField('url', '/mcp'), 'url'],
  ['url without scheme', withField('url', 'mcp.example.com/mcp'), 'url'],
  ['url ftp:', withField('url', 'ftp://mcp.example.com/mcp'), 'url'],
  ['url javascript:', withField('url', 'javascript:alert(1)'), 'url'],
  ['url file:', withField('url', 'file:///etc/passwd'), 'url'],
  [
    'url with user and password',
    withField('url', 'https://alice:s3cret@mcp.example.com/mcp'),
    'url',
  ],
  [
    'url with only a user',
    withField('url', 'https://alice@mcp.example.com/mcp'),
    'url',
  ],
  ['url of 2049 characters', withField('url', urlOfLength(2049)), 'url'],
  [
    'url with a space',
    withField('url', 'https://mcp.example.com/my mcp'),
    'url',
  ],
  [
    'url with a leading space',
    withField('url', ' https://mcp.example.com/mcp'),
    'url',
  ],
  [
    'url with a newline',
    withField('url', 'https://mcp.example.com/\nmcp'),
    'url',
  ],
  ['url a number', withField('url', 8080), 'url'],
  // provider_id
  ['provider_id empty', withField('provider_id', ''), 'provider_id'],
  [
    'provider_id of 129 characters',
    withField('provider_id', 'p'.repeat(129)),
    'provider_id',
  ],
  [
    'provider_id with a slash',
    withField('provider_id', 'model/context'),
    'provider_id',
  ],
  [
    'provider_id with a space',
    withField('provider_id', 'model context'),
    'provider_id',
  ],
  ['provider_id a number', withField('provider_id', 7), 'provider_id'],
  // authorization_headers
  [
    'authorization_headers a string',
    withField('authorization_headers', 'client'),
    'authorization_headers',
  ],
  [
    'authorization_headers an array',
    withField('authorization_headers', ['Authorization']),
    'authorization_headers',
  ],
  [
    'authorization_headers null',
    withField('authorization_headers', null),
    'authorization_headers',
  ],
  [
    'authorization_headers value bearer',
    withField('authorization_headers', { Authorization: 'bearer' }),
    'authorization_headers',
  ],
  [
    'authorization_headers value not a string',
    withField('authorization_headers', { Authorization: true }),
    'authorization_headers',
  ],
  [
    'authorization_headers name with a space',
    withField('authorization_headers', { 'X Token': 'client' }),
    'authorization_headers',
  ],
  [
    'authorization_headers name with a colon',
    withField('authorization_headers', { 'X-Token:': 'client' }),
    'authorization_headers',
  ],
  [
    'authorization_headers empty name',
    withField('authorization_headers', { '': 'client' }),
    'authorization_headers',
  ],
  [
    'authorization_headers named __proto__',
    {
      text: '{"name":"p","url":"http://p.example/mcp","authorization_headers":{"__proto__":"client"}}',
    },
    'authorization_headers',
  ],
  [
    'authorization_headers of 17 entries',
    withField('authorization_headers', authorizationHeaders(17)),
    'authorization_headers',
  ],
  [
    'authorization_headers duplicated case-insensitively',
    withField('authorization_headers', {
      Authorization: 'client',
      authorization: 'oauth',
    }),
    'authorization_headers',
  ],
  // headers
  ['headers a string', withField('headers', 'x-request-id'), 'headers'],
  [
    'headers an object',
    withField('headers', { 'x-request-id': true }),
    'headers',
  ],
  [
    'headers with a non-string item',
    withField('headers', ['x-request-id', 5]),
    'headers',
  ],
  [
    'headers with an invalid name',
    withField('headers', ['x request id']),
    'headers',
  ],
  ['headers with an empty name', withField('headers', ['']), 'headers'],
  [
    'headers duplicated case-insensitively',
    withField('headers', ['X-Request-Id', 'x-request-id']),
    'headers',
  ],
  ['headers of 33 entries', withField('headers', headerNames(33)), 'headers'],
  // timeout
  ['timeout 0', withField('timeout', 0), 'timeout'],
  ['timeout 3601', withField('timeout', 3601), 'timeout'],
  ['timeout 1.5', withField('timeout', 1.5), 'timeout'],
  ['timeout the string "30"', withField('timeout', '30'), 'timeout'],
  ['timeout negative', withField('timeout', -30), 'timeout'],
  ['timeout null', withField('timeout', null), 'timeout'],
  // the body as a whole
  [
    'an unknown top-level field',
    withField('description', 'docs server'),
    'unknown field',
  ],
  [
    'a snake_case field in camelCase',
    withField('providerId', 'model-context-protocol'),
    'unknown field',
  ],
  ['an empty object', json({}), 'name'],
  ['an array', json([VALID]), 'body'],
  ['a JSON string', json('docs'), 'body'],
  ['a JSON number', json(42), 'body'],
  ['JSON null', json(null), 'body'],
  ['invalid JSON text', { text: '{"name": "docs", "url": ' }, 'body'],
];

/** Bodies that are not JSON at all. */
const NOT_JSON_BODIES: Array<[string, BadBody]> = [
  [
    'JSON sent as text/plain',
    { text: JSON.stringify(VALID), contentType: 'text/plain' },
  ],
  ['no body at all', { text: '', contentType: 'text/plain' }],
];

const BAD_PATH_NAMES: Array<[string, string]> = [
  ['a trailing space', 'docs '],
  ['a leading dot', '.docs'],
  ['129 characters', 'a'.repeat(129)],
  ['a control character', 'do\u0001cs'],
  ['a slash', 'team/docs'],
];

/** Paths Express cannot decode; sent as they are. */
const UNDECODABLE_PATH_NAMES = ['%E0%A4%A', '%'];

/** Accepted bodies at the edges of each rule. */
const EDGE_BODIES: Array<[string, Record<string, unknown>]> = [
  ['a name of exactly 128 characters', { ...VALID, name: 'n'.repeat(128) }],
  [
    'a name with inner spaces, dots and colons',
    { ...VALID, name: 'my server:v1.2' },
  ],
  ['a one-character name', { ...VALID, name: 'x' }],
  [
    'a url of exactly 2048 characters',
    { name: 'long-url', url: urlOfLength(2048) },
  ],
  ['timeout 1', { name: 'timeout-1', url: VALID.url, timeout: 1 }],
  ['timeout 3600', { name: 'timeout-3600', url: VALID.url, timeout: 3600 }],
  [
    '16 authorization_headers',
    {
      name: 'auth-16',
      url: VALID.url,
      authorization_headers: authorizationHeaders(16),
    },
  ],
  [
    '32 headers',
    { name: 'headers-32', url: VALID.url, headers: headerNames(32) },
  ],
];

function expectBackstageError(
  res: { status: number; body: any },
  status: number,
) {
  expect(res.status).toBe(status);
  expect(res.body.response).toEqual({ statusCode: status });
  expect(typeof res.body.error?.name).toBe('string');
  expect(typeof res.body.error?.message).toBe('string');
}

/**
 * A body of exactly `bytes` bytes: a valid server padded with an unknown field.
 */
function paddedBody(bytes: number): string {
  const skeleton = JSON.stringify({ ...VALID, padding: '' });
  return JSON.stringify({
    ...VALID,
    padding: 'p'.repeat(bytes - skeleton.length),
  });
}

describe.each(databases.eachSupportedId())(
  'input validation on %s',
  databaseId => {
    let standIn: LlamaStackStandIn;
    let plugin: TestPlugin;

    beforeAll(async () => {
      standIn = await LlamaStackStandIn.start();
      plugin = await startPlugin({
        knex: await databases.init(databaseId),
        llamaStackUrl: standIn.url,
      });
    });

    afterAll(async () => {
      await plugin?.stop();
      await standIn?.stop();
    });

    async function apiServers(): Promise<Array<Record<string, unknown>>> {
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      expect(res.status).toBe(200);
      return res.body.servers.filter(
        (s: { source: string }) => s.source === 'api',
      );
    }

    /**
     * Runs `send` and asserts that it neither called Llama Stack to change
     * anything nor stored a server.
     */
    async function withoutSideEffects<T>(send: () => Promise<T>): Promise<T> {
      const writesBefore = standIn.writeCalls().length;
      const serversBefore = await apiServers();
      const res = await send();
      expect(standIn.writeCalls().slice(writesBefore)).toEqual([]);
      expect(await apiServers()).toEqual(serversBefore);
      return res;
    }

    function post(body: BadBody) {
      return plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .set('content-type', body.contentType ?? 'application/json')
        .send(body.text);
    }

    it.each(BAD_BODIES)(
      'rejects %s with 400 naming the field',
      async (_case, body, field) => {
        const res = await withoutSideEffects(() => post(body));
        expectBackstageError(res, 400);
        expect(res.body.error.name).toBe('InputError');
        // Word boundaries: `headers` must not be satisfied by
        // `authorization_headers`.
        expect(res.body.error.message).toMatch(
          new RegExp(`\\b${field}\\b`, 'i'),
        );
      },
    );

    it.each(NOT_JSON_BODIES)(
      'rejects %s with 400 saying the body must be JSON',
      async (_case, body) => {
        const res = await withoutSideEffects(() => post(body));
        expectBackstageError(res, 400);
        expect(res.body.error.name).toBe('InputError');
        expect(res.body.error.message).toMatch(/\bJSON\b/);
        expect(res.body.error.message).not.toMatch(/'name'/);
      },
    );

    it.each(UNDECODABLE_PATH_NAMES)(
      'rejects DELETE of the undecodable name %s with 400 naming the name',
      async name => {
        const res = await withoutSideEffects(() =>
          plugin.http.delete(`${BASE}/${name}`).set('authorization', asUser),
        );
        expectBackstageError(res, 400);
        expect(res.body.error).toEqual({
          name: 'InputError',
          message: "Invalid MCP server name: 'name' is not valid URL encoding",
        });
      },
    );

    it.each(BAD_PATH_NAMES)(
      'rejects DELETE of a name with %s with 400',
      async (_case, name) => {
        const res = await withoutSideEffects(() =>
          plugin.http
            .delete(`${BASE}/${encodeURIComponent(name)}`)
            .set('authorization', asUser),
        );
        expectBackstageError(res, 400);
        expect(res.body.error.name).toBe('InputError');
        expect(res.body.error.message).toMatch(/\bname\b/);
      },
    );

    it('rejects a body larger than 64 KiB with 413 and stores nothing', async () => {
      const res = await withoutSideEffects(() =>
        post({ text: paddedBody(LIMIT_BYTES + 1) }),
      );
      expectBackstageError(res, 413);
    });

    it('reads a body of exactly 64 KiB (and rejects it for its content, not its size)', async () => {
      const res = await withoutSideEffects(() =>
        post({ text: paddedBody(LIMIT_BYTES) }),
      );
      expectBackstageError(res, 400);
      expect(res.body.error.message).toMatch(/unknown field/);
      expect(res.body.error.message).toMatch(/padding/);
    });

    it('has neither called Llama Stack to change anything nor stored a server after all rejected requests', async () => {
      expect(standIn.writeCalls()).toEqual([]);
      expect(standIn.toolgroups.size).toBe(0);
      expect(await apiServers()).toEqual([]);
    });

    it.each(EDGE_BODIES)('accepts %s and lists it', async (_case, body) => {
      const res = await plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .send(body);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ ...body, source: 'api' });
      expect(await apiServers()).toContainEqual(
        expect.objectContaining({ ...body, source: 'api' }),
      );
      expect(standIn.toolgroups.get(body.name as string)?.mcp_endpoint).toEqual(
        { uri: body.url },
      );
    });

    it('lists every accepted edge case in registration order', async () => {
      expect((await apiServers()).map(s => s.name)).toEqual(
        EDGE_BODIES.map(([, body]) => body.name),
      );
    });
  },
);

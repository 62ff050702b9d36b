import {
  LightspeedStackStandIn,
  LightspeedStackStandInOptions,
} from './lightspeedStackStandIn';

const CONFIG_SERVERS = [
  { name: 'static-docs', url: 'http://docs.example.com/mcp' },
  {
    name: 'static-k8s',
    url: 'https://k8s.example.com/mcp',
    provider_id: 'other-provider',
  },
];

const GITHUB = {
  name: 'github',
  url: 'https://github.example.com/mcp',
  provider_id: 'model-context-protocol',
};

describe('LightspeedStackStandIn', () => {
  let lcs: LightspeedStackStandIn;

  async function startLcs(options: LightspeedStackStandInOptions = {}) {
    lcs = await LightspeedStackStandIn.start({
      configServers: CONFIG_SERVERS,
      ...options,
    });
    return lcs;
  }

  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any }> {
    const response = await fetch(`${lcs.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body:
        body === undefined || typeof body === 'string'
          ? body
          : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  afterEach(async () => {
    await lcs?.stop();
  });

  describe('POST /v1/mcp-servers', () => {
    beforeEach(() => startLcs());

    it('registers a server: 201, listed as api, full record kept', async () => {
      const registered = await call('POST', '/v1/mcp-servers', {
        ...GITHUB,
        authorization_headers: { Authorization: 'client' },
        headers: ['x-rh-identity'],
        timeout: 30,
      });

      expect(registered).toEqual({
        status: 201,
        body: {
          ...GITHUB,
          message: "MCP server 'github' registered successfully",
        },
      });
      expect(lcs.servers.get('github')).toEqual({
        ...GITHUB,
        authorization_headers: { Authorization: 'client' },
        headers: ['x-rh-identity'],
        timeout: 30,
        source: 'api',
      });
      expect(lcs.schemaViolations).toEqual([]);
    });

    it('accepts the optional fields as null or absent (provider_id has a default)', async () => {
      const registered = await call('POST', '/v1/mcp-servers', {
        name: 'minimal',
        url: 'http://minimal.example.com/mcp',
        authorization_headers: null,
        headers: null,
        timeout: null,
      });

      expect(registered.status).toBe(201);
      expect(registered.body.provider_id).toBe('model-context-protocol');
      expect(lcs.servers.get('minimal')).toEqual({
        name: 'minimal',
        url: 'http://minimal.example.com/mcp',
        provider_id: 'model-context-protocol',
        source: 'api',
      });
      expect(lcs.schemaViolations).toEqual([]);
    });

    it.each([
      ['an API server', 'github'],
      ['a config server', 'static-docs'],
    ])('answers 409 for the name of %s', async (_what, name) => {
      await call('POST', '/v1/mcp-servers', GITHUB);

      const again = await call('POST', '/v1/mcp-servers', {
        ...GITHUB,
        name,
        url: 'https://elsewhere.example.com/mcp',
      });

      expect(again).toEqual({
        status: 409,
        body: {
          detail: {
            response: 'Mcp Server already exists',
            cause: `Mcp Server with name '${name}' is already registered`,
          },
        },
      });
      expect(lcs.servers.get(name)?.url).not.toBe(
        'https://elsewhere.example.com/mcp',
      );
    });

    it('answers 422 for an unknown field and records the violation', async () => {
      const refused = await call('POST', '/v1/mcp-servers', {
        ...GITHUB,
        description: 'not a field of LCS',
      });

      expect(refused).toEqual({
        status: 422,
        body: {
          detail: [
            {
              type: 'extra_forbidden',
              loc: ['body', 'description'],
              msg: 'Extra inputs are not permitted',
              input: 'not a field of LCS',
            },
          ],
        },
      });
      expect(lcs.schemaViolations).toEqual([
        'POST /v1/mcp-servers: body.description Extra inputs are not permitted',
      ]);
      expect(lcs.servers.has('github')).toBe(false);
    });

    it.each<[string, unknown, string]>([
      ['no name', { url: GITHUB.url }, 'missing'],
      ['an empty name', { ...GITHUB, name: '' }, 'string_too_short'],
      [
        'a name too long',
        { ...GITHUB, name: 'n'.repeat(257) },
        'string_too_long',
      ],
      ['a number as name', { ...GITHUB, name: 7 }, 'string_type'],
      ['no url', { name: 'x' }, 'missing'],
      ['an empty url', { ...GITHUB, url: '' }, 'value_error'],
      ['an ftp url', { ...GITHUB, url: 'ftp://x.example.com' }, 'value_error'],
      ['provider_id null', { ...GITHUB, provider_id: null }, 'string_type'],
      [
        'authorization_headers as a list',
        { ...GITHUB, authorization_headers: ['client'] },
        'dict_type',
      ],
      [
        'an authorization header that is not a string',
        { ...GITHUB, authorization_headers: { Authorization: 1 } },
        'string_type',
      ],
      [
        'an authorization header with a secret',
        { ...GITHUB, authorization_headers: { Authorization: 'Bearer x' } },
        'value_error',
      ],
      ['headers as a string', { ...GITHUB, headers: 'x-a' }, 'list_type'],
      ['a header that is a number', { ...GITHUB, headers: [1] }, 'string_type'],
      ['timeout 0', { ...GITHUB, timeout: 0 }, 'greater_than'],
      ['timeout -5', { ...GITHUB, timeout: -5 }, 'greater_than'],
      ['timeout 1.5', { ...GITHUB, timeout: 1.5 }, 'int_type'],
      ['timeout "30"', { ...GITHUB, timeout: '30' }, 'int_type'],
      ['a list as body', [GITHUB], 'model_attributes_type'],
      ['no body', undefined, 'missing'],
      ['a body that is not JSON', '{"name": ', 'json_invalid'],
    ])('answers 422 for %s', async (_what, body, type) => {
      const refused = await call('POST', '/v1/mcp-servers', body, {
        'content-type': 'application/json',
      });

      expect(refused.status).toBe(422);
      expect(refused.body.detail.map((d: any) => d.type)).toContain(type);
      expect(lcs.schemaViolations).toHaveLength(1);
      expect(lcs.servers.size).toBe(CONFIG_SERVERS.length);
    });

    it('answers 422 for a JSON body sent as text/plain, as FastAPI does', async () => {
      const refused = await call(
        'POST',
        '/v1/mcp-servers',
        JSON.stringify(GITHUB),
        {
          'content-type': 'text/plain;charset=UTF-8',
        },
      );

      expect(refused.status).toBe(422);
      expect(refused.body.detail[0].type).toBe('model_attributes_type');
      expect(lcs.schemaViolations).toHaveLength(1);
    });
  });

  describe('GET /v1/mcp-servers', () => {
    it('lists config servers first, then API servers in registration order', async () => {
      await startLcs();
      await call('POST', '/v1/mcp-servers', { ...GITHUB, name: 'zeta' });
      lcs.addApiServer({ name: 'alpha', url: 'http://alpha.example.com/mcp' });

      const listed = await call('GET', '/v1/mcp-servers');

      expect(listed).toEqual({
        status: 200,
        body: {
          servers: [
            {
              name: 'static-docs',
              url: 'http://docs.example.com/mcp',
              provider_id: 'model-context-protocol',
              source: 'config',
            },
            {
              name: 'static-k8s',
              url: 'https://k8s.example.com/mcp',
              provider_id: 'other-provider',
              source: 'config',
            },
            { ...GITHUB, name: 'zeta', source: 'api' },
            {
              name: 'alpha',
              url: 'http://alpha.example.com/mcp',
              provider_id: 'model-context-protocol',
              source: 'api',
            },
          ],
        },
      });
    });

    it('lists nothing without config servers', async () => {
      lcs = await LightspeedStackStandIn.start();

      expect(await call('GET', '/v1/mcp-servers')).toEqual({
        status: 200,
        body: { servers: [] },
      });
    });
  });

  describe('DELETE /v1/mcp-servers/{name}', () => {
    const NAME = 'my tools:v1';
    const PATH = `/v1/mcp-servers/${encodeURIComponent(NAME)}`;

    describe("dialect '2026-05' (the default)", () => {
      beforeEach(async () => {
        await startLcs();
        lcs.addApiServer({ name: NAME, url: 'http://tools.example.com/mcp' });
      });

      it('deletes an API server: 200 deleted true', async () => {
        expect(await call('DELETE', PATH)).toEqual({
          status: 200,
          body: {
            name: NAME,
            deleted: true,
            response: 'MCP server deleted successfully',
          },
        });
        expect(lcs.servers.has(NAME)).toBe(false);
      });

      it('answers 200 deleted false for an unknown name', async () => {
        expect(await call('DELETE', '/v1/mcp-servers/nope')).toEqual({
          status: 200,
          body: {
            name: 'nope',
            deleted: false,
            response: 'MCP server not found',
          },
        });
      });

      it('refuses a config server: 403', async () => {
        expect(await call('DELETE', '/v1/mcp-servers/static-docs')).toEqual({
          status: 403,
          body: {
            detail: {
              response: 'Cannot delete statically configured MCP server',
              cause:
                "MCP server 'static-docs' is defined in configuration and cannot be removed via the API.",
            },
          },
        });
        expect(lcs.servers.get('static-docs')?.source).toBe('config');
      });
    });

    describe("dialect 'pr1330'", () => {
      beforeEach(async () => {
        await startLcs({ deleteDialect: 'pr1330' });
        lcs.addApiServer({ name: NAME, url: 'http://tools.example.com/mcp' });
      });

      it('deletes an API server: 200 with a message', async () => {
        expect(await call('DELETE', PATH)).toEqual({
          status: 200,
          body: {
            name: NAME,
            message: `MCP server '${NAME}' unregistered successfully`,
          },
        });
        expect(lcs.servers.has(NAME)).toBe(false);
      });

      it('answers 404 for an unknown name', async () => {
        const answer = await call('DELETE', '/v1/mcp-servers/nope');

        expect(answer.status).toBe(404);
        expect(answer.body.detail).toEqual({
          response: 'Mcp Server not found',
          cause: 'Mcp Server with ID nope does not exist',
        });
      });

      it('refuses a config server: 403', async () => {
        const answer = await call('DELETE', '/v1/mcp-servers/static-k8s');

        expect(answer.status).toBe(403);
        expect(lcs.servers.has('static-k8s')).toBe(true);
      });
    });
  });

  describe('other routes', () => {
    beforeEach(() => startLcs());

    it.each([
      ['GET', '/v1/toolgroups', 404, 'Not Found'],
      ['GET', '/', 404, 'Not Found'],
      ['DELETE', '/v1/mcp-servers/a%2Fb', 404, 'Not Found'],
      ['PUT', '/v1/mcp-servers', 405, 'Method Not Allowed'],
      ['GET', '/v1/mcp-servers/static-docs', 405, 'Method Not Allowed'],
    ])('%s %s answers %i', async (method, path, status, detail) => {
      expect(await call(method, path)).toEqual({ status, body: { detail } });
    });
  });

  describe('token', () => {
    it('wants Authorization: Bearer <token> on every call, else 401', async () => {
      await startLcs({ token: 'secret' });

      const missing = await call('GET', '/v1/mcp-servers');
      const notBearer = await call('GET', '/v1/mcp-servers', undefined, {
        authorization: 'Basic c2VjcmV0',
      });
      const wrong = await call('POST', '/v1/mcp-servers', GITHUB, {
        authorization: 'Bearer other',
      });
      const right = await call('GET', '/v1/mcp-servers', undefined, {
        authorization: 'Bearer secret',
      });

      for (const refused of [missing, notBearer, wrong]) {
        expect(refused.status).toBe(401);
        expect(typeof refused.body.detail).toBe('string');
      }
      expect(lcs.servers.has('github')).toBe(false);
      expect(right.status).toBe(200);
      expect(lcs.calls.map(c => c.authorization)).toEqual([
        undefined,
        'Basic c2VjcmV0',
        'Bearer other',
        'Bearer secret',
      ]);
    });

    it('answers 403 to a token it does not accept when told to', async () => {
      await startLcs({ token: 'secret', authFailureStatus: 403 });

      const wrong = await call('GET', '/v1/mcp-servers', undefined, {
        authorization: 'Bearer other',
      });
      const missing = await call('GET', '/v1/mcp-servers');

      expect(wrong.status).toBe(403);
      expect(typeof wrong.body.detail).toBe('string');
      expect(missing.status).toBe(401);
    });

    it('checks the token before the body (no violation for a refused call)', async () => {
      await startLcs({ token: 'secret' });

      const refused = await call('POST', '/v1/mcp-servers', { bogus: true });

      expect(refused.status).toBe(401);
      expect(lcs.schemaViolations).toEqual([]);
    });
  });

  describe('restart and stop', () => {
    beforeEach(async () => {
      await startLcs();
      await call('POST', '/v1/mcp-servers', GITHUB);
    });

    it('forgets every API server and keeps the config servers', async () => {
      const url = lcs.url;

      await lcs.restart();

      expect(lcs.url).toBe(url);
      const listed = await call('GET', '/v1/mcp-servers');
      expect(listed.body.servers.map((s: any) => s.name)).toEqual([
        'static-docs',
        'static-k8s',
      ]);
      expect([...lcs.servers.keys()]).toEqual(['static-docs', 'static-k8s']);
    });

    it('keeps API servers when told to', async () => {
      await lcs.restart({ keepApiServers: true });

      expect(lcs.servers.get('github')?.source).toBe('api');
      expect(
        (await call('DELETE', '/v1/mcp-servers/github')).body.deleted,
      ).toBe(true);
    });

    it('reloads config servers a test changed', async () => {
      lcs.servers.delete('static-docs');

      await lcs.restart();

      expect([...lcs.servers.keys()]).toEqual(['static-docs', 'static-k8s']);
    });

    it('refuses connections after stop() and comes back on the same port', async () => {
      const url = lcs.url;
      await lcs.stop();

      await expect(fetch(`${url}/v1/mcp-servers`)).rejects.toThrow();

      await lcs.restart();
      expect(lcs.url).toBe(url);
      expect((await call('GET', '/v1/mcp-servers')).status).toBe(200);
      expect(lcs.servers.has('github')).toBe(false);
    });
  });

  describe('addApiServer', () => {
    beforeEach(() => startLcs());

    it('adds a deletable API server with the default provider', async () => {
      lcs.addApiServer({
        name: 'foreign',
        url: 'http://foreign.example.com/mcp',
        headers: ['x-a'],
      });

      expect(lcs.servers.get('foreign')).toEqual({
        name: 'foreign',
        url: 'http://foreign.example.com/mcp',
        provider_id: 'model-context-protocol',
        headers: ['x-a'],
        source: 'api',
      });
      expect(
        (await call('POST', '/v1/mcp-servers', { ...GITHUB, name: 'foreign' }))
          .status,
      ).toBe(409);
      expect(
        (await call('DELETE', '/v1/mcp-servers/foreign')).body.deleted,
      ).toBe(true);
    });

    it('refuses the name of a config server', () => {
      expect(() =>
        lcs.addApiServer({ name: 'static-docs', url: 'http://x.example.com' }),
      ).toThrow(/config server/);
    });
  });

  describe('faults', () => {
    beforeEach(() => startLcs());

    it('answers an injected status with an LCS error body, then recovers', async () => {
      lcs.inject(
        { status: 503, message: 'Unable to connect to Llama Stack' },
        { method: 'POST', times: 1 },
      );

      const listed = await call('GET', '/v1/mcp-servers');
      const failed = await call('POST', '/v1/mcp-servers', GITHUB);
      const retried = await call('POST', '/v1/mcp-servers', GITHUB);

      expect(listed.status).toBe(200);
      expect(failed.status).toBe(503);
      expect(failed.body.detail.response).toBe(
        'Unable to connect to Llama Stack',
      );
      expect(retried.status).toBe(201);
      expect(lcs.writeCalls()).toEqual([
        'POST /v1/mcp-servers',
        'POST /v1/mcp-servers',
      ]);
    });

    it('fails every call until clearFaults()', async () => {
      lcs.inject({ status: 500 });

      expect((await call('GET', '/v1/mcp-servers')).status).toBe(500);
      expect((await call('DELETE', '/v1/mcp-servers/x')).status).toBe(500);
      expect(lcs.servers.size).toBe(CONFIG_SERVERS.length);

      lcs.clearFaults();
      expect((await call('GET', '/v1/mcp-servers')).status).toBe(200);
    });

    it('delays an answer', async () => {
      lcs.inject({ delayMs: 200 }, { times: 1 });

      const started = Date.now();
      const answer = await call('GET', '/v1/mcp-servers');

      expect(answer.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    });

    it('hangs until the client gives up', async () => {
      lcs.inject({ hang: true }, { method: 'DELETE' });

      await expect(
        fetch(`${lcs.url}/v1/mcp-servers/x`, {
          method: 'DELETE',
          signal: AbortSignal.timeout(200),
        }),
      ).rejects.toThrow();
      expect((await call('GET', '/v1/mcp-servers')).status).toBe(200);
    });
  });
});

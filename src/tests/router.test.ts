import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { spec } from '../schema/openapi.generated';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  USER,
  usePluginFixture,
} from '../testing/testBackend';

const databases = createTestDatabases();

/** Text the stand-in puts in its error bodies; it must never reach a caller. */
const UPSTREAM_TEXT =
  'UPSTREAM-INTERNAL-DETAIL at llama-stack.internal.example:8321';

const STATIC_SERVERS = [
  { name: 'docs', url: 'https://docs.example.com/mcp' },
  {
    name: 'jira',
    url: 'https://jira.example.com/mcp',
    providerId: 'model-context-protocol',
    timeout: 20,
  },
];

describe.each(databases.eachSupportedId())(
  'MCP server routes on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);
    const start = env.start;

    async function listed(plugin: TestPlugin): Promise<string[]> {
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      expect(res.status).toBe(200);
      return res.body.servers.map(
        (s: { name: string; source: string }) => `${s.source}:${s.name}`,
      );
    }

    function register(plugin: TestPlugin, body: object) {
      return plugin.http.post(BASE).set('authorization', asUser).send(body);
    }

    function unregister(plugin: TestPlugin, name: string) {
      return plugin.http
        .delete(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', asUser);
    }

    describe('register', () => {
      it('stores the server with every field, registers the toolgroup and answers 201', async () => {
        const plugin = await start();
        const body = {
          name: 'team tools:v1',
          url: 'https://mcp.example.com/mcp?x=1',
          provider_id: 'model-context-protocol',
          authorization_headers: {
            Authorization: 'client',
            'X-Kube': 'kubernetes',
          },
          headers: ['x-request-id', 'x-tenant'],
          timeout: 45,
        };

        const res = await register(plugin, body);

        expect(res.status).toBe(201);
        expect(res.body).toEqual({
          ...body,
          source: 'api',
          status: 'registered',
          created_by: USER,
          created_at: expect.any(String),
          message: "MCP server 'team tools:v1' registered successfully",
        });
        expect(env.standIn.toolgroups.get('team tools:v1')).toMatchObject({
          provider_id: 'model-context-protocol',
          mcp_endpoint: { uri: 'https://mcp.example.com/mcp?x=1' },
        });
        const list = await plugin.http.get(BASE).set('authorization', asUser);
        const { message: _message, ...entry } = res.body;
        expect(list.body.servers).toEqual([entry]);
      });

      it('applies the default provider and records a service caller as creator', async () => {
        await env.replaceStandIn({ providers: ['custom-mcp'] });
        const plugin = await start({
          config: { defaultProviderId: 'custom-mcp' },
        });

        const res = await plugin.http
          .post(BASE)
          .set('authorization', mockCredentials.service.header())
          .send({ name: 'svc', url: 'http://127.0.0.1:9/mcp' });

        expect(res.status).toBe(201);
        expect(res.body).toMatchObject({
          provider_id: 'custom-mcp',
          created_by: 'external:test-service',
        });
        expect(env.standIn.toolgroups.get('svc')?.provider_id).toBe(
          'custom-mcp',
        );
      });

      it.each([
        ['a dynamic server', 'mine'],
        ['a config server', 'docs'],
      ])(
        'refuses the name of %s with 409 without calling Llama Stack',
        async (_, name) => {
          const plugin = await start({
            config: { mcpServers: STATIC_SERVERS },
          });
          if (name === 'mine') {
            expect(
              (await register(plugin, { name, url: 'http://a.example/mcp' }))
                .status,
            ).toBe(201);
          }
          const before = env.standIn.writeCalls().length;

          const res = await register(plugin, {
            name,
            url: 'http://b.example/mcp',
          });

          expect(res.status).toBe(409);
          expect(res.body.error).toEqual({
            name: 'ConflictError',
            message: `MCP server '${name}' already exists`,
          });
          expect(env.standIn.writeCalls().length).toBe(before);
        },
      );

      it.each([
        ['refuses connections', async (s: LlamaStackStandIn) => s.stop(), 503],
        [
          'does not answer in time',
          async (s: LlamaStackStandIn) => s.inject({ hang: true }),
          503,
        ],
        [
          'answers 500',
          async (s: LlamaStackStandIn) =>
            s.inject({ status: 500, message: UPSTREAM_TEXT }),
          503,
        ],
        [
          'answers 503',
          async (s: LlamaStackStandIn) =>
            s.inject({ status: 503, message: UPSTREAM_TEXT }),
          503,
        ],
        [
          'answers 422',
          async (s: LlamaStackStandIn) =>
            s.inject({ status: 422, message: UPSTREAM_TEXT }),
          502,
        ],
        [
          'answers 401',
          async (s: LlamaStackStandIn) =>
            s.inject({ status: 401, message: UPSTREAM_TEXT }),
          502,
        ],
      ])('rolls back when Llama Stack %s', async (_, fail, status) => {
        const plugin = await start();
        await fail(env.standIn);

        const started = Date.now();
        const res = await register(plugin, {
          name: 'flaky',
          url: 'http://flaky.example/mcp',
        });

        expect(res.status).toBe(status);
        expect(res.body.response).toEqual({ statusCode: status });
        expect(res.body.error.message).toMatch(
          /^Llama Stack (is unavailable|rejected the registration); MCP server 'flaky' was not registered$/,
        );
        expect(JSON.stringify(res.body)).not.toContain('UPSTREAM-INTERNAL');
        // The configured per-call timeout is 1.5 s; nobody waits much longer
        // than that.
        expect(Date.now() - started).toBeLessThan(4000);
        expect(await listed(plugin)).toEqual([]);
        expect(env.logs.text()).toContain(
          "Could not register MCP server 'flaky' in Llama Stack",
        );
      });

      it('answers 409 and rolls back when Llama Stack holds a different toolgroup of that id', async () => {
        const plugin = await start();
        env.standIn.addToolgroup('taken', 'http://someone-else.example/mcp');

        const res = await register(plugin, {
          name: 'taken',
          url: 'http://mine.example/mcp',
        });

        expect(res.status).toBe(409);
        expect(res.body.error.message).toBe(
          "Llama Stack already holds a different toolgroup named 'taken'; MCP server 'taken' was not registered",
        );
        expect(await listed(plugin)).toEqual([]);
        expect(env.standIn.toolgroups.get('taken')?.mcp_endpoint).toEqual({
          uri: 'http://someone-else.example/mcp',
        });
      });

      it('answers 502 and rolls back when Llama Stack does not know the provider', async () => {
        const plugin = await start();
        const res = await register(plugin, {
          name: 'p',
          url: 'http://p.example/mcp',
          provider_id: 'nope',
        });
        expect(res.status).toBe(502);
        expect(res.body.error.name).toBe('BadGatewayError');
        expect(JSON.stringify(res.body)).not.toContain(
          "Provider 'nope' not found",
        );
        expect(await listed(plugin)).toEqual([]);
      });

      it('says Llama Stack has no toolgroups API and stores nothing (toolgroups mode enabled)', async () => {
        const plugin = await start({
          config: { llamaStack: { toolgroups: 'enabled' } },
        });
        env.standIn.toolgroupsApi = false;

        const res = await register(plugin, {
          name: 'new',
          url: 'http://new.example/mcp',
        });

        expect(res.status).toBe(502);
        expect(res.body.error.message).toContain(
          'Llama Stack has no toolgroups API',
        );
        expect(await listed(plugin)).toEqual([]);
        expect(env.logs.text()).toContain('has no toolgroups API');
      });

      it('undoes the toolgroup when the server is deleted while Llama Stack is registering it', async () => {
        const plugin = await start();
        env.standIn.inject({ delayMs: 600 }, { method: 'POST', times: 1 });

        // supertest sends on then(), so start the request now.
        const registering = register(plugin, {
          name: 'racy',
          url: 'http://racy.example/mcp',
        }).then(res => res);
        await waitFor(() => env.standIn.calls.some(c => c.method === 'POST'));
        const deleted = await unregister(plugin, 'racy');
        const registered = await registering;

        expect(deleted.status).toBe(200);
        expect(registered.status).toBe(409);
        expect(await listed(plugin)).toEqual([]);
        expect(env.standIn.toolgroups.has('racy')).toBe(false);
      });
    });

    describe('list', () => {
      it('answers an empty list', async () => {
        const plugin = await start();
        const res = await plugin.http.get(BASE).set('authorization', asUser);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ servers: [] });
      });

      it('lists config servers first in config order, then API servers in registration order', async () => {
        const plugin = await start({ config: { mcpServers: STATIC_SERVERS } });
        for (const name of ['zeta', 'alpha', 'mid']) {
          expect(
            (
              await register(plugin, {
                name,
                url: `http://${name}.example/mcp`,
              })
            ).status,
          ).toBe(201);
        }

        const res = await plugin.http.get(BASE).set('authorization', asUser);

        expect(
          res.body.servers.map(
            (s: { name: string; source: string }) => `${s.source}:${s.name}`,
          ),
        ).toEqual([
          'config:docs',
          'config:jira',
          'api:zeta',
          'api:alpha',
          'api:mid',
        ]);
        expect(res.body.servers[1]).toEqual({
          name: 'jira',
          url: 'https://jira.example.com/mcp',
          provider_id: 'model-context-protocol',
          source: 'config',
          status: 'registered',
          timeout: 20,
        });
      });

      it('works while Llama Stack is down', async () => {
        const plugin = await start({ config: { mcpServers: STATIC_SERVERS } });
        await register(plugin, { name: 'a', url: 'http://a.example/mcp' });
        await env.standIn.stop();
        expect(await listed(plugin)).toEqual([
          'config:docs',
          'config:jira',
          'api:a',
        ]);
      });

      it('sends the Llama Stack token but never shows or env.logs it', async () => {
        await env.replaceStandIn({ token: 'TOKEN-VALUE-1234' });
        const plugin = await start({
          config: { llamaStack: { token: 'TOKEN-VALUE-1234' } },
        });
        expect(
          (await register(plugin, { name: 'a', url: 'http://a.example/mcp' }))
            .status,
        ).toBe(201);
        env.standIn.inject({ status: 500 });

        const failed = await register(plugin, {
          name: 'b',
          url: 'http://b.example/mcp',
        });
        const list = await plugin.http.get(BASE).set('authorization', asUser);

        expect(failed.status).toBe(503);
        expect(env.standIn.calls.filter(c => c.method === 'POST')).toHaveLength(
          2,
        );
        expect(new Set(env.standIn.calls.map(c => c.authorization))).toEqual(
          new Set(['Bearer TOKEN-VALUE-1234']),
        );
        expect(JSON.stringify([failed.body, list.body])).not.toContain(
          'TOKEN-VALUE',
        );
        expect(env.logs.text()).not.toContain('TOKEN-VALUE');
      });
    });

    describe('delete', () => {
      it('unregisters the toolgroup by its encoded id and removes the server', async () => {
        const plugin = await start();
        const name = 'team a:tools.v2';
        await register(plugin, { name, url: 'http://t.example/mcp' });

        const res = await unregister(plugin, name);

        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          name,
          message: `MCP server '${name}' unregistered successfully`,
        });
        expect(env.standIn.writeCalls()).toContain(
          'DELETE /v1/toolgroups/team%20a%3Atools.v2',
        );
        expect(env.standIn.toolgroups.has(name)).toBe(false);
        expect(await listed(plugin)).toEqual([]);
      });

      it('refuses to delete a config server with 403 without calling Llama Stack', async () => {
        const plugin = await start({ config: { mcpServers: STATIC_SERVERS } });
        const res = await unregister(plugin, 'docs');
        expect(res.status).toBe(403);
        expect(res.body.error.name).toBe('NotAllowedError');
        expect(
          env.standIn.writeCalls().filter(c => c.startsWith('DELETE')),
        ).toEqual([]);
        expect(await listed(plugin)).toContain('config:docs');
      });

      it('answers 404 for a name that is not registered', async () => {
        const plugin = await start();
        const res = await unregister(plugin, 'ghost');
        expect(res.status).toBe(404);
        expect(res.body.error).toEqual({
          name: 'NotFoundError',
          message: "MCP server 'ghost' is not registered",
        });
        expect(env.standIn.writeCalls()).toEqual([]);
      });

      it('counts a toolgroup already gone from Llama Stack as success', async () => {
        const plugin = await start();
        await register(plugin, { name: 'gone', url: 'http://g.example/mcp' });
        env.standIn.toolgroups.clear();

        const res = await unregister(plugin, 'gone');

        expect(res.status).toBe(200);
        expect(await listed(plugin)).toEqual([]);
      });

      it('keeps the server when Llama Stack fails, and a retry succeeds', async () => {
        const plugin = await start();
        await register(plugin, { name: 'keep', url: 'http://k.example/mcp' });
        env.standIn.inject(
          { status: 500, message: UPSTREAM_TEXT },
          { method: 'DELETE', times: 1 },
        );

        const failed = await unregister(plugin, 'keep');

        expect(failed.status).toBe(503);
        expect(failed.body.error.message).toBe(
          "Llama Stack is unavailable; MCP server 'keep' was not unregistered, try again later",
        );
        expect(JSON.stringify(failed.body)).not.toContain('UPSTREAM-INTERNAL');
        expect(await listed(plugin)).toEqual(['api:keep']);
        expect(env.standIn.toolgroups.has('keep')).toBe(true);

        const retried = await unregister(plugin, 'keep');
        expect(retried.status).toBe(200);
        expect(await listed(plugin)).toEqual([]);
        expect(env.standIn.toolgroups.has('keep')).toBe(false);
      });

      it('never reports a false success when Llama Stack has no toolgroups API (toolgroups mode enabled)', async () => {
        const plugin = await start({
          config: { llamaStack: { toolgroups: 'enabled' } },
        });
        await register(plugin, { name: 'stay', url: 'http://s.example/mcp' });
        env.standIn.toolgroupsApi = false;

        const res = await unregister(plugin, 'stay');

        expect(res.status).toBe(503);
        expect(res.body.error.message).toContain(
          'Llama Stack has no toolgroups API',
        );
        expect(await listed(plugin)).toEqual(['api:stay']);
      });
    });

    describe('API document', () => {
      it('serves the OpenAPI document to anyone, without a token', async () => {
        const plugin = await start();

        const res = await plugin.http.get('/api/lightspeed-mcp/openapi.json');

        expect(res.status).toBe(200);
        expect(res.body).toEqual(spec);
      });
    });

    describe('authentication and permissions', () => {
      it.each([
        ['POST', BASE],
        ['GET', BASE],
        ['DELETE', `${BASE}/anything`],
      ])('%s %s answers 401 without credentials', async (method, path) => {
        const plugin = await start();
        const res = await plugin.http[method.toLowerCase() as 'get'](path).send(
          method === 'POST'
            ? { name: 'x', url: 'http://x.example/mcp' }
            : undefined,
        );
        expect(res.status).toBe(401);
        expect(env.standIn.writeCalls()).toEqual([]);
      });

      it('answers 403 on every route when denied, and changes nothing', async () => {
        const allowed = await start();
        await register(allowed, {
          name: 'existing',
          url: 'http://e.example/mcp',
        });
        const writesBefore = env.standIn.writeCalls().length;
        const denied = await start({ permission: AuthorizeResult.DENY });

        const post = await register(denied, {
          name: 'new',
          url: 'http://n.example/mcp',
        });
        const get = await denied.http.get(BASE).set('authorization', asUser);
        const del = await unregister(denied, 'existing');

        for (const [res, permission] of [
          [post, 'lightspeed.mcp-server.register'],
          [get, 'lightspeed.mcp-server.list'],
          [del, 'lightspeed.mcp-server.delete'],
        ] as const) {
          expect(res.status).toBe(403);
          expect(res.body.error).toEqual({
            name: 'NotAllowedError',
            message: `Permission '${permission}' is not granted`,
          });
        }
        expect(env.standIn.writeCalls().length).toBe(writesBefore);
        expect(await listed(allowed)).toEqual(['api:existing']);
      });

      it('publishes the four permissions in the metadata endpoint', async () => {
        const plugin = await start();
        const res = await plugin.http
          .get('/api/lightspeed-mcp/.well-known/backstage/permissions/metadata')
          .set('authorization', mockCredentials.service.header());
        expect(res.status).toBe(200);
        expect(res.body.permissions).toEqual([
          {
            type: 'basic',
            name: 'lightspeed.mcp-server.register',
            attributes: { action: 'create' },
          },
          {
            type: 'resource',
            name: 'lightspeed.mcp-server.list',
            attributes: { action: 'read' },
            resourceType: 'lightspeed-mcp-server',
          },
          {
            type: 'resource',
            name: 'lightspeed.mcp-server.update',
            attributes: { action: 'update' },
            resourceType: 'lightspeed-mcp-server',
          },
          {
            type: 'resource',
            name: 'lightspeed.mcp-server.delete',
            attributes: { action: 'delete' },
            resourceType: 'lightspeed-mcp-server',
          },
        ]);
      });
    });

    describe('persistence and config servers', () => {
      it('keeps registered servers across a restart of the backend', async () => {
        const first = await start();
        await register(first, {
          name: 'durable',
          url: 'http://d.example/mcp',
          timeout: 7,
        });
        await env.stop(first);

        const second = await start();
        const res = await second.http.get(BASE).set('authorization', asUser);

        expect(res.body.servers).toEqual([
          expect.objectContaining({
            name: 'durable',
            timeout: 7,
            created_by: USER,
          }),
        ]);
      });

      it('registers config servers missing from Llama Stack at startup, and leaves present ones alone', async () => {
        env.standIn.addToolgroup('docs', 'https://docs.example.com/mcp');
        await start({ config: { mcpServers: STATIC_SERVERS } });

        await waitFor(() => env.standIn.toolgroups.has('jira'));
        expect(env.standIn.writeCalls()).toEqual(['POST /v1/toolgroups']);
        expect(env.standIn.toolgroups.get('jira')?.mcp_endpoint).toEqual({
          uri: 'https://jira.example.com/mcp',
        });
      });

      it('starts with Llama Stack down, lists config servers and env.logs one warning', async () => {
        await env.standIn.stop();
        const plugin = await start({ config: { mcpServers: STATIC_SERVERS } });

        await waitFor(() => env.logs.lines.some(l => l.level === 'warn'));
        expect(await listed(plugin)).toEqual(['config:docs', 'config:jira']);
        const warnings = env.logs.lines
          .filter(l => l.level === 'warn')
          .map(l => l.message);
        expect(warnings).toEqual([
          expect.stringContaining(
            'Could not reach Llama Stack to sync MCP servers (2 from app-config)',
          ),
        ]);
      });

      it('refuses to start with an invalid config server, naming the entry', async () => {
        await expect(
          start({
            config: {
              mcpServers: [
                STATIC_SERVERS[0],
                { name: 'bad', url: 'not a url' },
              ],
            },
          }),
        ).rejects.toThrow(/lightspeedMcp\.mcpServers\[1\].*'url'/);
      });
    });
  },
);

/** Polls a condition every 20 ms, for at most 5 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (condition()) {
      return;
    }
    await new Promise(resolve => setTimeout(resolve, 20));
  }
  throw new Error('condition not met within 5 s');
}

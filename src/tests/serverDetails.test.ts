import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  usePluginFixture,
} from '../testing/testBackend';

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'one server and its tools on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);

    function get(plugin: TestPlugin, path: string) {
      return plugin.http.get(`${BASE}/${path}`).set('authorization', asUser);
    }

    async function startWithServer(
      options: Parameters<typeof env.start>[0] = {},
    ) {
      const plugin = await env.start({
        config: {
          mcpServers: [
            { name: 'static', url: 'https://static.example.com/mcp' },
          ],
        },
        ...options,
      });
      const res = await plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .send({
          name: 'team tools',
          url: 'http://127.0.0.1:9001/mcp',
          headers: ['x-request-id'],
        });
      expect(res.status).toBe(201);
      return plugin;
    }

    describe('GET /v1/mcp-servers/{name}', () => {
      it('answers a server with the fields of its list entry, API and config alike', async () => {
        const plugin = await startWithServer();
        const list = await plugin.http.get(BASE).set('authorization', asUser);

        const api = await get(plugin, 'team%20tools');
        const config = await get(plugin, 'static');

        expect(api.status).toBe(200);
        expect([config.body, api.body]).toEqual(list.body.servers);
        expect(api.body).toMatchObject({
          name: 'team tools',
          source: 'api',
          headers: ['x-request-id'],
        });
      });

      it('answers 404 for an unknown name and 400 for an invalid one', async () => {
        const plugin = await startWithServer();
        expect((await get(plugin, 'nope')).body.error).toEqual({
          name: 'NotFoundError',
          message: "MCP server 'nope' is not registered",
        });
        expect((await get(plugin, '%20lead')).status).toBe(400);
      });

      it('answers 403 without the list permission', async () => {
        await startWithServer();
        const denied = await env.start({ permission: AuthorizeResult.DENY });
        expect((await get(denied, 'static')).status).toBe(403);
      });
    });

    describe('GET /v1/mcp-servers/{name}/tools', () => {
      it('answers the tools Llama Stack lists for the toolgroup', async () => {
        const plugin = await startWithServer();
        env.standIn.tools.set('team tools', [
          { name: 'search', description: 'Searches' },
          { name: 'fetch', description: null },
        ]);
        env.standIn.tools.set('static', [{ name: 'other' }]);

        const res = await get(plugin, 'team%20tools/tools');

        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          tools: [
            { name: 'search', description: 'Searches' },
            { name: 'fetch' },
          ],
        });
        expect(
          env.standIn.calls.map(call => `${call.method} ${call.path}`),
        ).toContain('GET /v1/tools?toolgroup_id=team%20tools');
      });

      it.each([
        [
          'is down',
          async () => env.standIn.stop(),
          503,
          "Llama Stack is unavailable; the tools of MCP server 'team tools' were not listed",
        ],
        [
          'answers 500',
          async () =>
            env.standIn.inject(
              { status: 500, message: 'UPSTREAM-DETAIL' },
              { method: 'GET' },
            ),
          503,
          "Llama Stack is unavailable; the tools of MCP server 'team tools' were not listed",
        ],
        [
          'does not hold the toolgroup',
          async () => env.standIn.toolgroups.delete('team tools'),
          409,
          "Llama Stack holds no toolgroup for MCP server 'team tools' yet; its status says why",
        ],
      ])(
        'answers with a fixed message when Llama Stack %s',
        async (_case, fault, status, message) => {
          const plugin = await startWithServer();
          await fault();

          const res = await get(plugin, 'team%20tools/tools');

          expect(res.status).toBe(status);
          expect(res.body.error.message).toBe(message);
        },
      );

      it('says where to look instead when Llama Stack has no toolgroups API (0.7 and later)', async () => {
        await env.replaceStandIn({ toolgroupsApi: false });
        const plugin = await startWithServer();

        const res = await get(plugin, 'team%20tools/tools');

        expect(res.status).toBe(409);
        expect(res.body.error.message).toMatch(
          /^Llama Stack does not hold toolgroups .*; POST \/v1\/mcp-servers\/team%20tools\/check lists the tools of the server itself$/,
        );
      });

      it('answers 404 for an unknown server and 403 without the list permission, asking Llama Stack nothing', async () => {
        const plugin = await startWithServer();
        const denied = await env.start({ permission: AuthorizeResult.DENY });
        env.standIn.calls.length = 0;

        expect((await get(plugin, 'nope/tools')).status).toBe(404);
        expect((await get(denied, 'team%20tools/tools')).status).toBe(403);
        expect(
          env.standIn.calls.filter(call => call.path.startsWith('/v1/tools')),
        ).toEqual([]);
      });
    });
  },
);

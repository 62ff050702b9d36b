import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { fakeDns } from '../testing/fakeDns';
import { freePort } from '../testing/localResources';
import {
  McpTestServer,
  McpTestServerOptions,
  startMcpTestServer,
} from '../testing/mcpTestServers';
import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  usePluginFixture,
} from '../testing/testBackend';

const databases = createTestDatabases();

const ALWAYS_REFUSED =
  'its address is in a range that is always refused (link-local and cloud metadata addresses)';

describe.each(databases.eachSupportedId())(
  'connection checks and the URL policy on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);
    const mcpServers: McpTestServer[] = [];

    afterEach(async () => {
      jest.restoreAllMocks();
      await Promise.all(mcpServers.splice(0).map(server => server.stop()));
    });

    async function mcpServer(options: McpTestServerOptions) {
      const server = await startMcpTestServer(options);
      mcpServers.push(server);
      return server;
    }

    function register(plugin: TestPlugin, body: object) {
      return plugin.http.post(BASE).set('authorization', asUser).send(body);
    }

    function check(plugin: TestPlugin, name: string) {
      return plugin.http
        .post(`${BASE}/${encodeURIComponent(name)}/check`)
        .set('authorization', asUser);
    }

    async function entry(plugin: TestPlugin, name: string) {
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      return res.body.servers.find(
        (server: { name: string }) => server.name === name,
      );
    }

    it('checks a registered server, keeps the result, and shows it in the list and by name', async () => {
      const server = await mcpServer({
        transport: 'streamable-http',
        tools: [{ name: 'search', description: 'Searches' }],
      });
      const plugin = await env.start();
      expect(
        (await register(plugin, { name: 'docs', url: server.url })).status,
      ).toBe(201);
      expect((await entry(plugin, 'docs')).last_check).toBeUndefined();

      const res = await check(plugin, 'docs');

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'ok',
        tool_count: 1,
        tools: [{ name: 'search', description: 'Searches' }],
        checked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        message: 'Connected; the server offers 1 tool',
      });
      const { tools: _tools, ...lastCheck } = res.body;
      expect((await entry(plugin, 'docs')).last_check).toEqual(lastCheck);
      const byName = await plugin.http
        .get(`${BASE}/docs`)
        .set('authorization', asUser);
      expect(byName.body.last_check).toEqual(lastCheck);
    });

    it('stores the latest result: auth_required after a server starts asking for a token', async () => {
      const open = await mcpServer({ transport: 'streamable-http' });
      const plugin = await env.start();
      await register(plugin, { name: 'docs', url: open.url });
      expect((await check(plugin, 'docs')).body.status).toBe('ok');

      await open.stop();
      mcpServers.splice(mcpServers.indexOf(open), 1);
      const guarded = await mcpServer({
        transport: 'streamable-http',
        bearerToken: 'secret',
      });
      await plugin.http
        .patch(`${BASE}/docs`)
        .set('authorization', asUser)
        .send({ url: guarded.url });
      const res = await check(plugin, 'docs');

      expect(res.body).toMatchObject({
        status: 'auth_required',
        tool_count: null,
        tools: [],
      });
      expect((await entry(plugin, 'docs')).last_check).toMatchObject({
        status: 'auth_required',
        message: 'The MCP server requires authorization (HTTP 401)',
      });
    });

    it('reports unreachable for a server that hangs, within the configured time limit', async () => {
      const server = await mcpServer({
        transport: 'streamable-http',
        hang: true,
      });
      const plugin = await env.start({
        config: { check: { timeout: { milliseconds: 300 } } },
      });
      await register(plugin, { name: 'slow', url: server.url });

      const res = await check(plugin, 'slow');

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'unreachable',
        message: 'The MCP server did not answer within 0.3 seconds',
      });
    });

    it('checks a config server too', async () => {
      const server = await mcpServer({ transport: 'sse' });
      const plugin = await env.start({
        config: { mcpServers: [{ name: 'legacy', url: server.url }] },
      });

      const res = await check(plugin, 'legacy');

      expect(res.body).toMatchObject({ status: 'ok', tool_count: 1 });
      expect(await entry(plugin, 'legacy')).toMatchObject({
        source: 'config',
        last_check: { status: 'ok' },
      });
    });

    it('answers 404 for an unknown server, connecting nowhere', async () => {
      const plugin = await env.start();
      const res = await check(plugin, 'nope');
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe(
        "MCP server 'nope' is not registered",
      );
    });

    it('refuses to connect when the host name resolves to the metadata address by the time of the check', async () => {
      const server = await mcpServer({ transport: 'streamable-http' });
      const port = new URL(server.url).port;
      const plugin = await env.start();
      fakeDns({ 'mcp.rebind.test': ['127.0.0.1'] });
      expect(
        (
          await register(plugin, {
            name: 'rebind',
            url: `http://mcp.rebind.test:${port}/mcp`,
          })
        ).status,
      ).toBe(201);

      jest.restoreAllMocks();
      fakeDns({ 'mcp.rebind.test': ['169.254.169.254'] });
      const res = await check(plugin, 'rebind');

      expect(res.body).toMatchObject({
        status: 'error',
        message: `The URL policy refuses a connection to mcp.rebind.test: ${ALWAYS_REFUSED}`,
      });
      expect(server.requests).toEqual([]);
    });

    describe('register with "check": true', () => {
      it('runs the check first and shows its result on the new server', async () => {
        const server = await mcpServer({ transport: 'streamable-http' });
        const plugin = await env.start();

        const res = await register(plugin, {
          name: 'docs',
          url: server.url,
          check: true,
        });

        expect(res.status).toBe(201);
        expect(res.body).toMatchObject({
          name: 'docs',
          last_check: { status: 'ok', tool_count: 1 },
        });
        expect(res.body).not.toHaveProperty('check');
        expect((await entry(plugin, 'docs')).last_check).toEqual(
          res.body.last_check,
        );
      });

      it.each([
        [
          'unreachable',
          async () => `http://127.0.0.1:${await freePort()}/mcp`,
          /^MCP server check failed \(unreachable\): Could not connect/,
        ],
        [
          'auth_required without authorization_headers',
          async () =>
            (
              await mcpServer({
                transport: 'streamable-http',
                bearerToken: 't',
              })
            ).url,
          /^MCP server check failed \(auth_required\): The MCP server requires authorization \(HTTP 401\)/,
        ],
      ])(
        'refuses with 400 when the check fails (%s), storing nothing',
        async (_case, url, message) => {
          const plugin = await env.start();

          const res = await register(plugin, {
            name: 'bad',
            url: await url(),
            check: true,
          });

          expect(res.status).toBe(400);
          expect(res.body.error.message).toMatch(message);
          expect(res.body.error.message).toMatch(
            /MCP server 'bad' was not registered$/,
          );
          expect(env.standIn.writeCalls()).toEqual([]);
          expect(await entry(plugin, 'bad')).toBeUndefined();
        },
      );

      it('accepts auth_required from a server whose token the user supplies at query time', async () => {
        const server = await mcpServer({
          transport: 'streamable-http',
          bearerToken: 't',
        });
        const plugin = await env.start();

        const res = await register(plugin, {
          name: 'github',
          url: server.url,
          authorization_headers: { Authorization: 'client' },
          check: true,
        });

        expect(res.status).toBe(201);
        expect(res.body.last_check).toMatchObject({ status: 'auth_required' });
      });

      it('refuses a check value that is not a boolean', async () => {
        const plugin = await env.start();
        const res = await register(plugin, {
          name: 'x',
          url: 'http://127.0.0.1:9/mcp',
          check: 'yes',
        });
        expect(res.status).toBe(400);
        expect(res.body.error.message).toBe(
          "Invalid MCP server: 'check' must be true or false",
        );
      });
    });

    describe('URL policy at registration', () => {
      it.each([
        [
          'the metadata address',
          'http://169.254.169.254/latest/meta-data',
          {},
          ALWAYS_REFUSED,
        ],
        [
          'an IPv6 link-local address',
          'http://[fe80::1]/mcp',
          {},
          ALWAYS_REFUSED,
        ],
        [
          'a name that resolves to the metadata address',
          'http://metadata.evil.test/mcp',
          {},
          ALWAYS_REFUSED,
        ],
        [
          'an address in a denied CIDR',
          'http://10.1.2.3/mcp',
          { deny: ['10.0.0.0/8'] },
          'it matches lightspeedMcp.urlPolicy.deny',
        ],
        [
          'a name that resolves into a denied CIDR',
          'http://intranet.test/mcp',
          { deny: ['10.0.0.0/8'] },
          'it matches lightspeedMcp.urlPolicy.deny',
        ],
        [
          'a host outside the allowed ones',
          'http://127.0.0.1:9/mcp',
          { allow: ['*.mcp.example.com'] },
          'it matches no entry of lightspeedMcp.urlPolicy.allow',
        ],
      ])(
        'refuses %s with 400, storing nothing',
        async (_case, url, urlPolicy, reason) => {
          fakeDns({
            'metadata.evil.test': ['169.254.169.254'],
            'intranet.test': ['10.0.0.7'],
          });
          const plugin = await env.start({ config: { urlPolicy } });

          const res = await register(plugin, { name: 'ssrf', url });

          expect(res.status).toBe(400);
          expect(res.body.error.message).toBe(
            `Invalid MCP server: 'url' is refused: ${reason}`,
          );
          expect(env.standIn.writeCalls()).toEqual([]);
          expect(await entry(plugin, 'ssrf')).toBeUndefined();
        },
      );

      it('accepts a name that does not resolve from the backend, and a host the allow list names', async () => {
        fakeDns({ 'only-in-cluster.test': [] });
        const plugin = await env.start({
          config: {
            urlPolicy: { allow: ['*.mcp.example.com', 'only-in-cluster.test'] },
          },
        });

        expect(
          (
            await register(plugin, {
              name: 'a',
              url: 'http://only-in-cluster.test/mcp',
            })
          ).status,
        ).toBe(201);
        expect(
          (
            await register(plugin, {
              name: 'b',
              url: 'https://docs.mcp.example.com/mcp',
            })
          ).status,
        ).toBe(201);
      });
    });

    describe('permissions', () => {
      it('answers 403 to a caller without list permission, connecting nowhere and storing nothing', async () => {
        const server = await mcpServer({ transport: 'streamable-http' });
        const allowed = await env.start();
        await register(allowed, { name: 'docs', url: server.url });
        const denied = await env.start({ permission: AuthorizeResult.DENY });

        const res = await check(denied, 'docs');

        expect(res.status).toBe(403);
        expect(server.requests).toEqual([]);
        expect((await entry(allowed, 'docs')).last_check).toBeUndefined();
      });
    });
  },
);

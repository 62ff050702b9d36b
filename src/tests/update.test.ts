import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { fakeDns } from '../testing/fakeDns';
import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  usePluginFixture,
} from '../testing/testBackend';

const databases = createTestDatabases();

const OLD_URL = 'http://127.0.0.1:9001/mcp';
const NEW_URL = 'http://127.0.0.1:9002/mcp';

describe.each(databases.eachSupportedId())(
  'PATCH /v1/mcp-servers/{name} on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);
    afterEach(() => jest.restoreAllMocks());

    function patch(plugin: TestPlugin, name: string, body: unknown) {
      return plugin.http
        .patch(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', asUser)
        .send(body as object);
    }

    async function stored(plugin: TestPlugin, name: string) {
      const res = await plugin.http
        .get(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', asUser);
      return res.status === 200 ? res.body : undefined;
    }

    /** A plugin with one API server 'docs' at OLD_URL. */
    async function startWithServer(
      options: Parameters<typeof env.start>[0] = {},
    ) {
      const plugin = await env.start(options);
      const res = await plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .send({
          name: 'docs',
          url: OLD_URL,
          authorization_headers: { Authorization: 'client' },
          timeout: 30,
        });
      expect(res.status).toBe(201);
      env.standIn.calls.length = 0;
      return plugin;
    }

    it('moves the toolgroup to the new URL and answers the changed server', async () => {
      const plugin = await startWithServer();

      const res = await patch(plugin, 'docs', { url: NEW_URL });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: 'docs',
        url: NEW_URL,
        authorization_headers: { Authorization: 'client' },
        timeout: 30,
        status: 'registered',
        message: "MCP server 'docs' updated successfully",
      });
      expect(env.standIn.writeCalls()).toEqual([
        'DELETE /v1/toolgroups/docs',
        'POST /v1/toolgroups',
      ]);
      expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
        uri: NEW_URL,
      });
      const { message: _message, ...entry } = res.body;
      expect(await stored(plugin, 'docs')).toEqual(entry);
    });

    it('changes query-time fields without calling Llama Stack, and removes a field set to null', async () => {
      const plugin = await startWithServer();

      const res = await patch(plugin, 'docs', {
        headers: ['x-request-id'],
        timeout: null,
        authorization_headers: null,
      });

      expect(res.status).toBe(200);
      expect(env.standIn.writeCalls()).toEqual([]);
      const server = await stored(plugin, 'docs');
      expect(server).toMatchObject({ url: OLD_URL, headers: ['x-request-id'] });
      expect(server).not.toHaveProperty('timeout');
      expect(server).not.toHaveProperty('authorization_headers');
    });

    it.each([
      [
        'Llama Stack answers 500 to the new registration',
        { status: 500 },
        'POST',
        503,
      ],
      [
        'Llama Stack rejects the new registration',
        { status: 400, message: 'bad endpoint' },
        'POST',
        502,
      ],
    ])(
      'rolls back when %s: old URL registered in Llama Stack and in the database',
      async (_case, fault, method, status) => {
        const plugin = await startWithServer();
        env.standIn.inject(fault, { method: method as 'POST', times: 1 });

        const res = await patch(plugin, 'docs', { url: NEW_URL });

        expect(res.status).toBe(status);
        expect(res.body.error.message).toMatch(
          /MCP server 'docs' was not updated$/,
        );
        expect(res.body.error.message).not.toMatch(/bad endpoint|Injected/);
        expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
          uri: OLD_URL,
        });
        expect(await stored(plugin, 'docs')).toMatchObject({
          url: OLD_URL,
          status: 'registered',
        });
      },
    );

    it('keeps everything as it was when Llama Stack is down', async () => {
      const plugin = await startWithServer();
      await env.standIn.stop();

      const res = await patch(plugin, 'docs', { url: NEW_URL });

      expect(res.status).toBe(503);
      expect(await stored(plugin, 'docs')).toMatchObject({
        url: OLD_URL,
        status: 'registered',
      });
      await env.standIn.restart();
      expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
        uri: OLD_URL,
      });
    });

    it('leaves the old fields for the reconciler to register when even the rollback fails', async () => {
      const plugin = await startWithServer();
      // The new registration and the rollback both fail: Llama Stack is left
      // without the toolgroup.
      env.standIn.inject({ status: 503 }, { method: 'POST', times: 2 });

      expect((await patch(plugin, 'docs', { url: NEW_URL })).status).toBe(503);
      expect(env.standIn.toolgroups.has('docs')).toBe(false);
      expect(await stored(plugin, 'docs')).toMatchObject({ url: OLD_URL });

      await plugin.reconcile();
      expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
        uri: OLD_URL,
      });
    });

    it('puts back an update that a crash interrupted, and registers the old toolgroup', async () => {
      const plugin = await startWithServer();
      // What a replica that died between unregistering and registering leaves
      // behind.
      const previous = {
        url: OLD_URL,
        providerId: 'model-context-protocol',
        authorizationHeaders: { Authorization: 'client' },
        timeout: 30,
      };
      await env
        .knex('mcp_servers')
        .where({ name: 'docs' })
        .update({
          url: NEW_URL,
          state: 'updating',
          previous: JSON.stringify(previous),
          state_changed_at: new Date(Date.now() - 60_000).toISOString(),
        });
      env.standIn.toolgroups.delete('docs');

      await plugin.reconcile();

      expect(await stored(plugin, 'docs')).toMatchObject({
        url: OLD_URL,
        status: 'registered',
      });
      expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
        uri: OLD_URL,
      });
    });

    it('keeps an interrupted update that Llama Stack already holds', async () => {
      const plugin = await startWithServer();
      await env
        .knex('mcp_servers')
        .where({ name: 'docs' })
        .update({
          url: NEW_URL,
          state: 'updating',
          previous: JSON.stringify({
            url: OLD_URL,
            providerId: 'model-context-protocol',
          }),
          state_changed_at: new Date(Date.now() - 60_000).toISOString(),
        });
      env.standIn.toolgroups.delete('docs');
      env.standIn.addToolgroup('docs', NEW_URL);

      await plugin.reconcile();

      expect(await stored(plugin, 'docs')).toMatchObject({
        url: NEW_URL,
        status: 'registered',
      });
    });

    it('keeps the last check while the URL stays, and drops it with the old URL', async () => {
      const plugin = await startWithServer();
      await env.knex('mcp_server_checks').insert({
        name: 'docs',
        url: OLD_URL,
        status: 'ok',
        tool_count: 3,
        message: 'Connected; the server offers 3 tools',
        checked_at: new Date().toISOString(),
      });
      expect((await stored(plugin, 'docs')).last_check).toMatchObject({
        status: 'ok',
      });
      expect(
        (await patch(plugin, 'docs', { timeout: 60 })).body.last_check,
      ).toMatchObject({ status: 'ok', tool_count: 3 });

      const moved = await patch(plugin, 'docs', { url: NEW_URL });

      expect(moved.body).not.toHaveProperty('last_check');
      expect(await stored(plugin, 'docs')).not.toHaveProperty('last_check');
    });

    it.each([
      [
        'an empty body',
        {},
        'Invalid change of MCP server: request body must change at least one of url, provider_id, authorization_headers, headers, timeout',
      ],
      [
        'a new name',
        { name: 'other' },
        "Invalid change of MCP server: unknown field 'name'",
      ],
      [
        'a bad URL',
        { url: 'ftp://x' },
        "Invalid change of MCP server: 'url' must be an absolute http:// or https:// URL",
      ],
      [
        'a null URL',
        { url: null },
        "Invalid change of MCP server: 'url' must be a string",
      ],
      [
        'the metadata address',
        { url: 'http://169.254.169.254/' },
        "Invalid MCP server: 'url' is refused: its address is in a range that is always refused (link-local and cloud metadata addresses)",
      ],
    ])(
      'refuses %s with 400 and changes nothing',
      async (_case, body, message) => {
        const plugin = await startWithServer();

        const res = await patch(plugin, 'docs', body);

        expect(res.status).toBe(400);
        expect(res.body.error.message).toBe(message);
        expect(env.standIn.writeCalls()).toEqual([]);
        expect(await stored(plugin, 'docs')).toMatchObject({
          url: OLD_URL,
          timeout: 30,
        });
      },
    );

    it.each([
      [
        'a name that resolves to the metadata address',
        'http://metadata.evil.test/mcp',
        {},
        /always refused/,
      ],
      [
        'a name that resolves into a denied CIDR',
        'http://intranet.test/mcp',
        { deny: ['10.0.0.0/8'] },
        /urlPolicy\.deny$/,
      ],
    ])(
      'refuses a URL with %s, and Llama Stack keeps the old one',
      async (_case, url, urlPolicy, reason) => {
        fakeDns({
          'metadata.evil.test': ['169.254.169.254'],
          'intranet.test': ['10.0.0.7'],
        });
        const plugin = await startWithServer({ config: { urlPolicy } });

        const res = await patch(plugin, 'docs', { url });

        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(reason);
        expect(env.standIn.writeCalls()).toEqual([]);
        expect(await stored(plugin, 'docs')).toMatchObject({ url: OLD_URL });
      },
    );

    it('answers 404 for an unknown server and 403 for a config server', async () => {
      const plugin = await env.start({
        config: { mcpServers: [{ name: 'static', url: OLD_URL }] },
      });

      expect((await patch(plugin, 'nope', { url: NEW_URL })).status).toBe(404);
      const res = await patch(plugin, 'static', { url: NEW_URL });
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe(
        "MCP server 'static' is defined in app-config and cannot be changed through the API",
      );
    });

    it('answers 403 without the update permission, changing nothing', async () => {
      await startWithServer();
      const denied = await env.start({ permission: AuthorizeResult.DENY });

      const res = await patch(denied, 'docs', { url: NEW_URL });

      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe(
        "Permission 'lightspeed.mcp-server.update' is not granted",
      );
      expect(env.standIn.writeCalls()).toEqual([]);
      expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
        uri: OLD_URL,
      });
    });
  },
);

import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  useLightspeedStackFixture,
} from '../testing/testBackend';

/*
 * lightspeed-stack (LCS) as the upstream, as in Red Hat Developer Hub: every
 * server the plugin knows must be in LCS's runtime API, which LCS keeps in
 * memory only.
 */

const databases = createTestDatabases();

const TOKEN = 'lcs-token-for-the-plugin';
/** Text the stand-in puts in its error bodies; it must never reach a caller. */
const LCS_TEXT = 'LCS-INTERNAL-DETAIL at lcs.internal.example:8080';
const CONFIG_SERVERS = [{ name: 'docs', url: 'https://docs.example.com/mcp' }];

const FULL = {
  name: 'team tools',
  url: 'https://mcp.example.com/mcp',
  provider_id: 'model-context-protocol',
  authorization_headers: { Authorization: 'client' },
  headers: ['x-request-id'],
  timeout: 45,
};

describe.each(databases.eachSupportedId())(
  'lightspeed-stack as the upstream on %s',
  databaseId => {
    const env = useLightspeedStackFixture(databases, databaseId);

    beforeEach(() =>
      env.replaceStandIn({
        token: TOKEN,
        configServers: [
          { name: 'lcs-own', url: 'https://lcs-own.example.com/mcp' },
        ],
      }),
    );

    const start = (config: object = {}) =>
      env.start({
        config: {
          lightspeedStack: { token: TOKEN },
          mcpServers: CONFIG_SERVERS,
          ...config,
        },
      });

    const register = (plugin: TestPlugin, body: object) =>
      plugin.http.post(BASE).set('authorization', asUser).send(body);
    const remove = (plugin: TestPlugin, name: string) =>
      plugin.http
        .delete(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', asUser);
    const patch = (plugin: TestPlugin, name: string, body: object) =>
      plugin.http
        .patch(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', asUser)
        .send(body);

    async function list(plugin: TestPlugin) {
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      expect(res.status).toBe(200);
      return res.body.servers as Array<{
        name: string;
        url: string;
        status: string;
        status_message?: string;
      }>;
    }
    const statuses = async (plugin: TestPlugin) =>
      (await list(plugin)).map(s => `${s.name}:${s.status}`);
    /** The API servers LCS holds, by name and URL. */
    const held = () =>
      [...env.standIn.servers.values()]
        .filter(s => s.source === 'api')
        .map(s => `${s.name} ${s.url}`)
        .sort();

    it('registers every field in LCS, with the token, and lists it', async () => {
      const plugin = await start();

      const res = await register(plugin, FULL);

      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ ...FULL, status: 'registered' });
      expect(env.standIn.servers.get('team tools')).toEqual({
        ...FULL,
        source: 'api',
      });
      const post = env.standIn.calls.find(c => c.method === 'POST');
      expect(post?.authorization).toBe(`Bearer ${TOKEN}`);
      expect(await statuses(plugin)).toEqual([
        'docs:registered',
        'team tools:registered',
      ]);
      // The config server went to LCS at startup too.
      expect(held()).toEqual([
        'docs https://docs.example.com/mcp',
        'team tools https://mcp.example.com/mcp',
      ]);
    });

    it('changes a server in LCS by deleting and registering it again', async () => {
      const plugin = await start();
      await register(plugin, FULL);
      const before = env.standIn.calls.length;

      const res = await patch(plugin, 'team tools', {
        timeout: 5,
        headers: null,
      });

      expect(res.status).toBe(200);
      expect(env.standIn.writeCalls().slice(-2)).toEqual([
        'DELETE /v1/mcp-servers/team%20tools',
        'POST /v1/mcp-servers',
      ]);
      expect(env.standIn.calls.length).toBe(before + 2);
      const { headers: _removed, ...rest } = FULL;
      expect(env.standIn.servers.get('team tools')).toEqual({
        ...rest,
        timeout: 5,
        source: 'api',
      });
    });

    it('puts the old server back when LCS refuses the changed one', async () => {
      const plugin = await start();
      await register(plugin, FULL);
      env.standIn.inject(
        { status: 500, message: LCS_TEXT },
        { method: 'POST', times: 1 },
      );

      const res = await patch(plugin, 'team tools', {
        url: 'https://b.example/mcp',
      });

      expect(res.status).toBe(503);
      expect(res.body.error.message).toBe(
        "lightspeed-stack is unavailable; MCP server 'team tools' was not updated",
      );
      expect(env.standIn.servers.get('team tools')?.url).toBe(FULL.url);
      expect((await list(plugin)).find(s => s.name === 'team tools')?.url).toBe(
        FULL.url,
      );
    });

    it('deletes a server from LCS, and keeps it when LCS fails', async () => {
      const plugin = await start();
      await register(plugin, FULL);
      env.standIn.inject(
        { status: 503, message: LCS_TEXT },
        { method: 'DELETE' },
      );

      const failed = await remove(plugin, 'team tools');

      expect(failed.status).toBe(503);
      expect(JSON.stringify(failed.body)).not.toContain('LCS-INTERNAL');
      expect(await statuses(plugin)).toContain('team tools:registered');
      expect(env.standIn.servers.has('team tools')).toBe(true);

      env.standIn.clearFaults();
      const res = await remove(plugin, 'team tools');

      expect(res.status).toBe(200);
      expect(env.standIn.servers.has('team tools')).toBe(false);
      expect(await statuses(plugin)).toEqual(['docs:registered']);
    });

    describe.each([
      ['is down', async () => env.standIn.stop(), 503, 'is unavailable'],
      [
        'does not answer in time',
        async () => env.standIn.inject({ delayMs: 3000 }, { method: 'POST' }),
        503,
        'is unavailable',
      ],
      [
        'answers 500',
        async () =>
          env.standIn.inject(
            { status: 500, message: LCS_TEXT },
            { method: 'POST' },
          ),
        503,
        'is unavailable',
      ],
      [
        'refuses the token (401)',
        async () =>
          env.standIn.inject(
            { status: 401, message: LCS_TEXT },
            { method: 'POST' },
          ),
        502,
        "refused the plugin's credentials",
      ],
      [
        'refuses the body (422)',
        async () =>
          env.standIn.inject(
            { status: 422, message: LCS_TEXT },
            { method: 'POST' },
          ),
        502,
        'rejected the registration',
      ],
    ])('when LCS %s', (_case, fail, status, text) => {
      it(`answers ${status} to a register and keeps nothing of it`, async () => {
        const plugin = await start();
        await fail();

        const res = await register(plugin, FULL);

        expect(res.status).toBe(status);
        expect(res.body.error.message).toBe(
          `lightspeed-stack ${text}; MCP server 'team tools' was not registered`,
        );
        expect(JSON.stringify(res.body)).not.toContain('LCS-INTERNAL');
        expect(JSON.stringify(env.logs.text())).not.toContain(TOKEN);
        expect(await statuses(plugin)).toEqual(['docs:registered']);
      });
    });

    it('answers 409 for a name LCS holds from its own config, and leaves that server alone', async () => {
      const plugin = await start();

      const res = await register(plugin, { name: 'lcs-own', url: FULL.url });

      expect(res.status).toBe(409);
      expect(res.body.error.message).toBe(
        "lightspeed-stack already holds an MCP server named 'lcs-own'; MCP server 'lcs-own' was not registered",
      );
      expect(env.standIn.servers.get('lcs-own')).toMatchObject({
        url: 'https://lcs-own.example.com/mcp',
        source: 'config',
      });
      expect(await statuses(plugin)).toEqual(['docs:registered']);
    });

    it('puts every server back within one reconcile after LCS restarted empty', async () => {
      const plugin = await start();
      for (const name of ['a', 'b', 'c']) {
        await register(plugin, { name, url: `https://${name}.example/mcp` });
      }
      const before = held();

      await env.standIn.restart();
      expect(held()).toEqual([]);
      await plugin.reconcile();

      expect(held()).toEqual(before);
      expect(held()).toHaveLength(4);
      // LCS's own config servers survive its restart; the plugin left them.
      expect(env.standIn.servers.get('lcs-own')?.source).toBe('config');
    });

    it("shows an error, and touches nothing, when LCS holds another URL under a server's name", async () => {
      const plugin = await start();
      await register(plugin, FULL);
      await env.standIn.restart();
      env.standIn.addApiServer({
        name: 'team tools',
        url: 'https://other.example/mcp',
      });

      await plugin.reconcile();

      const entry = (await list(plugin)).find(s => s.name === 'team tools');
      expect(entry).toMatchObject({
        status: 'error',
        status_message:
          'lightspeed-stack holds a different MCP server with this name',
      });
      expect(env.standIn.servers.get('team tools')?.url).toBe(
        'https://other.example/mcp',
      );
      expect(
        env.standIn.writeCalls().filter(c => c.startsWith('DELETE')),
      ).toEqual([]);
    });

    it('reports a refused token once per reconcile, as every server status, and loses nothing', async () => {
      const plugin = await start();
      await register(plugin, FULL);
      env.standIn.inject({ status: 403, message: LCS_TEXT });

      await plugin.reconcile();
      await plugin.reconcile();

      const errors = env.logs.lines.filter(l => l.level === 'error');
      expect(errors.map(l => l.message)).toEqual([
        "lightspeed-stack refused the plugin's credentials: MCP servers are not synced until the configuration is fixed",
        "lightspeed-stack refused the plugin's credentials: MCP servers are not synced until the configuration is fixed",
      ]);
      const message =
        "lightspeed-stack refused the plugin's token (lightspeedMcp.lightspeedStack.token)";
      expect(await list(plugin)).toEqual([
        expect.objectContaining({
          name: 'docs',
          status: 'error',
          status_message: message,
        }),
        expect.objectContaining({
          name: 'team tools',
          status: 'error',
          status_message: message,
        }),
      ]);
      expect(env.logs.text()).not.toContain(TOKEN);

      env.standIn.clearFaults();
      await plugin.reconcile();

      expect(await statuses(plugin)).toEqual([
        'docs:registered',
        'team tools:registered',
      ]);
    });

    it.each(['pr1330', '2026-05'] as const)(
      'deletes a server LCS no longer holds, in the %s delete dialect',
      async dialect => {
        env.standIn.deleteDialect = dialect;
        const plugin = await start();
        await register(plugin, FULL);
        await env.standIn.restart();

        const res = await remove(plugin, 'team tools');

        expect(res.status).toBe(200);
        expect(await statuses(plugin)).toEqual(['docs:registered']);
      },
    );

    it('leaves LCS identical to the database after 120 concurrent registers on two replicas', async () => {
      const [a, b] = [await start(), await start()];
      const attempts = Array.from({ length: 120 }, (_, i) =>
        register(i % 2 ? a : b, {
          name: `server-${i % 60}`,
          url: `https://s${i % 60}.example/mcp`,
        }),
      );

      const answers = (await Promise.all(attempts)).map(res => res.status);

      expect(answers.filter(status => status === 201)).toHaveLength(60);
      const listed = (await list(a)).map(s => `${s.name} ${s.url}`).sort();
      expect(held()).toEqual(listed);
      await a.reconcile();
      expect(held()).toEqual(listed);
    });
  },
);

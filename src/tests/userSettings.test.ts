import { mockCredentials } from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { PermissionPolicy } from '@backstage/plugin-permission-node';
import { mcpServerRegisterPermission } from '../permissions/permissions';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions,
} from '../permissions/rules';
import { McpTestServer, startMcpTestServer } from '../testing/mcpTestServers';
import {
  AuditorEvent,
  BASE,
  createTestDatabases,
  TestPlugin,
  usePluginFixture,
} from '../testing/testBackend';

/*
 * The settings page's per-user layer: each user's own on/off switch, personal
 * token (encrypted at rest) and validation of the servers they may list, and
 * the MCP-HEADERS a chat gets from them.
 */

const databases = createTestDatabases();

const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';
const TOKEN_A = 'tok-alice-0001';
const TOKEN_B = 'tok-bob-0002';
const ORG_TOKEN = 'tok-org-0003';
const OLD_KEY = 'an-old-secret-of-at-least-32-characters';
const NEW_KEY = 'a-new-secret-of-at-least-32-characters!';
const SETTINGS = '/api/lightspeed-mcp/mcp-servers';
const HEADERS = '/api/lightspeed-mcp/v1/mcp-headers';
const TOOLS = '/api/lightspeed-mcp/v1/mcp-tools';

/**
 * Everyone may register; each user lists the servers they registered and those
 * of app-config.
 */
const policy: PermissionPolicy = {
  async handle(request, user) {
    if (request.permission.name === mcpServerRegisterPermission.name) {
      return { result: AuthorizeResult.ALLOW };
    }
    return createMcpServerConditionalDecision(
      request.permission as ResourcePermission<'lightspeed-mcp-server'>,
      {
        anyOf: [
          mcpServerConditions.isOwner({
            claims: user?.info.ownershipEntityRefs ?? [],
          }),
          mcpServerConditions.hasSource({ source: 'config' }),
        ],
      },
    );
  },
};

const as = (user: string) => mockCredentials.user.header(user);

describe.each(databases.eachSupportedId())(
  'per-user settings on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);
    let secured: McpTestServer;
    let orgServer: McpTestServer;
    let auditEvents: AuditorEvent[];

    beforeEach(async () => {
      // Each accepts one bearer token only.
      secured = await startMcpTestServer({
        transport: 'streamable-http',
        bearerToken: TOKEN_A,
        tools: [{ name: 'search', description: 'Searches' }],
      });
      orgServer = await startMcpTestServer({
        transport: 'streamable-http',
        bearerToken: ORG_TOKEN,
      });
      auditEvents = [];
    });

    afterEach(async () => {
      await Promise.all([secured.stop(), orgServer.stop()]);
    });

    /** The plugin with the policy, an org server and the given keys. */
    async function start(keys: string[] | null = [OLD_KEY]) {
      return env.start({
        permission: policy,
        auditEvents,
        config: {
          ...(keys && {
            tokenEncryption: { keys: keys.map(secret => ({ secret })) },
          }),
          mcpServers: [
            {
              name: 'org',
              url: orgServer.url,
              authorizationHeaders: { Authorization: 'client' },
              token: ORG_TOKEN,
            },
          ],
        },
      });
    }

    async function registerSecured(plugin: TestPlugin, user = ALICE) {
      const res = await plugin.http
        .post(BASE)
        .set('authorization', as(user))
        .send({
          name: 'secured',
          url: secured.url,
          authorization_headers: { Authorization: 'client' },
        });
      expect(res.status).toBe(201);
    }

    const patch = (
      plugin: TestPlugin,
      user: string,
      name: string,
      body: unknown,
    ) =>
      plugin.http
        .patch(`${SETTINGS}/${encodeURIComponent(name)}`)
        .set('authorization', as(user))
        .send(body as object);
    const validate = (plugin: TestPlugin, user: string, name: string) =>
      plugin.http
        .post(`${SETTINGS}/${encodeURIComponent(name)}/validate`)
        .set('authorization', as(user));
    const validateUrl = (plugin: TestPlugin, user: string, body: unknown) =>
      plugin.http
        .post(`${SETTINGS}/validate`)
        .set('authorization', as(user))
        .send(body as object);
    async function settingsOf(plugin: TestPlugin, user: string) {
      const res = await plugin.http
        .get(SETTINGS)
        .set('authorization', as(user));
      expect(res.status).toBe(200);
      return res.body.servers as Array<Record<string, unknown>>;
    }
    async function mcpHeaders(plugin: TestPlugin, user: string) {
      const res = await plugin.http.get(HEADERS).set('authorization', as(user));
      expect(res.status).toBe(200);
      return res.body;
    }
    const storedRows = () => env.knex('mcp_user_settings').select();
    const authorizationsSeenBy = (server: McpTestServer) =>
      [...new Set(server.requests.map(r => r.authorization))].filter(Boolean);

    it('sets a token, validates it with the MCP server, clears it and switches the server off and on', async () => {
      const plugin = await start();
      await registerSecured(plugin);
      expect(await settingsOf(plugin, ALICE)).toEqual([
        {
          name: 'org',
          url: orgServer.url,
          enabled: true,
          status: 'unknown',
          toolCount: 0,
          hasToken: true,
          hasUserToken: false,
          source: 'config',
        },
        {
          name: 'secured',
          url: secured.url,
          enabled: true,
          status: 'unknown',
          toolCount: 0,
          hasToken: false,
          hasUserToken: false,
          source: 'api',
        },
      ]);

      // Pasted with its scheme, as users do; stored without it.
      const set = await patch(plugin, ALICE, 'secured', {
        token: `Bearer ${TOKEN_A}`,
      });

      expect(set.status).toBe(200);
      expect(set.body).toEqual({
        server: expect.objectContaining({
          name: 'secured',
          status: 'connected',
          toolCount: 1,
          hasToken: true,
          hasUserToken: true,
        }),
        validation: {
          valid: true,
          toolCount: 1,
          tools: [{ name: 'search', description: 'Searches' }],
        },
      });
      expect(authorizationsSeenBy(secured)).toEqual([`Bearer ${TOKEN_A}`]);
      expect((await validate(plugin, ALICE, 'secured')).body).toEqual({
        name: 'secured',
        status: 'connected',
        toolCount: 1,
        validation: expect.objectContaining({ valid: true, toolCount: 1 }),
      });
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
        secured: { Authorization: TOKEN_A },
      });

      const off = await patch(plugin, ALICE, 'secured', { enabled: false });
      expect(off.body.server).toMatchObject({
        enabled: false,
        hasUserToken: true,
      });
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
      });
      const tools = await plugin.http
        .get(TOOLS)
        .set('authorization', as(ALICE));
      expect(
        tools.body.tools.map((t: { server_label: string }) => t.server_label),
      ).toEqual(['org']);

      const cleared = await patch(plugin, ALICE, 'secured', {
        enabled: true,
        token: null,
      });
      expect(cleared.status).toBe(200);
      expect(cleared.body).toEqual({
        server: expect.objectContaining({
          enabled: true,
          status: 'unknown',
          toolCount: 0,
          hasToken: false,
          hasUserToken: false,
        }),
      });
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
      });
      expect((await validate(plugin, ALICE, 'secured')).body).toEqual({
        error: 'No token available',
      });
    });

    it('reports a token the MCP server refuses, and keeps it for the user to replace', async () => {
      const plugin = await start();
      await registerSecured(plugin);

      const res = await patch(plugin, ALICE, 'secured', {
        token: 'wrong-token',
      });

      expect(res.status).toBe(200);
      expect(res.body.validation).toEqual({
        valid: false,
        toolCount: 0,
        tools: [],
        error: expect.stringContaining('401'),
      });
      expect(res.body.server).toMatchObject({
        status: 'error',
        hasUserToken: true,
      });
    });

    it("never uses one user's token for another", async () => {
      const plugin = await start();
      await patch(plugin, ALICE, 'org', { token: TOKEN_A });
      await patch(plugin, BOB, 'org', { token: TOKEN_B });
      orgServer.requests.length = 0;

      await validate(plugin, BOB, 'org');

      expect(authorizationsSeenBy(orgServer)).toEqual([`Bearer ${TOKEN_B}`]);
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: TOKEN_A },
      });
      expect(await mcpHeaders(plugin, BOB)).toEqual({
        org: { Authorization: TOKEN_B },
      });
      // Carol set nothing: the org token, never alice's or bob's.
      expect(await mcpHeaders(plugin, 'user:default/carol')).toEqual({
        org: { Authorization: ORG_TOKEN },
      });
      expect((await settingsOf(plugin, 'user:default/carol'))[0]).toMatchObject(
        { hasToken: true, hasUserToken: false },
      );
    });

    it('answers 404 for a server the user may not list, and never connects for them', async () => {
      const plugin = await start();
      await registerSecured(plugin, ALICE);
      secured.requests.length = 0;

      expect((await settingsOf(plugin, BOB)).map(s => s.name)).toEqual(['org']);
      for (const res of [
        await patch(plugin, BOB, 'secured', { token: TOKEN_B }),
        await validate(plugin, BOB, 'secured'),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body).toEqual({
          error: "MCP server 'secured' is not registered",
        });
      }
      const probe = await validateUrl(plugin, BOB, {
        url: secured.url,
        token: TOKEN_B,
      });
      expect(probe.status).toBe(400);
      expect(probe.body).toEqual({ error: 'URL not recognized' });
      expect(secured.requests).toEqual([]);
      expect(await storedRows()).toEqual([]);
    });

    it('validates a token typed into the page, for the URL of a listed server only', async () => {
      const plugin = await start();
      await registerSecured(plugin);

      const ok = await validateUrl(plugin, ALICE, {
        url: secured.url,
        token: TOKEN_A,
      });
      const other = await validateUrl(plugin, ALICE, {
        url: 'http://127.0.0.1:9/mcp',
        token: TOKEN_A,
      });

      expect(ok.body).toEqual({
        valid: true,
        toolCount: 1,
        tools: [{ name: 'search', description: 'Searches' }],
      });
      expect(other.status).toBe(400);
      expect(other.body).toEqual({ error: 'URL not recognized' });
      const blank = await validateUrl(plugin, ALICE, {
        url: secured.url,
        token: 'two words',
      });
      expect(blank.status).toBe(400);
      expect(blank.body.error).toContain(
        "'token' must be 1-8192 visible characters",
      );
      expect(await storedRows()).toEqual([]);
    });

    it.each([
      ['no field', {}, "At least one of 'enabled' or 'token' is required"],
      ['a wrong type', { enabled: 'yes' }, "'enabled' must be true or false"],
      [
        'an unknown field',
        { enabled: true, color: 'red' },
        "Unknown field 'color'",
      ],
      [
        'a token of the wrong type',
        { token: 42 },
        "'token' must be a string, or null to clear it",
      ],
      [
        'an empty token',
        { token: ' ' },
        "'token' must be 1-8192 visible characters",
      ],
    ])(
      'refuses a change with %s, storing nothing',
      async (_case, body, message) => {
        const plugin = await start();

        const res = await patch(plugin, ALICE, 'org', body);

        expect(res.status).toBe(400);
        expect(res.body.error).toContain(message);
        expect(await storedRows()).toEqual([]);
      },
    );

    it('refuses a 64 KiB body, an unreadable charset, a malformed name and a validation without url or token', async () => {
      const plugin = await start();

      const big = await patch(plugin, ALICE, 'org', {
        token: 'x'.repeat(70_000),
      });
      const missing = await validateUrl(plugin, ALICE, { url: orgServer.url });

      expect(big.status).toBe(413);
      expect(big.body).toEqual({
        error: 'Request body must be at most 64 KiB',
      });
      expect(missing.status).toBe(400);
      expect(missing.body).toEqual({ error: 'url and token are required' });
      const latin1 = await plugin.http
        .patch(`${SETTINGS}/org`)
        .set('authorization', as(ALICE))
        .set('content-type', 'application/json; charset=latin1')
        .send('{"enabled": false}');
      expect(latin1.status).toBe(415);
      expect(latin1.body).toEqual({ error: expect.any(String) });
      const badName = await plugin.http
        .post(`${SETTINGS}/%E0%A4%A/validate`)
        .set('authorization', as(ALICE));
      expect(badName.status).toBe(400);
      expect(badName.body).toEqual({
        error: "Invalid MCP server name: 'name' is not valid URL encoding",
      });
      expect(await storedRows()).toEqual([]);
    });

    it('stores tokens encrypted: the database holds no token in plain text', async () => {
      const plugin = await start();
      await patch(plugin, ALICE, 'org', { token: TOKEN_A });
      await patch(plugin, BOB, 'org', { token: TOKEN_B });

      const rows = await storedRows();

      expect(rows).toHaveLength(2);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(TOKEN_A);
      expect(dump).not.toContain(TOKEN_B);
      expect(dump).not.toContain(Buffer.from(TOKEN_A).toString('base64'));
    });

    it('keeps using a token written under an old key after a new first key is added', async () => {
      const before = await start([OLD_KEY]);
      await patch(before, ALICE, 'org', { token: TOKEN_A });
      const keyOfToken = async () =>
        ((await storedRows())[0].token as string).split('.')[1];
      const oldKeyId = await keyOfToken();
      await env.stop(before);

      const after = await start([NEW_KEY, OLD_KEY]);

      expect(await mcpHeaders(after, ALICE)).toEqual({
        org: { Authorization: TOKEN_A },
      });
      expect((await validate(after, ALICE, 'org')).status).toBe(200);

      // Using it moved it to the new key: the old key can go.
      for (let i = 0; i < 50 && (await keyOfToken()) === oldKeyId; i++) {
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      expect(await keyOfToken()).not.toBe(oldKeyId);
      await env.stop(after);
      const newOnly = await start([NEW_KEY]);
      expect(await mcpHeaders(newOnly, ALICE)).toEqual({
        org: { Authorization: TOKEN_A },
      });
    });

    it('refuses a personal token when no key is configured, naming the key, and stores nothing', async () => {
      const plugin = await start(null);

      const res = await patch(plugin, ALICE, 'org', { token: TOKEN_A });

      expect(res.status).toBe(503);
      expect(res.body.error).toContain('lightspeedMcp.tokenEncryption.keys');
      expect(await storedRows()).toEqual([]);
      // Switching a server on or off needs no key.
      expect(
        (await patch(plugin, ALICE, 'org', { enabled: false })).status,
      ).toBe(200);
    });

    it('prefers the personal token over the org token', async () => {
      const plugin = await start();
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
      });

      await patch(plugin, ALICE, 'org', { token: TOKEN_A });

      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: TOKEN_A },
      });
    });

    it("fills the chat's Authorization from the stored token, unless the request brings its own", async () => {
      const plugin = await start();
      await registerSecured(plugin);
      await patch(plugin, ALICE, 'secured', { token: TOKEN_A });
      const tools = async (mcpHeadersValue?: object) => {
        const request = plugin.http.get(TOOLS).set('authorization', as(ALICE));
        if (mcpHeadersValue) {
          request.set('mcp-headers', JSON.stringify(mcpHeadersValue));
        }
        const res = await request;
        return Object.fromEntries(
          res.body.tools.map(
            (t: { server_label: string; authorization?: string }) => [
              t.server_label,
              t.authorization,
            ],
          ),
        );
      };

      expect(await tools()).toEqual({ org: ORG_TOKEN, secured: TOKEN_A });
      expect(
        await tools({ secured: { Authorization: 'Bearer from-request' } }),
      ).toEqual({ org: ORG_TOKEN, secured: 'from-request' });
    });

    it("resets users' tokens when a server's URL changes, and removes them when it is deleted", async () => {
      const plugin = await start();
      await registerSecured(plugin);
      await patch(plugin, ALICE, 'secured', { token: TOKEN_A });

      const moved = await plugin.http
        .patch(`${BASE}/secured`)
        .set('authorization', as(ALICE))
        .send({ url: orgServer.url });
      expect(moved.status).toBe(200);

      expect(
        (await settingsOf(plugin, ALICE)).find(s => s.name === 'secured'),
      ).toMatchObject({ hasUserToken: false, status: 'unknown' });
      expect(await mcpHeaders(plugin, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
      });

      await plugin.http
        .delete(`${BASE}/secured`)
        .set('authorization', as(ALICE));
      expect(
        (await storedRows()).filter(
          (row: { server_name: string }) => row.server_name === 'secured',
        ),
      ).toEqual([]);
    });

    it('never sends a token to a new URL of an app-config server, even after a validation', async () => {
      const before = await start();
      await patch(before, ALICE, 'org', { token: TOKEN_A });
      await env.stop(before);
      // The admin points the app-config server elsewhere.
      const after = await env.start({
        permission: policy,
        config: {
          tokenEncryption: { keys: [{ secret: OLD_KEY }] },
          mcpServers: [
            {
              name: 'org',
              url: secured.url,
              authorizationHeaders: { Authorization: 'client' },
              token: ORG_TOKEN,
            },
          ],
        },
      });

      await validate(after, ALICE, 'org');

      expect(authorizationsSeenBy(secured)).toEqual([`Bearer ${ORG_TOKEN}`]);
      expect(await mcpHeaders(after, ALICE)).toEqual({
        org: { Authorization: ORG_TOKEN },
      });
      expect((await settingsOf(after, ALICE))[0]).toMatchObject({
        hasUserToken: false,
        status: 'error',
      });
    });

    it('audits settings changes with the fields changed, never a token, and logs no token', async () => {
      const plugin = await start();
      await patch(plugin, ALICE, 'org', { enabled: false, token: TOKEN_A });
      await validate(plugin, ALICE, 'org');

      const settingsEvents = auditEvents
        .filter(e => e.status !== 'initiated')
        .map(e => [e.eventId, e.status, e.meta]);
      expect(settingsEvents).toEqual([
        [
          'mcp-server-user-settings-update',
          'succeeded',
          { name: 'org', fields: ['enabled', 'token'], valid: false },
        ],
        ['mcp-server-validate', 'succeeded', { name: 'org', valid: false }],
      ]);
      expect(JSON.stringify(auditEvents)).not.toContain(TOKEN_A);
      expect(env.logs.text()).not.toContain(TOKEN_A);
    });

    it('answers the MCP-HEADERS to a backend plugin calling on behalf of the user', async () => {
      const plugin = await start();
      await patch(plugin, ALICE, 'org', { token: TOKEN_A });

      const res = await plugin.http.get(HEADERS).set(
        'authorization',
        mockCredentials.service.header({
          onBehalfOf: mockCredentials.user(ALICE),
          targetPluginId: 'lightspeed-mcp',
        }),
      );

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ org: { Authorization: TOKEN_A } });
    });
  },
);

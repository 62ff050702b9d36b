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
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  BASE,
  CapturedLogs,
  createTestDatabases,
  startPlugin,
  TestPlugin,
} from '../testing/testBackend';

const databases = createTestDatabases();

const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';
const NOBODY = 'user:default/nobody';
const TOOLS = '/api/lightspeed-mcp/v1/mcp-tools';
const SECRET = 'sk-SECRET-VALUE-0042';

/**
 * Everyone may register; alice and bob list their own servers; nobody may list
 * nothing.
 */
const policy: PermissionPolicy = {
  async handle(request, user) {
    const ref = user?.info.userEntityRef;
    if (request.permission.name === mcpServerRegisterPermission.name) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (ref === NOBODY) {
      return { result: AuthorizeResult.DENY };
    }
    return createMcpServerConditionalDecision(
      request.permission as ResourcePermission<'lightspeed-mcp-server'>,
      mcpServerConditions.isOwner({
        claims: user?.info.ownershipEntityRefs ?? [],
      }),
    );
  },
};

describe.each(databases.eachSupportedId())(
  'GET /v1/mcp-tools on %s',
  databaseId => {
    let standIn: LlamaStackStandIn;
    let plugin: TestPlugin;
    let logs: CapturedLogs;

    beforeEach(async () => {
      standIn = await LlamaStackStandIn.start({ toolgroupsApi: false });
      logs = new CapturedLogs();
      plugin = await startPlugin({
        knex: await databases.init(databaseId),
        llamaStackUrl: standIn.url,
        permission: policy,
        logs,
      });
      const servers = [
        [
          ALICE,
          {
            name: 'github',
            url: 'http://github.example/mcp',
            authorization_headers: { Authorization: 'client' },
          },
        ],
        [
          ALICE,
          {
            name: 'plain',
            url: 'http://plain.example/mcp',
            headers: ['x-request-id', 'Authorization', 'cookie'],
          },
        ],
        [
          ALICE,
          {
            name: 'cluster',
            url: 'http://k8s.example/mcp',
            authorization_headers: { 'X-Kube-Token': 'kubernetes' },
          },
        ],
        [BOB, { name: 'bobs', url: 'http://bob.example/mcp' }],
      ] as const;
      for (const [user, body] of servers) {
        expect(
          (
            await plugin.http
              .post(BASE)
              .set('authorization', mockCredentials.user.header(user))
              .send(body)
          ).status,
        ).toBe(201);
      }
    });

    afterEach(async () => {
      await plugin.stop();
      await standIn.stop();
    });

    function tools(user: string, headers: Record<string, string> = {}) {
      return plugin.http
        .get(TOOLS)
        .set('authorization', mockCredentials.user.header(user))
        .set(headers);
    }

    it('gives a user the Responses tools of the servers they may list, with headers resolved', async () => {
      const res = await tools(ALICE, {
        'MCP-HEADERS': JSON.stringify({
          github: { authorization: `Bearer ${SECRET}` },
          cluster: { 'x-kube-token': 'kube-token' },
        }),
        'x-request-id': 'req-7',
        cookie: 'session=backstage',
      });

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        tools: [
          {
            type: 'mcp',
            server_label: 'github',
            server_url: 'http://github.example/mcp',
            require_approval: 'never',
            authorization: SECRET,
          },
          // The caller's Backstage credentials are never propagated, even when
          // a server names them.
          {
            type: 'mcp',
            server_label: 'plain',
            server_url: 'http://plain.example/mcp',
            require_approval: 'never',
            headers: { 'x-request-id': 'req-7' },
          },
          {
            type: 'mcp',
            server_label: 'cluster',
            server_url: 'http://k8s.example/mcp',
            require_approval: 'never',
            headers: { 'X-Kube-Token': 'kube-token' },
          },
        ],
        skipped: [],
      });
    });

    it('skips a server whose header has no value, with a fixed reason', async () => {
      const res = await tools(ALICE, {
        'MCP-HEADERS': JSON.stringify({ github: { 'x-other': SECRET } }),
      });

      expect(res.status).toBe(200);
      expect(
        res.body.tools.map((t: { server_label: string }) => t.server_label),
      ).toEqual(['plain']);
      expect(res.body.skipped).toEqual([
        {
          server_label: 'github',
          reason:
            "no value for the client header 'Authorization' in MCP-HEADERS",
        },
        {
          server_label: 'cluster',
          reason:
            "no value for the kubernetes header 'X-Kube-Token' in MCP-HEADERS",
        },
      ]);
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    });

    it('answers the same to a backend plugin calling on behalf of the user', async () => {
      const res = await plugin.http.get(TOOLS).set(
        'authorization',
        mockCredentials.service.header({
          onBehalfOf: mockCredentials.user(BOB),
          targetPluginId: 'lightspeed-mcp',
        }),
      );
      expect(res.status).toBe(200);
      expect(
        res.body.tools.map((t: { server_label: string }) => t.server_label),
      ).toEqual(['bobs']);
    });

    it('answers 403 to a user who may not list servers', async () => {
      expect((await tools(NOBODY)).status).toBe(403);
    });

    it.each([
      ['not JSON', `{"github": ${SECRET}`],
      ['a JSON array', JSON.stringify([SECRET])],
      ['a string per server', JSON.stringify({ github: SECRET })],
      ['a number value', JSON.stringify({ github: { authorization: 42 } })],
      [
        'larger than 8 KiB',
        JSON.stringify({ github: { authorization: SECRET.repeat(500) } }),
      ],
    ])(
      'answers 400 to MCP-HEADERS that is %s, without repeating it',
      async (_, value) => {
        const res = await tools(ALICE, { 'MCP-HEADERS': value });
        expect(res.status).toBe(400);
        expect(res.body.error.name).toBe('InputError');
        expect(res.body.error.message).toMatch(/^MCP-HEADERS must be/);
        expect(JSON.stringify(res.body)).not.toContain(SECRET);
      },
    );

    it('never logs a header value', async () => {
      await tools(ALICE, {
        'MCP-HEADERS': JSON.stringify({
          github: { authorization: `Bearer ${SECRET}` },
        }),
        'x-request-id': SECRET,
      });
      await tools(ALICE, { 'MCP-HEADERS': `{"broken": "${SECRET}` });
      expect(logs.lines.length).toBeGreaterThan(0);
      expect(logs.text()).not.toContain(SECRET);
    });
  },
);

import { mockCredentials } from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  isPermission,
  PermissionCondition,
  PermissionCriteria,
  PolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { PermissionPolicy } from '@backstage/plugin-permission-node';
import { mcpServerRegisterPermission } from '../permissions/permissions';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions as is,
} from '../permissions/rules';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  AuditorEvent,
  BASE,
  createTestDatabases,
  startPlugin,
  TestPlugin,
} from '../testing/testBackend';

const databases = createTestDatabases();

const ADMIN = 'user:default/admin';
const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';

function as(userEntityRef: string) {
  return mockCredentials.user.header(userEntityRef);
}

type Conditions = PermissionCriteria<
  PermissionCondition<'lightspeed-mcp-server'>
>;

/**
 * The test's policy: register and everything for the admin are allowed; for
 * others, list, update and delete follow `conditionsFor` (undefined: deny).
 */
type Action = 'list' | 'update' | 'delete';
let conditionsFor: (
  action: Action,
  user: { ref: string; claims: string[] },
) => Conditions | undefined;
const ACTIONS: Record<string, Action> = {
  read: 'list',
  update: 'update',
  delete: 'delete',
};

const policy: PermissionPolicy = {
  async handle(request, user): Promise<PolicyDecision> {
    const ref = user?.info.userEntityRef ?? '';
    if (
      isPermission(request.permission, mcpServerRegisterPermission) ||
      ref === ADMIN
    ) {
      return { result: AuthorizeResult.ALLOW };
    }
    const action = ACTIONS[request.permission.attributes.action ?? ''];
    const conditions = conditionsFor(action, {
      ref,
      claims: user?.info.ownershipEntityRefs ?? [],
    });
    return conditions
      ? createMcpServerConditionalDecision(
          request.permission as ResourcePermission<'lightspeed-mcp-server'>,
          conditions,
        )
      : { result: AuthorizeResult.DENY };
  },
};

const STATIC_SERVERS = [
  { name: 'docs', url: 'https://docs.example.com/mcp' },
  { name: 'jira', url: 'https://jira.example.com/mcp' },
];

describe.each(databases.eachSupportedId())(
  'conditional permissions and audit on %s',
  databaseId => {
    let standIn: LlamaStackStandIn;
    let plugin: TestPlugin;
    let auditEvents: AuditorEvent[];

    beforeEach(async () => {
      standIn = await LlamaStackStandIn.start();
      auditEvents = [];
      plugin = await startPlugin({
        knex: await databases.init(databaseId),
        llamaStackUrl: standIn.url,
        permission: policy,
        config: { mcpServers: STATIC_SERVERS },
        auditEvents,
      });
      conditionsFor = () => undefined;
      for (const [user, name] of [
        [ALICE, 'team-a-search'],
        [ALICE, 'alice-notes'],
        [BOB, 'team-a-wiki'],
        [BOB, 'bob-tools'],
      ]) {
        const res = await plugin.http
          .post(BASE)
          .set('authorization', as(user))
          .send({ name, url: `http://${name}.example/mcp` });
        expect(res.status).toBe(201);
      }
    });

    afterEach(async () => {
      await plugin.stop();
      await standIn.stop();
    });

    async function listAs(user: string) {
      const res = await plugin.http.get(BASE).set('authorization', as(user));
      return {
        status: res.status,
        names: res.body.servers?.map((s: { name: string }) => s.name),
      };
    }

    function deleteAs(user: string, name: string) {
      return plugin.http
        .delete(`${BASE}/${encodeURIComponent(name)}`)
        .set('authorization', as(user));
    }

    it('shows an admin every server', async () => {
      expect(await listAs(ADMIN)).toEqual({
        status: 200,
        names: [
          'docs',
          'jira',
          'team-a-search',
          'alice-notes',
          'team-a-wiki',
          'bob-tools',
        ],
      });
    });

    it('answers 403 to a user whose list permission is denied', async () => {
      expect((await listAs(ALICE)).status).toBe(403);
    });

    it.each<[string, Conditions, string[]]>([
      [
        'the owner (config servers have none)',
        is.isOwner({ claims: [ALICE] }),
        ['team-a-search', 'alice-notes'],
      ],
      [
        'owner refs compared case-insensitively',
        is.isOwner({ claims: ['User:Default/Bob'] }),
        ['team-a-wiki', 'bob-tools'],
      ],
      ['no claims: nothing', is.isOwner({ claims: [] }), []],
      [
        'source api',
        is.hasSource({ source: 'api' }),
        ['team-a-search', 'alice-notes', 'team-a-wiki', 'bob-tools'],
      ],
      ['source config', is.hasSource({ source: 'config' }), ['docs', 'jira']],
      [
        'a name prefix',
        is.hasNamePrefix({ prefix: 'team-a-' }),
        ['team-a-search', 'team-a-wiki'],
      ],
      // A LIKE pattern would let "_" match the "-".
      [
        'a name prefix taken literally',
        is.hasNamePrefix({ prefix: 'team_a' }),
        [],
      ],
      [
        'a name prefix taken case-sensitively',
        is.hasNamePrefix({ prefix: 'TEAM-A-' }),
        [],
      ],
      [
        'allOf with not',
        {
          allOf: [
            is.hasSource({ source: 'api' }),
            { not: is.hasNamePrefix({ prefix: 'team-a-' }) },
          ],
        },
        ['alice-notes', 'bob-tools'],
      ],
      [
        'anyOf of allOf',
        {
          anyOf: [
            {
              allOf: [
                is.isOwner({ claims: [BOB] }),
                is.hasNamePrefix({ prefix: 'team-a-' }),
              ],
            },
            is.hasNamePrefix({ prefix: 'doc' }),
          ],
        },
        ['docs', 'team-a-wiki'],
      ],
      [
        'not of anyOf',
        {
          not: {
            anyOf: [
              is.hasSource({ source: 'config' }),
              is.isOwner({ claims: [ALICE] }),
            ],
          },
        },
        ['team-a-wiki', 'bob-tools'],
      ],
    ])('lists with a condition on %s', async (_, conditions, expected) => {
      conditionsFor = action => (action === 'list' ? conditions : undefined);
      const { status, names } = await listAs(ALICE);
      expect(status).toBe(200);
      expect(names).toEqual(expected);
    });

    it('lists own servers and config servers with anyOf(IS_OWNER, HAS_SOURCE config)', async () => {
      conditionsFor = (action, user) =>
        action === 'list'
          ? {
              anyOf: [
                is.isOwner({ claims: user.claims }),
                is.hasSource({ source: 'config' }),
              ],
            }
          : undefined;
      expect(await listAs(ALICE)).toEqual({
        status: 200,
        names: ['docs', 'jira', 'team-a-search', 'alice-notes'],
      });
      expect(await listAs(BOB)).toEqual({
        status: 200,
        names: ['docs', 'jira', 'team-a-wiki', 'bob-tools'],
      });
    });

    it('lets an owner delete only their own servers', async () => {
      conditionsFor = (action, user) =>
        action === 'delete' ? is.isOwner({ claims: user.claims }) : undefined;

      const others = await deleteAs(ALICE, 'bob-tools');
      const config = await deleteAs(ALICE, 'docs');
      const own = await deleteAs(ALICE, 'alice-notes');

      expect(others.status).toBe(403);
      expect(others.body.error.message).toBe(
        "Permission 'lightspeed.mcp-server.delete' is not granted for MCP server 'bob-tools'",
      );
      expect(config.status).toBe(403);
      expect(own.status).toBe(200);
      expect(
        standIn.writeCalls().filter(call => call.startsWith('DELETE')),
      ).toEqual(['DELETE /v1/toolgroups/alice-notes']);
      expect((await listAs(ADMIN)).names).toEqual([
        'docs',
        'jira',
        'team-a-search',
        'team-a-wiki',
        'bob-tools',
      ]);
    });

    it('lets an owner change only their own servers, and see only those one by one', async () => {
      conditionsFor = (action, user) =>
        action === 'delete' ? undefined : is.isOwner({ claims: user.claims });
      const patchAs = (user: string, name: string) =>
        plugin.http
          .patch(`${BASE}/${name}`)
          .set('authorization', as(user))
          .send({ url: 'http://moved.example/mcp' });
      standIn.calls.length = 0;

      const others = await patchAs(ALICE, 'bob-tools');
      const own = await patchAs(ALICE, 'alice-notes');

      expect(others.status).toBe(403);
      expect(others.body.error.message).toBe(
        "Permission 'lightspeed.mcp-server.update' is not granted for MCP server 'bob-tools'",
      );
      expect(own.status).toBe(200);
      expect(standIn.writeCalls()).toEqual([
        'DELETE /v1/toolgroups/alice-notes',
        'POST /v1/toolgroups',
      ]);
      expect(standIn.toolgroups.get('bob-tools')?.mcp_endpoint).toEqual({
        uri: 'http://bob-tools.example/mcp',
      });
      // A server the condition hides is as unknown as a missing one.
      const hidden = await plugin.http
        .get(`${BASE}/bob-tools`)
        .set('authorization', as(ALICE));
      expect(hidden.status).toBe(404);
      expect(
        (
          await plugin.http
            .get(`${BASE}/alice-notes`)
            .set('authorization', as(ALICE))
        ).body.url,
      ).toBe('http://moved.example/mcp');
    });

    it('answers 404 to a conditional delete of an unknown name and 403 to a denied one', async () => {
      conditionsFor = (action, user) =>
        action === 'delete' ? is.isOwner({ claims: user.claims }) : undefined;
      expect((await deleteAs(ALICE, 'ghost')).status).toBe(404);
      conditionsFor = () => undefined;
      expect((await deleteAs(ALICE, 'ghost')).status).toBe(403);
    });

    it('lets an admin delete any server', async () => {
      expect((await deleteAs(ADMIN, 'bob-tools')).status).toBe(200);
      expect(standIn.toolgroups.has('bob-tools')).toBe(false);
    });

    it('publishes the resource type with its rules and their params schemas', async () => {
      const res = await plugin.http
        .get('/api/lightspeed-mcp/.well-known/backstage/permissions/metadata')
        .set('authorization', mockCredentials.service.header());

      expect(res.status).toBe(200);
      expect(
        res.body.permissions.map(
          (p: { name: string; type: string }) => `${p.type}:${p.name}`,
        ),
      ).toEqual([
        'basic:lightspeed.mcp-server.register',
        'resource:lightspeed.mcp-server.list',
        'resource:lightspeed.mcp-server.update',
        'resource:lightspeed.mcp-server.delete',
      ]);
      const rules = Object.fromEntries(
        res.body.rules.map(
          (r: { name: string; resourceType: string; paramsSchema: any }) => [
            r.name,
            r,
          ],
        ),
      );
      expect(Object.keys(rules).sort()).toEqual([
        'HAS_NAME_PREFIX',
        'HAS_SOURCE',
        'IS_OWNER',
      ]);
      for (const rule of Object.values(rules) as Array<{
        resourceType: string;
      }>) {
        expect(rule.resourceType).toBe('lightspeed-mcp-server');
      }
      expect(rules.IS_OWNER.paramsSchema.properties.claims).toMatchObject({
        type: 'array',
        items: { type: 'string' },
      });
      expect(rules.HAS_SOURCE.paramsSchema.properties.source).toMatchObject({
        enum: ['config', 'api'],
      });
      expect(
        rules.HAS_NAME_PREFIX.paramsSchema.properties.prefix,
      ).toMatchObject({ type: 'string', minLength: 1 });
    });

    it('records an audit event for allowed, denied and failed registers and deletes', async () => {
      conditionsFor = (action, user) =>
        action === 'delete' ? is.isOwner({ claims: user.claims }) : undefined;
      auditEvents.length = 0;
      standIn.inject(
        { status: 500, message: 'UPSTREAM-DETAIL' },
        { method: 'POST', times: 1 },
      );

      await plugin.http
        .post(BASE)
        .set('authorization', as(BOB))
        .send({ name: 'fails', url: 'http://f.example/mcp' });
      await plugin.http
        .post(BASE)
        .set('authorization', as(BOB))
        .send({ name: 'bad name ', url: 'http://f.example/mcp' });
      await deleteAs(ALICE, 'bob-tools');
      await deleteAs(BOB, 'bob-tools');

      const outcomes = auditEvents
        .filter(e => e.status !== 'initiated')
        .map(e => ({
          eventId: e.eventId,
          actor: e.actor.actorId,
          status: e.status,
          name: e.meta?.name,
          reason: e.meta?.reason,
        }));
      expect(outcomes).toEqual([
        {
          eventId: 'mcp-server-register',
          actor: BOB,
          status: 'failed',
          name: 'fails',
          reason:
            "Llama Stack is unavailable; MCP server 'fails' was not registered",
        },
        {
          eventId: 'mcp-server-register',
          actor: BOB,
          status: 'failed',
          name: undefined,
          reason: expect.stringContaining(
            "'name' must start with a letter or digit",
          ),
        },
        {
          eventId: 'mcp-server-delete',
          actor: ALICE,
          status: 'failed',
          name: 'bob-tools',
          reason:
            "Permission 'lightspeed.mcp-server.delete' is not granted for MCP server 'bob-tools'",
        },
        {
          eventId: 'mcp-server-delete',
          actor: BOB,
          status: 'succeeded',
          name: 'bob-tools',
          reason: undefined,
        },
      ]);
      expect(JSON.stringify(auditEvents)).not.toContain('UPSTREAM-DETAIL');
      expect(JSON.stringify(auditEvents)).not.toMatch(/Bearer|mock-user-token/);
    });

    it('records an unexpected failure without its text', async () => {
      conditionsFor = () => {
        throw new Error('POLICY-INTERNAL-DETAIL');
      };
      auditEvents.length = 0;

      const res = await deleteAs(ALICE, 'alice-notes');

      expect(res.status).toBe(500);
      const failed = auditEvents.find(e => e.status === 'failed');
      expect(failed).toMatchObject({
        eventId: 'mcp-server-delete',
        meta: { name: 'alice-notes', reason: 'An internal error occurred' },
      });
      expect(JSON.stringify(auditEvents)).not.toContain(
        'POLICY-INTERNAL-DETAIL',
      );
    });

    it('records a successful register with its actor and name', async () => {
      auditEvents.length = 0;
      await plugin.http
        .post(BASE)
        .set('authorization', as(ALICE))
        .send({ name: 'new-one', url: 'http://n.example/mcp' });
      expect(
        auditEvents.map(e => [
          e.eventId,
          e.status,
          e.actor.actorId,
          e.meta?.name,
        ]),
      ).toEqual([
        ['mcp-server-register', 'initiated', ALICE, undefined],
        ['mcp-server-register', 'succeeded', ALICE, 'new-one'],
      ]);
    });

    it('records updates with the changed fields and checks with their result, never the URL', async () => {
      conditionsFor = (action, user) =>
        action === 'delete' ? undefined : is.isOwner({ claims: user.claims });
      auditEvents.length = 0;

      await plugin.http
        .patch(`${BASE}/alice-notes`)
        .set('authorization', as(ALICE))
        .send({ url: 'http://secret-host.example/mcp', timeout: 9 });
      await plugin.http
        .patch(`${BASE}/bob-tools`)
        .set('authorization', as(ALICE))
        .send({ timeout: 9 });
      await plugin.http
        .post(`${BASE}/alice-notes/check`)
        .set('authorization', as(ALICE));

      expect(
        auditEvents
          .filter(e => e.status !== 'initiated')
          .map(e => [e.eventId, e.status, e.actor.actorId, e.meta]),
      ).toEqual([
        [
          'mcp-server-update',
          'succeeded',
          ALICE,
          { name: 'alice-notes', fields: ['url', 'timeout'] },
        ],
        [
          'mcp-server-update',
          'failed',
          ALICE,
          {
            name: 'bob-tools',
            fields: ['timeout'],
            reason:
              "Permission 'lightspeed.mcp-server.update' is not granted for MCP server 'bob-tools'",
          },
        ],
        [
          'mcp-server-check',
          'succeeded',
          ALICE,
          { name: 'alice-notes', status: 'unreachable' },
        ],
      ]);
      expect(JSON.stringify(auditEvents)).not.toContain('secret-host');
    });
  },
);

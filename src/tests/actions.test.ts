import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  isPermission,
  PolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { PermissionPolicy } from '@backstage/plugin-permission-node';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { lightspeedMcpPlugin } from '../plugin';
import {
  mcpServerListPermission,
  mcpServerRegisterPermission,
} from '../permissions/permissions';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions,
} from '../permissions/rules';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import { policyModule } from '../testing/policyModule';
import {
  BASE,
  createTestDatabases,
  httpAuthLikeReal,
} from '../testing/testBackend';

const databases = createTestDatabases();

const ADMIN = 'user:default/admin';
const ALICE = 'user:default/alice';
const MALLORY = 'user:default/mallory';

/**
 * The admin may do everything; Alice may register, and list (or check) only
 * the servers she registered; Mallory may do nothing.
 */
const policy: PermissionPolicy = {
  async handle(req, user): Promise<PolicyDecision> {
    const ref = user?.info.userEntityRef;
    if (ref === ADMIN) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (ref === ALICE) {
      if (isPermission(req.permission, mcpServerRegisterPermission)) {
        return { result: AuthorizeResult.ALLOW };
      }
      if (isPermission(req.permission, mcpServerListPermission)) {
        return createMcpServerConditionalDecision(
          req.permission as ResourcePermission<'lightspeed-mcp-server'>,
          mcpServerConditions.isOwner({ claims: [ALICE] }),
        );
      }
      if (req.permission.attributes.action === 'delete') {
        return createMcpServerConditionalDecision(
          req.permission as ResourcePermission<'lightspeed-mcp-server'>,
          mcpServerConditions.isOwner({ claims: [ALICE] }),
        );
      }
    }
    return { result: AuthorizeResult.DENY };
  },
};

const STATIC_SERVERS = [{ name: 'docs', url: 'https://docs.example.com/mcp' }];

/** Tool names as the MCP actions backend namespaces them by default. */
const tool = (action: string) => `lightspeed-mcp.${action}`;

describe.each(databases.eachSupportedId())(
  'actions through the MCP actions backend on %s',
  databaseId => {
    let standIn: LlamaStackStandIn;
    let backend: Awaited<ReturnType<typeof startTestBackend>> | undefined;
    const clients: Client[] = [];

    beforeEach(async () => {
      standIn = await LlamaStackStandIn.start();
    });

    afterEach(async () => {
      await Promise.all(clients.splice(0).map(c => c.close()));
      await backend?.stop();
      backend = undefined;
      await standIn.stop();
      expect(standIn.schemaViolations).toEqual([]);
    });

    async function start(options: { allowWrites?: boolean } = {}) {
      backend = await startTestBackend({
        features: [
          lightspeedMcpPlugin,
          import('@backstage/plugin-mcp-actions-backend'),
          import('@backstage/plugin-permission-backend'),
          policyModule('test-policy', policy),
          httpAuthLikeReal,
          mockServices.database.factory({
            knex: await databases.init(databaseId),
          }),
          mockServices.rootConfig.factory({
            data: {
              // What the MCP actions backend needs to serve this plugin's
              // actions.
              backend: { actions: { pluginSources: ['lightspeed-mcp'] } },
              permission: { enabled: true },
              lightspeedMcp: {
                llamaStack: {
                  baseUrl: standIn.url,
                  timeout: { milliseconds: 1500 },
                },
                mcpServers: STATIC_SERVERS,
                ...(options.allowWrites !== undefined && {
                  actions: { allowWrites: options.allowWrites },
                }),
              },
            },
          }),
        ],
      });
      return backend;
    }

    /** Registers through the HTTP API, as `user`. */
    async function registerOverHttp(user: string, name: string) {
      const res = await request(backend!.server)
        .post(BASE)
        .set('authorization', mockCredentials.user.header(user))
        .send({ name, url: `http://${name}.example/mcp` });
      expect(res.status).toBe(201);
    }

    /** An MCP client of the MCP actions backend, signed in as `user`. */
    async function mcpClientAs(user: string): Promise<Client> {
      const { port } = backend!.server.address() as AddressInfo;
      const transport = new StreamableHTTPClientTransport(
        new URL(`http://localhost:${port}/api/mcp-actions/v1`),
        {
          requestInit: {
            headers: { authorization: mockCredentials.user.header(user) },
          },
        },
      );
      const client = new Client({ name: 'actions-test', version: '1.0.0' });
      await client.connect(transport);
      clients.push(client);
      return client;
    }

    async function listToolsAs(user: string) {
      const { tools } = await (await mcpClientAs(user)).listTools();
      return tools;
    }

    it('offers the read actions as tools, with honest hints, and no writes by default', async () => {
      await start();

      const tools = await listToolsAs(ALICE);

      expect(
        Object.fromEntries(
          tools.map(t => [
            t.name,
            {
              readOnly: t.annotations?.readOnlyHint,
              destructive: t.annotations?.destructiveHint,
              idempotent: t.annotations?.idempotentHint,
            },
          ]),
        ),
      ).toEqual({
        [tool('list-mcp-servers')]: {
          readOnly: true,
          destructive: false,
          idempotent: true,
        },
        [tool('get-mcp-server')]: {
          readOnly: true,
          destructive: false,
          idempotent: true,
        },
        [tool('check-mcp-server')]: {
          readOnly: false,
          destructive: false,
          idempotent: true,
        },
      });
      expect(
        tools.find(t => t.name === tool('list-mcp-servers'))?.inputSchema
          .properties,
      ).toEqual({
        name_prefix: expect.objectContaining({ type: 'string' }),
        limit: expect.objectContaining({ type: 'number' }),
        cursor: expect.objectContaining({ type: 'string' }),
      });
    });

    it('lists servers through the permission decision of the caller, by name prefix and in pages', async () => {
      await start();
      await registerOverHttp(ALICE, 'team-a-search');
      await registerOverHttp(ALICE, 'alice-notes');
      await registerOverHttp(ADMIN, 'team-a-wiki');
      await registerOverHttp(ALICE, 'team-a-tickets');

      const admin = await mcpClientAs(ADMIN);
      const alice = await mcpClientAs(ALICE);
      const names = (result: any) =>
        result.structuredContent.servers.map((s: any) => s.name);

      const all = await admin.callTool({
        name: tool('list-mcp-servers'),
        arguments: {},
      });
      expect(all.isError).toBeFalsy();
      expect(names(all)).toEqual([
        'docs',
        'team-a-search',
        'alice-notes',
        'team-a-wiki',
        'team-a-tickets',
      ]);
      expect(all.structuredContent).not.toHaveProperty('next_cursor');
      expect((all.structuredContent as any).servers[1]).toEqual({
        name: 'team-a-search',
        url: 'http://team-a-search.example/mcp',
        provider_id: 'model-context-protocol',
        source: 'api',
        status: 'registered',
        created_by: ALICE,
        created_at: expect.any(String),
      });

      // Alice sees her own servers only, the prefix narrows them further.
      const first = await alice.callTool({
        name: tool('list-mcp-servers'),
        arguments: { name_prefix: 'team-a-', limit: 1 },
      });
      expect(names(first)).toEqual(['team-a-search']);
      const next = await alice.callTool({
        name: tool('list-mcp-servers'),
        arguments: {
          name_prefix: 'team-a-',
          limit: 1,
          cursor: (first.structuredContent as any).next_cursor,
        },
      });
      expect(names(next)).toEqual(['team-a-tickets']);
      expect(next.structuredContent).not.toHaveProperty('next_cursor');

      // A server she may not see is as unknown as a missing one.
      const hidden = await alice.callTool({
        name: tool('get-mcp-server'),
        arguments: { name: 'team-a-wiki' },
      });
      expect(hidden).toMatchObject({
        isError: true,
        content: [
          {
            type: 'text',
            text: "NotFoundError: MCP server 'team-a-wiki' is not registered",
          },
        ],
      });
    });

    it('answers a denied caller with an error result, not data', async () => {
      await start();
      await registerOverHttp(ADMIN, 'team-a-wiki');

      const mallory = await mcpClientAs(MALLORY);
      const result = await mallory.callTool({
        name: tool('list-mcp-servers'),
        arguments: {},
      });

      expect(result).toEqual({
        isError: true,
        content: [
          {
            type: 'text',
            text: "NotAllowedError: Permission 'lightspeed.mcp-server.list' is not granted",
          },
        ],
      });
      expect(JSON.stringify(result)).not.toContain('team-a-wiki');
    });

    it('answers invalid input with the message of the HTTP API', async () => {
      await start();

      const result = await (
        await mcpClientAs(ADMIN)
      ).callTool({
        name: tool('list-mcp-servers'),
        arguments: { name_prefix: 'team/a' },
      });

      expect(result.isError).toBe(true);
      expect((result.content as any)[0].text).toMatch(
        /^InputError: Invalid MCP server name prefix: 'name_prefix' must start with a letter or digit/,
      );
    });

    it('with allowWrites, registers and unregisters through the actions, as the caller', async () => {
      await start({ allowWrites: true });

      expect((await listToolsAs(ALICE)).map(t => t.name)).toEqual(
        expect.arrayContaining([
          tool('register-mcp-server'),
          tool('unregister-mcp-server'),
        ]),
      );
      // Callers who may not register do not see the tool.
      expect((await listToolsAs(MALLORY)).map(t => t.name)).not.toContain(
        tool('register-mcp-server'),
      );

      const alice = await mcpClientAs(ALICE);
      const registered = await alice.callTool({
        name: tool('register-mcp-server'),
        arguments: {
          name: 'team-a-agent',
          url: 'http://team-a-agent.example/mcp',
          authorization_headers: { Authorization: 'client' },
        },
      });

      expect(registered.isError).toBeFalsy();
      expect(registered.structuredContent).toEqual({
        name: 'team-a-agent',
        url: 'http://team-a-agent.example/mcp',
        provider_id: 'model-context-protocol',
        source: 'api',
        status: 'registered',
        authorization_headers: { Authorization: 'client' },
        created_by: ALICE,
        created_at: expect.any(String),
        message: "MCP server 'team-a-agent' registered successfully",
      });
      expect(standIn.toolgroups.has('team-a-agent')).toBe(true);
      const listed = await request(backend!.server)
        .get(`${BASE}/team-a-agent`)
        .set('authorization', mockCredentials.user.header(ADMIN));
      expect(listed.status).toBe(200);
      expect(listed.body.created_by).toBe(ALICE);

      const unregistered = await alice.callTool({
        name: tool('unregister-mcp-server'),
        arguments: { name: 'team-a-agent' },
      });
      expect(unregistered.structuredContent).toEqual({
        name: 'team-a-agent',
        message: "MCP server 'team-a-agent' unregistered successfully",
      });
      expect(standIn.toolgroups.has('team-a-agent')).toBe(false);

      // The second time there is nothing left to remove.
      const again = await alice.callTool({
        name: tool('unregister-mcp-server'),
        arguments: { name: 'team-a-agent' },
      });
      expect(again).toMatchObject({
        isError: true,
        content: [{ text: expect.stringMatching(/^NotFoundError: /) }],
      });
    });
  },
);

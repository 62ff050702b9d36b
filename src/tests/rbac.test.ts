/**
 * The plugin behind Red Hat Developer Hub's RBAC backend
 * (@backstage-community/plugin-rbac-backend 6.1), with its policies from a CSV
 * file and a conditional policy file, and users and groups from a real catalog
 * backend. Everything goes through HTTP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { databaseServiceFactory } from '@backstage/backend-defaults/database';
import { DefaultAuditorService } from '@backstage/backend-defaults/auditor';
import { JsonObject } from '@backstage/types';
import request from 'supertest';
import { withOpenApiCheck } from '../testing/openApiValidator';
import { lightspeedMcpPlugin } from '../plugin';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import { dropDatabases } from '../testing/localResources';
import {
  AuditorEvent,
  BASE,
  CapturedLogs,
  httpAuthLikeReal,
} from '../testing/testBackend';

/**
 * Connections nobody closes: the RBAC backend opens its own knex clients (a
 * DatabaseManager without lifecycle) and a TypeORM data source (its casbin
 * adapter), and Backstage's DatabaseManager never destroys SQLite clients at
 * shutdown. Each keeps a timer or socket that stops jest from exiting, so the
 * test records them and closes whatever is still open after the backend
 * stopped.
 */
const openedKnexClients = new Set<{ destroy(): Promise<void> }>();
const openedDataSources = new Set<{
  isInitialized: boolean;
  destroy(): Promise<void>;
}>();
{
  const { Client } = require('knex') as {
    Client: { prototype: { initializePool(config: unknown): void } };
  };
  const initializePool = Client.prototype.initializePool;
  Client.prototype.initializePool = function (this: any, config: unknown) {
    openedKnexClients.add(this);
    return initializePool.call(this, config);
  };
  const { DataSource } = require('typeorm') as {
    DataSource: { prototype: { initialize(): Promise<unknown> } };
  };
  const initialize = DataSource.prototype.initialize;
  DataSource.prototype.initialize = function (this: any) {
    openedDataSources.add(this);
    return initialize.call(this);
  };
}

async function closeLeftoverConnections() {
  for (const dataSource of openedDataSources) {
    if (dataSource.isInitialized) await dataSource.destroy();
  }
  openedDataSources.clear();
  await Promise.all([...openedKnexClients].map(client => client.destroy()));
  openedKnexClients.clear();
}

const PG_URL = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;

const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';
const ADMIN = 'user:default/admin';
const CAROL = 'user:default/carol';

const ORG_YAML = `
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: team-a }
spec: { type: team, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: team-b }
spec: { type: team, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: platform }
spec: { type: team, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: alice }
spec: { memberOf: [team-a] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: bob }
spec: { memberOf: [team-b] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: admin }
spec: { memberOf: [platform] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: carol }
spec: { memberOf: [team-a] }
`;

// alice gets her role directly, bob and admin through a catalog group (so group
// membership is resolved from the catalog). carol is in team-a, which has no
// role.
const POLICY_CSV = `
p, role:default/mcp-users, lightspeed.mcp-server.register, create, allow
p, role:default/mcp-users, lightspeed.mcp-server.list, read, allow
p, role:default/mcp-admins, lightspeed.mcp-server.register, create, allow
p, role:default/mcp-admins, lightspeed.mcp-server.list, read, allow
p, role:default/mcp-admins, lightspeed.mcp-server.delete, delete, allow
g, user:default/alice, role:default/mcp-users
g, group:default/team-b, role:default/mcp-users
g, group:default/platform, role:default/mcp-admins
`;

const CONDITIONAL_POLICIES_YAML = `
result: CONDITIONAL
roleEntityRef: 'role:default/mcp-users'
pluginId: lightspeed-mcp
resourceType: lightspeed-mcp-server
permissionMapping:
  - delete
conditions:
  rule: IS_OWNER
  resourceType: lightspeed-mcp-server
  params:
    claims:
      - $currentUser
`;

type DbKind = 'SQLite' | 'PostgreSQL';
const KINDS: DbKind[] = PG_URL ? ['SQLite', 'PostgreSQL'] : ['SQLite'];

function databaseConfig(kind: DbKind, dir: string, prefix: string): JsonObject {
  if (kind === 'SQLite') {
    // A directory, not ':memory:': the RBAC backend opens the catalog's and its
    // own databases with a DatabaseManager of its own, so they must be files it
    // can find again.
    return { client: 'better-sqlite3', connection: { directory: dir } };
  }
  const url = new URL(PG_URL!);
  return {
    client: 'pg',
    // The RBAC backend refuses a connection string and requires a password
    // (trust auth ignores it).
    connection: {
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password) || 'unused',
    },
    prefix,
  };
}

describe.each(KINDS)('RBAC backend on %s', kind => {
  let dir: string;
  let prefix: string;
  let standIn: LlamaStackStandIn;
  let backend: Awaited<ReturnType<typeof startTestBackend>>;
  let http: ReturnType<typeof request>;
  const logs = new CapturedLogs();
  const auditEvents: AuditorEvent[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbac-test-'));
    prefix = `rbactest_${process.pid}_${Date.now()}_`;
    fs.writeFileSync(path.join(dir, 'org.yaml'), ORG_YAML);
    fs.writeFileSync(path.join(dir, 'rbac-policy.csv'), POLICY_CSV);
    fs.writeFileSync(
      path.join(dir, 'conditional-policies.yaml'),
      CONDITIONAL_POLICIES_YAML,
    );
    standIn = await LlamaStackStandIn.start();

    backend = await startTestBackend({
      features: [
        lightspeedMcpPlugin,
        import('@backstage/plugin-catalog-backend'),
        import('@backstage-community/plugin-rbac-backend'),
        mockServices.rootConfig.factory({
          data: {
            backend: { database: databaseConfig(kind, dir, prefix) },
            permission: {
              enabled: true,
              rbac: {
                'policies-csv-file': path.join(dir, 'rbac-policy.csv'),
                conditionalPoliciesFile: path.join(
                  dir,
                  'conditional-policies.yaml',
                ),
                pluginsWithPermission: ['lightspeed-mcp'],
                admin: { users: [{ name: ADMIN }] },
              },
            },
            catalog: {
              rules: [{ allow: ['User', 'Group'] }],
              locations: [{ type: 'file', target: path.join(dir, 'org.yaml') }],
              processingInterval: { seconds: 1 },
            },
            lightspeedMcp: {
              llamaStack: {
                baseUrl: standIn.url,
                timeout: { milliseconds: 1500 },
              },
            },
          },
        }),
        databaseServiceFactory,
        httpAuthLikeReal,
        createServiceFactory({
          service: coreServices.rootLogger,
          deps: {},
          factory: () => logs.logger(),
        }),
        createServiceFactory({
          service: coreServices.auditor,
          deps: {
            auth: coreServices.auth,
            httpAuth: coreServices.httpAuth,
            plugin: coreServices.pluginMetadata,
          },
          factory: deps =>
            DefaultAuditorService.create(
              event => void auditEvents.push(event),
              deps,
            ),
        }),
      ],
    });
    http = withOpenApiCheck(request(backend.server));
    await waitForCatalog();
  }, 120_000);

  afterAll(async () => {
    await backend?.stop();
    await standIn?.stop();
    await closeLeftoverConnections();
    if (kind === 'PostgreSQL') {
      await dropDatabases(PG_URL!, prefix);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      console.log(
        `${logs.text()}\n--- audit failures ---\n${JSON.stringify(
          auditEvents.filter(e => e.status === 'failed'),
          null,
          1,
        )}`,
      );
    }
  });

  async function waitForCatalog() {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await http
        .get('/api/catalog/entities/by-query')
        .query({ filter: 'kind=group,relations.hasMember=user:default/bob' })
        .set('authorization', mockCredentials.service.header());
      if (res.status === 200 && res.body.items?.length === 1) return;
      if (Date.now() > deadline)
        throw new Error(
          `catalog never held bob's group: ${res.status} ${JSON.stringify(res.body)}`,
        );
      await new Promise(r => setTimeout(r, 500));
    }
  }

  const as = (user: string) => mockCredentials.user.header(user);
  const register = (user: string, name: string) =>
    http
      .post(BASE)
      .set('authorization', as(user))
      .send({ name, url: `http://${name}.example/mcp` });
  const remove = (user: string, name: string) =>
    http.delete(`${BASE}/${name}`).set('authorization', as(user));

  it('loaded the conditional policy from the file', async () => {
    const res = await http
      .get('/api/permission/roles/conditions')
      .set('authorization', as(ADMIN));
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      expect.objectContaining({
        roleEntityRef: 'role:default/mcp-users',
        pluginId: 'lightspeed-mcp',
        resourceType: 'lightspeed-mcp-server',
        permissionMapping: ['delete'],
        conditions: {
          rule: 'IS_OWNER',
          resourceType: 'lightspeed-mcp-server',
          params: { claims: ['$currentUser'] },
        },
      }),
    ]);
  });

  it('applies CSV roles, group membership from the catalog and the conditional delete policy', async () => {
    expect((await register(ALICE, 'alice-tools')).status).toBe(201);
    expect((await register(BOB, 'bob-tools')).status).toBe(201);

    const denied = await remove(ALICE, 'bob-tools');
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toBe(
      "Permission 'lightspeed.mcp-server.delete' is not granted for MCP server 'bob-tools'",
    );
    expect((await remove(ALICE, 'alice-tools')).status).toBe(200);
    expect((await remove(ADMIN, 'bob-tools')).status).toBe(200);
    expect(standIn.writeCalls().filter(c => c.startsWith('DELETE'))).toEqual([
      'DELETE /v1/toolgroups/alice-tools',
      'DELETE /v1/toolgroups/bob-tools',
    ]);

    expect((await register(CAROL, 'carol-tools')).status).toBe(403);
    expect((await http.get(BASE).set('authorization', as(CAROL))).status).toBe(
      403,
    );
    expect((await http.get(BASE).set('authorization', as(BOB))).status).toBe(
      200,
    );
  });
});

import { AuthorizeResult, isPermission } from '@backstage/plugin-permission-common';
import { PermissionPolicy } from '@backstage/plugin-permission-node';
import { mockCredentials } from '@backstage/backend-test-utils';
import { mcpServerDeletePermission } from './permissions';
import { LlamaStackStandIn } from './testing/llamaStackStandIn';
import { BASE, createTestDatabases, startPlugin, TestPlugin } from './testing/testBackend';

const databases = createTestDatabases();

const ADMIN = 'user:default/admin';
const alice = mockCredentials.user.header('user:default/alice');
const admin = mockCredentials.user.header(ADMIN);

/** Everyone may register and list; only the admin may delete. */
const policy: PermissionPolicy = {
  async handle(request, user) {
    if (isPermission(request.permission, mcpServerDeletePermission)) {
      return { result: user?.info.userEntityRef === ADMIN ? AuthorizeResult.ALLOW : AuthorizeResult.DENY };
    }
    return { result: AuthorizeResult.ALLOW };
  },
};

describe.each(databases.eachSupportedId())('with the real permission backend on %s', databaseId => {
  let standIn: LlamaStackStandIn;
  let plugin: TestPlugin;

  beforeEach(async () => {
    standIn = await LlamaStackStandIn.start();
    plugin = await startPlugin({ knex: await databases.init(databaseId), llamaStackUrl: standIn.url, permission: policy });
  });

  afterEach(async () => {
    await plugin.stop();
    await standIn.stop();
  });

  it("applies the policy's decision per user and action", async () => {
    const registered = await plugin.http.post(BASE).set('authorization', alice).send({ name: 's', url: 'http://s.example/mcp' });
    expect(registered.status).toBe(201);

    const deniedDelete = await plugin.http.delete(`${BASE}/s`).set('authorization', alice);
    expect(deniedDelete.status).toBe(403);
    expect(standIn.toolgroups.has('s')).toBe(true);
    expect(standIn.writeCalls()).toEqual(['POST /v1/toolgroups']);

    const list = await plugin.http.get(BASE).set('authorization', alice);
    expect(list.body.servers.map((s: { name: string }) => s.name)).toEqual(['s']);

    const allowedDelete = await plugin.http.delete(`${BASE}/s`).set('authorization', admin);
    expect(allowedDelete.status).toBe(200);
    expect(standIn.toolgroups.has('s')).toBe(false);
  });
});

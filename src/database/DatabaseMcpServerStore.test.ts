import { Knex } from 'knex';
import { createTestDatabases } from '../testing/testBackend';
import { DatabaseMcpServerStore, migrationsConfig } from './DatabaseMcpServerStore';

const databases = createTestDatabases();

const server = (name: string) => ({
  name,
  url: `http://${name}.example/mcp`,
  providerId: 'model-context-protocol',
  authorizationHeaders: { Authorization: 'client' as const },
  headers: ['x-request-id'],
  timeout: 30,
});

describe.each(databases.eachSupportedId())('DatabaseMcpServerStore on %s', databaseId => {
  let knex: Knex;
  let store: DatabaseMcpServerStore;

  beforeEach(async () => {
    knex = await databases.init(databaseId);
    await knex.migrate.latest(migrationsConfig);
    store = new DatabaseMcpServerStore(knex);
  });

  it('claims a name as pending and reads it back with every field', async () => {
    const claimed = await store.claim(server('one'), 'user:default/alice');

    expect(claimed).toEqual({
      ...server('one'),
      id: expect.any(Number),
      state: 'pending',
      createdBy: 'user:default/alice',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      stateChangedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      statusMessage: undefined,
    });
    expect(await store.get('one')).toEqual(claimed);
  });

  it('gives a name to exactly one of many concurrent claims', async () => {
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.claim(server('contended'), `user:default/u${i}`)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.list()).toHaveLength(1);
  });

  it('moves state only from the expected state', async () => {
    const { id } = (await store.claim(server('s'), 'user:default/a'))!;
    expect(await store.transition(id, 'registered', 'deleting')).toBe(false);
    expect(await store.transition(id, 'pending', 'registered')).toBe(true);
    expect((await store.get('s'))?.state).toBe('registered');
  });

  it('lists in registration order and removes by id', async () => {
    for (const name of ['c', 'a', 'b']) {
      await store.claim(server(name), 'user:default/a');
    }
    const listed = await store.list();
    expect(listed.map(r => r.name)).toEqual(['c', 'a', 'b']);

    expect(await store.remove(listed[1].id)).toBe(true);
    expect(await store.remove(listed[1].id)).toBe(false);
    expect((await store.list()).map(r => r.name)).toEqual(['c', 'b']);
  });

  it('stores optional fields as absent when not given', async () => {
    await store.claim({ name: 'bare', url: 'http://bare/mcp', providerId: 'p' }, 'external:svc');
    const record = await store.get('bare');
    expect(record).not.toHaveProperty('authorizationHeaders', expect.anything());
    expect(record?.headers).toBeUndefined();
    expect(record?.timeout).toBeUndefined();
  });
});

import { Knex } from 'knex';
import { createTestDatabases } from '../testing/testBackend';
import { mockServices } from '@backstage/backend-test-utils';
import { DatabaseMcpServerStore } from './DatabaseMcpServerStore';

const databases = createTestDatabases();

const server = (name: string) => ({
  name,
  url: `http://${name}.example/mcp`,
  providerId: 'model-context-protocol',
  authorizationHeaders: { Authorization: 'client' as const },
  headers: ['x-request-id'],
  timeout: 30,
});

describe.each(databases.eachSupportedId())(
  'DatabaseMcpServerStore on %s',
  databaseId => {
    let knex: Knex;
    let store: DatabaseMcpServerStore;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      store = await DatabaseMcpServerStore.create({
        database: mockServices.database({ knex }),
      });
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
        Array.from({ length: 10 }, (_, i) =>
          store.claim(server('contended'), `user:default/u${i}`),
        ),
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
      await store.claim(
        { name: 'bare', url: 'http://bare/mcp', providerId: 'p' },
        'external:svc',
      );
      const record = await store.get('bare');
      expect(record).not.toHaveProperty(
        'authorizationHeaders',
        expect.anything(),
      );
      expect(record?.headers).toBeUndefined();
      expect(record?.timeout).toBeUndefined();
    });

    it('updates a registered record, and settles an update by keeping or putting back the fields', async () => {
      const { id } = (await store.claim(server('u'), 'user:default/a'))!;
      const changed = { url: 'http://new.example/mcp', providerId: 'p2' };
      expect(await store.update(id, changed)).toBe(false); // still pending
      await store.transition(id, 'pending', 'registered');

      expect(await store.update(id, changed, server('u'))).toBe(true);
      expect(await store.get('u')).toMatchObject({
        state: 'updating',
        url: changed.url,
        previous: { url: server('u').url },
      });
      expect(await store.update(id, changed)).toBe(false); // an update is under way

      expect(await store.settleUpdate(id, 'revert')).toBe(true);
      const reverted = await store.get('u');
      expect(reverted).toMatchObject({
        state: 'registered',
        url: server('u').url,
        providerId: 'model-context-protocol',
        timeout: 30,
      });
      expect(reverted).not.toHaveProperty('previous');
      expect(await store.settleUpdate(id, 'commit')).toBe(false);

      await store.update(id, changed, server('u'));
      expect(await store.settleUpdate(id, 'commit')).toBe(true);
      expect(await store.get('u')).toMatchObject({
        state: 'registered',
        url: changed.url,
        providerId: 'p2',
      });
      expect((await store.get('u'))?.timeout).toBeUndefined();
    });

    it('keeps one check per name and reads them for short and long lists of names', async () => {
      const check = (url: string, status: 'ok' | 'error') => ({
        url,
        status,
        toolCount: status === 'ok' ? 2 : null,
        message: status,
        checkedAt: new Date().toISOString(),
      });
      await store.saveCheck('a', check('http://a/mcp', 'ok'));
      await store.saveCheck('a', check('http://a2/mcp', 'error'));
      await store.saveCheck('b', check('http://b/mcp', 'ok'));

      const checks = await store.listChecks(['a', 'zzz']);
      expect([...checks.keys()]).toEqual(['a']);
      expect(checks.get('a')).toEqual({
        ...check('http://a2/mcp', 'error'),
        checkedAt: expect.any(String),
      });
      // Many names in one IN list (SQLite allows 32,766 parameters per
      // statement).
      const many = Array.from({ length: 1500 }, (_, i) => `n${i}`).concat('b');
      expect([...(await store.listChecks(many)).keys()]).toEqual(['b']);

      await store.removeCheck('a');
      expect((await store.listChecks(['a', 'b'])).size).toBe(1);
    });
  },
);

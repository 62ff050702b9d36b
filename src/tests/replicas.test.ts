import {
  asUser,
  BASE,
  createTestDatabases,
  TestPlugin,
  usePluginFixture,
} from '../testing/testBackend';

const databases = createTestDatabases();

const STATIC_SERVERS = [
  { name: 'docs', url: 'https://docs.example.com/mcp' },
  { name: 'jira', url: 'https://jira.example.com/mcp' },
];

describe.each(databases.eachSupportedId())(
  'replicas and reconciliation on %s',
  databaseId => {
    const env = usePluginFixture(databases, databaseId);
    const start = (config: object = {}) =>
      env.start({ config: { mcpServers: STATIC_SERVERS, ...config } });

    async function list(plugin: TestPlugin) {
      const res = await plugin.http.get(BASE).set('authorization', asUser);
      expect(res.status).toBe(200);
      return res.body.servers as Array<{
        name: string;
        source: string;
        status: string;
        status_message?: string;
      }>;
    }

    const statuses = async (plugin: TestPlugin) =>
      (await list(plugin)).map(s => `${s.name}:${s.status}`);

    describe('two backends on one database', () => {
      it('see each other’s registers and deletes at once', async () => {
        const [a, b] = [await start(), await start()];

        expect(
          (
            await a.http
              .post(BASE)
              .set('authorization', asUser)
              .send({ name: 'shared', url: 'http://s.example/mcp' })
          ).status,
        ).toBe(201);
        expect(await statuses(b)).toEqual([
          'docs:registered',
          'jira:registered',
          'shared:registered',
        ]);

        expect(
          (await b.http.delete(`${BASE}/shared`).set('authorization', asUser))
            .status,
        ).toBe(200);
        expect(await statuses(a)).toEqual([
          'docs:registered',
          'jira:registered',
        ]);
      });

      it('give exactly one 201 per name to 120 concurrent registers of 20 names', async () => {
        const [a, b] = [await start(), await start()];
        const names = Array.from({ length: 20 }, (_, i) => `server-${i}`);
        const attempts = Array.from({ length: 120 }, (_, i) => ({
          name: names[i % 20],
          via: i % 2 ? a : b,
          i,
        }));

        const started = Date.now();
        const results = await Promise.all(
          attempts.map(({ name, via, i }) =>
            via.http
              .post(BASE)
              .set('authorization', asUser)
              .send({ name, url: `http://${name}.example/mcp?attempt=${i}` }),
          ),
        );
        const elapsed = Date.now() - started;

        const created = results
          .filter(r => r.status === 201)
          .map(r => r.body.name)
          .sort();
        expect(created).toEqual([...names].sort());
        expect(results.filter(r => r.status === 409)).toHaveLength(100);
        expect(results.every(r => r.status === 201 || r.status === 409)).toBe(
          true,
        );
        expect(
          [...env.standIn.toolgroups.keys()]
            .filter(n => n.startsWith('server-'))
            .sort(),
        ).toEqual([...names].sort());
        // Each toolgroup points at the URL of the register that won.
        for (const res of results.filter(r => r.status === 201)) {
          expect(
            env.standIn.toolgroups.get(res.body.name)?.mcp_endpoint?.uri,
          ).toBe(res.body.url);
        }
        expect(await list(a)).toEqual(await list(b));
        // Reported in the issue note: how long 120 concurrent registers took on
        // this database.
        console.info(
          `${databaseId}: 120 concurrent registers of 20 names over two backends in ${elapsed} ms`,
        );
      });
    });

    describe('reconciliation', () => {
      it('re-registers every server, config ones included, when Llama Stack restarted empty', async () => {
        const plugin = await start();
        for (const name of ['one', 'two']) {
          await plugin.http
            .post(BASE)
            .set('authorization', asUser)
            .send({ name, url: `http://${name}.example/mcp` });
        }
        env.standIn.toolgroups.clear();

        await plugin.reconcile();

        expect([...env.standIn.toolgroups.keys()].sort()).toEqual([
          'docs',
          'jira',
          'one',
          'two',
        ]);
        expect(env.standIn.toolgroups.get('one')?.mcp_endpoint).toEqual({
          uri: 'http://one.example/mcp',
        });
        expect(await statuses(plugin)).toEqual([
          'docs:registered',
          'jira:registered',
          'one:registered',
          'two:registered',
        ]);
        expect(
          env.logs.lines
            .filter(l => l.message.startsWith('Reconciled MCP servers'))
            .at(-1)?.message,
        ).toMatch(
          /: 4 checked, 4 registered, 0 interrupted registrations or updates completed, 0 rolled back, 0 interrupted deletions finished, 0 failed$/,
        );
      });

      it('registers config servers once a Llama Stack that was down at startup is up', async () => {
        await env.standIn.stop();
        const plugin = await start();
        expect(await statuses(plugin)).toEqual([
          'docs:pending',
          'jira:pending',
        ]);

        await env.standIn.restart();
        await plugin.reconcile();

        expect([...env.standIn.toolgroups.keys()].sort()).toEqual([
          'docs',
          'jira',
        ]);
        expect(await statuses(plugin)).toEqual([
          'docs:registered',
          'jira:registered',
        ]);
        expect(env.logs.lines.filter(l => l.level === 'warn')).toHaveLength(1);
      });

      it('never removes a toolgroup the plugin did not create', async () => {
        env.standIn.addToolgroup('foreign', 'http://foreign.example/mcp');
        env.standIn.addToolgroup(
          'docs',
          'http://someone-elses-docs.example/mcp',
        );
        const plugin = await start();

        await plugin.reconcile();

        expect(env.standIn.toolgroups.get('foreign')?.mcp_endpoint).toEqual({
          uri: 'http://foreign.example/mcp',
        });
        expect(env.standIn.toolgroups.get('docs')?.mcp_endpoint).toEqual({
          uri: 'http://someone-elses-docs.example/mcp',
        });
        expect(env.standIn.writeCalls()).toEqual(['POST /v1/toolgroups']);
        const docs = (await list(plugin)).find(s => s.name === 'docs');
        expect(docs).toMatchObject({
          status: 'error',
          status_message:
            'Llama Stack holds a different toolgroup with this name',
        });
      });

      it('shows a fixed-text error when Llama Stack refuses a re-registration, and clears it once it works', async () => {
        const plugin = await start();
        await plugin.http
          .post(BASE)
          .set('authorization', asUser)
          .send({ name: 'flaky', url: 'http://f.example/mcp' });
        env.standIn.toolgroups.clear();
        env.standIn.inject(
          { status: 422, message: 'UPSTREAM-DETAIL' },
          { method: 'POST' },
        );

        await plugin.reconcile();
        const failed = (await list(plugin)).find(s => s.name === 'flaky');
        env.standIn.clearFaults();
        await plugin.reconcile();

        expect(failed).toMatchObject({
          status: 'error',
          status_message: 'Llama Stack rejected the registration',
        });
        expect(JSON.stringify(failed)).not.toContain('UPSTREAM');
        expect((await list(plugin)).find(s => s.name === 'flaky')).toEqual(
          expect.not.objectContaining({ status_message: expect.anything() }),
        );
        expect(await statuses(plugin)).toContain('flaky:registered');
      });

      it('completes or rolls back registers and finishes deletes that a crash left behind', async () => {
        const plugin = await start();
        for (const name of [
          'got-there',
          'lost',
          'half-deleted',
          'delete-done',
        ]) {
          await plugin.http
            .post(BASE)
            .set('authorization', asUser)
            .send({ name, url: `http://${name}.example/mcp` });
        }
        // What a crash leaves: registers that never answered, deletes that
        // never removed the record.
        const long = new Date(Date.now() - 60_000).toISOString();
        await env
          .knex('mcp_servers')
          .whereIn('name', ['got-there', 'lost'])
          .update({ state: 'pending', state_changed_at: long });
        await env
          .knex('mcp_servers')
          .whereIn('name', ['half-deleted', 'delete-done'])
          .update({ state: 'deleting', state_changed_at: long });
        env.standIn.toolgroups.delete('lost');
        env.standIn.toolgroups.delete('delete-done');
        expect(await statuses(plugin)).toContain('lost:pending');

        await plugin.reconcile();

        expect(await statuses(plugin)).toEqual([
          'docs:registered',
          'jira:registered',
          'got-there:registered',
        ]);
        expect([...env.standIn.toolgroups.keys()].sort()).toEqual([
          'docs',
          'got-there',
          'jira',
        ]);
      });

      it('leaves a register that is still under way alone', async () => {
        const plugin = await start();
        await plugin.http
          .post(BASE)
          .set('authorization', asUser)
          .send({ name: 'young', url: 'http://y.example/mcp' });
        await env
          .knex('mcp_servers')
          .where({ name: 'young' })
          .update({ state: 'pending' });
        env.standIn.toolgroups.delete('young');

        await plugin.reconcile();

        expect(await statuses(plugin)).toContain('young:pending');
      });
    });

    describe('failures', () => {
      it('answers 503 within the timeout and a small margin when Llama Stack is slow on delete', async () => {
        const plugin = await start();
        await plugin.http
          .post(BASE)
          .set('authorization', asUser)
          .send({ name: 'slow', url: 'http://s.example/mcp' });
        env.standIn.inject({ delayMs: 10_000 }, { method: 'DELETE' });

        const started = Date.now();
        const res = await plugin.http
          .delete(`${BASE}/slow`)
          .set('authorization', asUser);
        const elapsed = Date.now() - started;

        expect(res.status).toBe(503);
        // The configured timeout is 1.5 s.
        expect(elapsed).toBeLessThan(1500 + 1000);
        expect(await statuses(plugin)).toContain('slow:registered');
      });

      it('answers 503 and changes nothing when the database is unavailable', async () => {
        const plugin = await start();
        const writesBefore = env.standIn.writeCalls().length;
        await env.knex.destroy();

        const register = await plugin.http
          .post(BASE)
          .set('authorization', asUser)
          .send({ name: 'x', url: 'http://x.example/mcp' });
        const listing = await plugin.http
          .get(BASE)
          .set('authorization', asUser);

        for (const res of [register, listing]) {
          expect(res.status).toBe(503);
          expect(res.body.error).toEqual({
            name: 'ServiceUnavailableError',
            message: 'The plugin database is unavailable; try again later',
          });
        }
        expect(env.standIn.writeCalls().length).toBe(writesBefore);
      });
    });
  },
);

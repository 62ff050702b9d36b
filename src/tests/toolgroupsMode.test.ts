import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import {
  asUser,
  BASE,
  CapturedLogs,
  createTestDatabases,
  startPlugin,
  TestPlugin,
} from '../testing/testBackend';

const databases = createTestDatabases();

const STATIC_SERVERS = [{ name: 'docs', url: 'https://docs.example.com/mcp' }];

describe.each(databases.eachSupportedId())(
  'toolgroups mode on %s',
  databaseId => {
    let standIn: LlamaStackStandIn;
    let plugin: TestPlugin;
    let logs: CapturedLogs;

    async function start(
      toolgroups: string | undefined,
      toolgroupsApi: boolean,
    ) {
      standIn = await LlamaStackStandIn.start({ toolgroupsApi });
      logs = new CapturedLogs();
      plugin = await startPlugin({
        knex: await databases.init(databaseId),
        llamaStackUrl: standIn.url,
        logs,
        config: {
          mcpServers: STATIC_SERVERS,
          llamaStack: toolgroups ? { toolgroups } : {},
        },
      });
    }

    afterEach(async () => {
      await plugin.stop();
      await standIn.stop();
      expect(standIn.schemaViolations).toEqual([]);
    });

    /**
     * Registers, lists and deletes one server; answers the statuses the list
     * showed.
     */
    async function roundTrip(): Promise<string[]> {
      const registered = await plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .send({ name: 'mine', url: 'http://m.example/mcp' });
      expect(registered.status).toBe(201);
      const listed = await plugin.http.get(BASE).set('authorization', asUser);
      expect(listed.status).toBe(200);
      const deleted = await plugin.http
        .delete(`${BASE}/mine`)
        .set('authorization', asUser);
      expect(deleted.status).toBe(200);
      return [
        registered.body.status,
        ...listed.body.servers.map(
          (s: { name: string; status: string }) => `${s.name}:${s.status}`,
        ),
      ];
    }

    it('auto: stores servers without toolgroup calls after the probe when Llama Stack has no toolgroups API', async () => {
      await start(undefined, false);
      const probes = standIn.toolgroupCalls();

      expect(await roundTrip()).toEqual([
        'stored',
        'docs:stored',
        'mine:stored',
      ]);
      await plugin.reconcile();

      expect(probes).toEqual(['GET /v1/toolgroups']);
      // Each reconcile probes again; register, list and delete call nothing.
      expect(standIn.toolgroupCalls()).toEqual([
        'GET /v1/toolgroups',
        'GET /v1/toolgroups',
      ]);
      const text = logs.text();
      expect(text).toContain('toolgroups mode auto');
      expect(text).toContain(
        'Llama Stack has no toolgroups API (Llama Stack 0.7 and later removed it)',
      );
      expect(
        logs.lines.filter(l => l.message.includes('has no toolgroups API')),
      ).toHaveLength(1);
    });

    it('auto: syncs when Llama Stack has the toolgroups API', async () => {
      await start('auto', true);
      expect(await roundTrip()).toEqual([
        'registered',
        'docs:registered',
        'mine:registered',
      ]);
      expect(standIn.writeCalls()).toEqual([
        'POST /v1/toolgroups',
        'POST /v1/toolgroups',
        'DELETE /v1/toolgroups/mine',
      ]);
    });

    it('disabled: never calls a toolgroups route', async () => {
      await start('disabled', true);
      expect(await roundTrip()).toEqual([
        'stored',
        'docs:stored',
        'mine:stored',
      ]);
      await plugin.reconcile();
      expect(standIn.calls).toEqual([]);
      expect(logs.text()).toContain('toolgroups mode disabled');
    });

    it('enabled: a Llama Stack without toolgroups API is an error, as before', async () => {
      await start('enabled', false);
      const res = await plugin.http
        .post(BASE)
        .set('authorization', asUser)
        .send({ name: 'mine', url: 'http://m.example/mcp' });
      expect(res.status).toBe(502);
      expect(res.body.error.message).toContain(
        'Llama Stack has no toolgroups API',
      );
    });

    it('refuses an unknown mode at startup', async () => {
      await expect(start('sometimes', true)).rejects.toThrow(
        /lightspeedMcp\.llamaStack\.toolgroups must be one of auto, enabled, disabled/,
      );
      plugin = { stop: async () => undefined } as TestPlugin;
    });
  },
);

import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LightspeedStackStandIn } from '../testing/lightspeedStackStandIn';
import { LlamaStackStandIn } from '../testing/llamaStackStandIn';
import { dropDatabases, freePort } from '../testing/localResources';

/*
 * Crash safety with real processes: a backend is killed (SIGKILL) while the
 * upstream (Llama Stack or lightspeed-stack) holds its register or delete open,
 * then started again on the same PostgreSQL database; its reconciler must leave
 * each server registered in both places or in neither, and the API must say
 * which.
 */

const postgres =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
if (process.env.CI && !postgres) {
  throw new Error(
    'The crash tests need BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING (see .ci/run)',
  );
}
const describeOnPostgres = postgres ? describe : describe.skip;

const UPSTREAM_TOKEN = 'crash-test-upstream-token';

/** What the tests need of an upstream stand-in, for each kind. */
const UPSTREAMS = [
  {
    kind: 'Llama Stack',
    start: () => LlamaStackStandIn.start(),
    config: (url: string) => ({
      llamaStack: { baseUrl: url, timeout: { seconds: 1 } },
    }),
    holds: (standIn: StandIn, name: string) =>
      (standIn as LlamaStackStandIn).toolgroups.has(name),
    add: (standIn: StandIn, name: string, url: string) =>
      (standIn as LlamaStackStandIn).addToolgroup(name, url),
  },
  {
    kind: 'lightspeed-stack',
    start: () => LightspeedStackStandIn.start({ token: UPSTREAM_TOKEN }),
    config: (url: string) => ({
      lightspeedStack: {
        baseUrl: url,
        token: UPSTREAM_TOKEN,
        timeout: { seconds: 1 },
      },
    }),
    holds: (standIn: StandIn, name: string) =>
      (standIn as LightspeedStackStandIn).servers.has(name),
    add: (standIn: StandIn, name: string, url: string) =>
      (standIn as LightspeedStackStandIn).addApiServer({ name, url }),
  },
];
type StandIn = LlamaStackStandIn | LightspeedStackStandIn;

const TOKEN = 'crash-test-token-0123456789abcdef';
const ROOT = path.resolve(__dirname, '..', '..');
/**
 * The reconciler runs every second; with a 1 s upstream timeout, records
 * older than 4 s are stale. A process killed during a reconcile run holds
 * Backstage's task lock until the run's timeout (5 s here) has passed and the
 * scheduler's janitor, which wakes once a minute, has freed it.
 */
const CONVERGE_LIMIT_MS = 100_000;

describeOnPostgres.each(UPSTREAMS)(
  'crash safety with killed backend processes on POSTGRES_15 and $kind',
  upstream => {
    jest.setTimeout(180_000);

    let standIn: StandIn;
    let configFile: string;
    let baseUrl: string;
    let prefix: string;
    const processes: ChildProcess[] = [];
    let output = '';

    beforeEach(async () => {
      standIn = await upstream.start();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      prefix = `lsmcp_crash_${crypto.randomBytes(4).toString('hex')}_`;
      configFile = path.join(
        fs.mkdtempSync(path.join(os.tmpdir(), 'lsmcp-crash-')),
        'app-config.json',
      );
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          backend: {
            baseUrl,
            listen: { host: '127.0.0.1', port },
            database: { client: 'pg', connection: postgres, prefix },
            auth: {
              externalAccess: [
                {
                  type: 'static',
                  options: { token: TOKEN, subject: 'crash-test' },
                },
              ],
            },
          },
          permission: { enabled: true },
          lightspeedMcp: {
            ...upstream.config(standIn.url),
            // A process killed during a run holds the task until its timeout.
            reconcile: { frequency: { seconds: 1 }, timeout: { seconds: 5 } },
          },
        }),
      );
      output = '';
    });

    afterEach(async () => {
      for (const child of processes.splice(0)) {
        child.kill('SIGKILL');
      }
      await standIn.stop();
      await dropDatabases(postgres!, prefix);
    });

    async function startBackend(): Promise<ChildProcess> {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/testing/backendProcess.ts',
          '--config',
          configFile,
        ],
        {
          cwd: ROOT,
          // Not jest's "test": Backstage's scheduler only runs the janitor that
          // frees a dead run's lock outside tests.
          env: { ...process.env, NODE_ENV: 'production' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      // Request lines are left out: the polling would drown what the plugin
      // says.
      const keep = (chunk: Buffer) => {
        const lines = chunk
          .toString()
          .split('\n')
          .filter(line => !line.includes('incomingRequest'));
        output = (output + lines.join('\n')).slice(-20_000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      processes.push(child);
      await waitFor(
        async () =>
          (await api('GET', '/v1/mcp-servers').catch(() => undefined))
            ?.status === 200,
        60_000,
        () => output,
      );
      return child;
    }

    async function kill(child: ChildProcess) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }

    function api(method: string, route: string, body?: object) {
      return fetch(`${baseUrl}/api/lightspeed-mcp${route}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
        },
        body: body && JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    }

    async function serverStatus(name: string): Promise<string> {
      const { servers } = (await (
        await api('GET', '/v1/mcp-servers')
      ).json()) as { servers: Array<{ name: string; status: string }> };
      return servers.find(s => s.name === name)?.status ?? 'absent';
    }

    /**
     * Kills the backend while Llama Stack holds a call of `method` open;
     * resolves once it is dead.
     */
    async function crashDuring(
      method: 'POST' | 'DELETE',
      request: () => Promise<Response>,
    ) {
      const child = await startBackend();
      standIn.inject({ hang: true }, { method, times: 1 });
      const callsBefore = standIn.calls.length;
      const answered = request().then(
        res => `answered ${res.status}`,
        () => 'no answer',
      );
      await waitFor(
        async () =>
          standIn.calls.slice(callsBefore).some(c => c.method === method),
        10_000,
        () => output,
      );
      await kill(child);
      expect(await answered).toBe('no answer');
    }

    /**
     * Starts the backend again and waits until the server is in `expected`
     * state; returns how long that took.
     */
    async function restartAndConverge(
      name: string,
      expected: 'registered' | 'absent',
    ): Promise<number> {
      const restarted = Date.now();
      await startBackend();
      await waitFor(
        async () => (await serverStatus(name)) === expected,
        CONVERGE_LIMIT_MS,
        () => output,
      );
      const took = Date.now() - restarted;
      console.info(
        `converged to '${expected}' ${took} ms after the restart began`,
      );
      return took;
    }

    it('rolls back a register whose Llama Stack call never happened', async () => {
      await crashDuring('POST', () =>
        api('POST', '/v1/mcp-servers', {
          name: 'crash-reg',
          url: 'http://r.example/mcp',
        }),
      );

      await restartAndConverge('crash-reg', 'absent');

      expect(upstream.holds(standIn, 'crash-reg')).toBe(false);
    });

    it('completes a register that Llama Stack carried out before the crash', async () => {
      await crashDuring('POST', () =>
        api('POST', '/v1/mcp-servers', {
          name: 'crash-reg',
          url: 'http://r.example/mcp',
        }),
      );
      // Llama Stack had registered it; only its answer was lost with the
      // process.
      upstream.add(standIn, 'crash-reg', 'http://r.example/mcp');

      await restartAndConverge('crash-reg', 'registered');

      expect(upstream.holds(standIn, 'crash-reg')).toBe(true);
    });

    it('finishes a delete that was killed while Llama Stack held the unregister open', async () => {
      const child = await startBackend();
      expect(
        (
          await api('POST', '/v1/mcp-servers', {
            name: 'crash-del',
            url: 'http://d.example/mcp',
          })
        ).status,
      ).toBe(201);
      await kill(child);
      await crashDuring('DELETE', () =>
        api('DELETE', '/v1/mcp-servers/crash-del'),
      );
      expect(upstream.holds(standIn, 'crash-del')).toBe(true);

      await restartAndConverge('crash-del', 'absent');

      expect(upstream.holds(standIn, 'crash-del')).toBe(false);
    });
  },
);

/** Polls every 200 ms until the condition holds, for at most `limitMs`. */
async function waitFor(
  condition: () => Promise<boolean>,
  limitMs: number,
  context: () => string,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await condition()) {
      return;
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
  throw new Error(
    `condition not met within ${limitMs} ms; backend output:\n${context().slice(-4000)}`,
  );
}

/*
 * `npm run bench` (tsx scripts/bench.ts): how fast the plugin lists, registers
 * and deletes MCP servers, against a bare Express + knex baseline on the same
 * database. A script, not a test: it prints a table.
 *
 * For each database (SQLite file, PostgreSQL) and each permission policy
 * (allow, owner) it starts a Llama Stack stand-in in this process, a real
 * backend (scripts/benchBackend.ts) in a process of its own, and a baseline
 * server in another process, then seeds the plugin's `mcp_servers` table
 * directly with knex. Everything listens on 127.0.0.1; every loop is bounded in
 * count and in time; child processes are killed and temp dirs and PostgreSQL
 * databases removed on the way out, failure or not.
 *
 * Env: BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING (default
 * postgresql://postgres@127.0.0.1:5432),
 * BENCH_DATABASES=sqlite|postgres|sqlite,postgres (default both),
 * BENCH_BASELINE_IN_PROCESS=1 to run the baseline in this process (then it
 * shares one event loop with the load generator, which lowers its figures).
 *
 * At the end, scripts/benchLightspeedStack.ts measures the plugin with
 * lightspeed-stack as the upstream (convergence after an LCS restart, register
 * and delete overhead), and scripts/benchUserSettings.ts the chat routes of one
 * user with 100 servers and personal tokens (GET /v1/mcp-headers and
 * /v1/mcp-tools). Shared helpers: scripts/benchKit.ts.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import knexFactory, { Knex } from 'knex';
import { LlamaStackStandIn } from '../src/testing/llamaStackStandIn';
import {
  Answer,
  Backend,
  backendDatabase,
  children,
  cleanupAll,
  DbKind,
  fmt,
  guestUserToken,
  installCleanup,
  interleavedPairs,
  keepAliveAgent,
  Latency,
  LIST_PATH,
  mcpUrl,
  memoryOf,
  OWNER_1,
  PairLatency,
  PG_URL,
  PLUGIN_ID,
  ROOT,
  selectDatabases,
  send,
  sequential,
  startBackend,
  table,
  tempDirs,
  TOKEN,
  endRun,
} from './benchKit';
import { benchLightspeedStack } from './benchLightspeedStack';
import { benchUserSettings } from './benchUserSettings';

const OWNER_2 = 'user:default/owner-2';

const SIZES = [10, 1000, 10000] as const;
/**
 * Load of each measurement; N=10000 gets fewer sequential requests and shorter
 * throughput runs.
 */
const LOAD = {
  warmup: {
    small: { count: 20, maxMs: 3000 },
    large: { count: 3, maxMs: 5000 },
  },
  latency: {
    small: { count: 200, maxMs: 10_000 },
    large: { count: 30, maxMs: 10_000 },
  },
  throughput: {
    concurrency: 8,
    small: { durationMs: 4000 },
    large: { durationMs: 5000 },
  },
  page: {
    limit: 100,
    warmup: { count: 20, maxMs: 3000 },
    latency: { count: 200, maxMs: 10_000 },
  },
  pairs: { warmup: 10, count: 100, maxMs: 20_000 },
  /** The whole run is killed after this, whatever happens. */
  watchdogMs: 9 * 60_000,
};

const TARGETS = {
  list1000P50Ms: 15,
  list10000P50Ms: 150,
  pageP50Ms: 10,
  pairOverheadP50Ms: 3,
  throughputRatio: 0.5,
};

// ---------------------------------------------------------------------------------------------------------
// Measurements.

interface Throughput {
  completed: number;
  errors: number;
  seconds: number;
  rps: number;
}

/**
 * `concurrency` workers send back to back for `durationMs`; req/s counts
 * successful answers.
 */
async function throughput(
  op: () => Promise<boolean>,
  concurrency: number,
  durationMs: number,
): Promise<Throughput> {
  let completed = 0;
  let errors = 0;
  const started = Date.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        try {
          if (await op()) {
            completed++;
          } else {
            errors++;
          }
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  return { completed, errors, seconds, rps: completed / seconds };
}

// ---------------------------------------------------------------------------------------------------------
// Databases.

/**
 * Where the plugin's database is, as knex config for this process and for the
 * baseline.
 */
function pluginDbConfig(kind: DbKind, location: string): Knex.Config {
  if (kind === 'sqlite') {
    return {
      client: 'better-sqlite3',
      connection: { filename: location },
      useNullAsDefault: true,
    };
  }
  const url = new URL(PG_URL);
  url.pathname = `/${location}`;
  return {
    client: 'pg',
    connection: url.toString(),
    pool: { min: 0, max: 10 },
  };
}

/**
 * Adds rows up to `n` in total: bench-00001..., state registered, owners
 * alternating.
 */
async function seedTo(db: Knex, from: number, n: number) {
  const now = new Date().toISOString();
  const rows = [];
  for (let i = from + 1; i <= n; i++) {
    const name = `bench-${String(i).padStart(5, '0')}`;
    rows.push({
      name,
      url: `http://${name}.example.com/mcp`,
      provider_id: 'model-context-protocol',
      authorization_headers: JSON.stringify({ Authorization: 'client' }),
      headers: JSON.stringify(['x-request-id']),
      timeout: 30,
      state: 'registered',
      created_by: i % 2 === 1 ? OWNER_1 : OWNER_2,
      created_at: now,
      state_changed_at: now,
      status_message: null,
    });
  }
  await db.batchInsert('mcp_servers', rows, 500);
  // Statistics, as autovacuum would soon have them in a running system; on
  // PostgreSQL also the vacuum, so that autovacuum does not start on the fresh
  // rows in the middle of a measurement.
  await db.raw(
    db.client.config.client === 'pg'
      ? 'vacuum analyze mcp_servers'
      : 'analyze mcp_servers',
  );
  const [{ count }] = await db('mcp_servers').count({ count: '*' });
  if (Number(count) !== n) {
    throw new Error(`seeded ${count} rows, wanted ${n}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The baseline: bare Express, the plugin's unfiltered list query (or its
// IS_OWNER filter), same JSON shape.

interface Row {
  name: string;
  url: string;
  provider_id: string;
  authorization_headers: string | null;
  headers: string | null;
  timeout: number | null;
  state: string;
  created_by: string;
  created_at: string | Date;
  status_message: string | null;
}

/** The list status the plugin shows for a stored row. */
function listStatus(row: Row): string {
  if (row.state !== 'registered') {
    return 'pending';
  }
  return row.status_message ? 'error' : 'registered';
}

async function startBaselineServer(
  dbConfig: Knex.Config,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const db = knexFactory(dbConfig);
  const app = express();
  app.get('/servers', async (req, res, next) => {
    try {
      const query = db<Row>('mcp_servers').orderBy('id', 'asc');
      if (typeof req.query.owner === 'string') {
        query.whereIn(
          db.raw('lower(??)', ['created_by']) as unknown as string,
          [req.query.owner.toLowerCase()],
        );
      }
      const rows = await query;
      res.json({
        servers: rows.map(row => ({
          name: row.name,
          url: row.url,
          provider_id: row.provider_id,
          source: 'api',
          status: listStatus(row),
          ...(row.status_message && { status_message: row.status_message }),
          ...(row.authorization_headers && {
            authorization_headers: JSON.parse(row.authorization_headers),
          }),
          ...(row.headers && { headers: JSON.parse(row.headers) }),
          ...(row.timeout !== null && { timeout: row.timeout }),
          created_by: row.created_by,
          created_at: new Date(row.created_at).toISOString(),
        })),
      });
    } catch (error) {
      next(error);
    }
  });
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s)).on('error', reject);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      server.closeAllConnections();
      await new Promise(resolve => server.close(resolve));
      await db.destroy();
    },
  };
}

/**
 * `bench.ts --baseline`: the baseline in a process of its own, so it does not
 * share the load generator's CPU.
 */
async function baselineProcessMain() {
  const baseline = await startBaselineServer(
    JSON.parse(process.env.BENCH_BASELINE_DB!),
  );
  process.stdout.write(`BASELINE_READY ${baseline.port}\n`);
  // The parent kills this process; exit too when the parent goes away.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

async function startBaseline(
  dbConfig: Knex.Config,
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  if (process.env.BENCH_BASELINE_IN_PROCESS === '1') {
    const baseline = await startBaselineServer(dbConfig);
    return {
      url: `http://127.0.0.1:${baseline.port}`,
      pid: process.pid,
      stop: baseline.stop,
    };
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'bench.ts'), '--baseline'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        BENCH_BASELINE_DB: JSON.stringify(dbConfig),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`baseline not ready within 30 s:\n${output}`)),
      30_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /BASELINE_READY (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-10_000);
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`baseline exited (${code}):\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      children.delete(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// One run: a database, a policy.

const LIST = 'list (no limit)';

interface ListRow {
  n: number;
  what: string;
  rows: number | string;
  latency?: Latency;
  plugin?: Throughput;
  baselineLatency?: Latency;
  baseline?: Throughput;
  note?: string;
}

interface PairResult {
  plugin: PairLatency;
  direct: PairLatency;
  /** Calls the stand-in received per measured plugin pair, by method. */
  standInCallsPerPair: Record<string, number>;
  /**
   * The plugin store's five queries of a pair (claim, transition, get,
   * transition, remove), straight from here.
   */
  dbFloor: Latency;
}

interface RunResult {
  db: DbKind;
  policy: 'allow' | 'owner';
  principal: string;
  list: ListRow[];
  pairs?: PairResult;
  memory?: { peakMb?: number; rssMb?: number; source: string };
  startupRssMb?: number;
  baselineMemory?: { peakMb?: number; rssMb?: number; source: string };
  startupMs?: number;
  error?: string;
}

async function run(
  db: DbKind,
  policy: 'allow' | 'owner',
  runId: string,
): Promise<RunResult> {
  const result: RunResult = {
    db,
    policy,
    principal:
      policy === 'owner'
        ? `user token (${OWNER_1}, guest sign-in)`
        : 'static token (service principal)',
    list: [],
  };
  const dir = fs.mkdtempSync(
    path.join(os.tmpdir(), `lsmcp-bench-${db}-${policy}-`),
  );
  tempDirs.add(dir);
  const prefix = `lsmcp_bench_${runId}_${policy}_`;
  let standIn: LlamaStackStandIn | undefined;
  let backend: Backend | undefined;
  let baseline: Awaited<ReturnType<typeof startBaseline>> | undefined;
  let knex: Knex | undefined;
  const agents: http.Agent[] = [];
  try {
    standIn = await LlamaStackStandIn.start();
    const database = backendDatabase(db, dir, prefix);
    // backend-defaults names a plugin's SQLite file
    // `<directory>/<pluginId>.sqlite`.
    const location =
      db === 'sqlite'
        ? path.join(dir, `${PLUGIN_ID}.sqlite`)
        : `${prefix}${PLUGIN_ID}`;
    const started = Date.now();
    backend = await startBackend({
      dir,
      policy,
      database,
      lightspeedMcp: {
        llamaStack: { baseUrl: standIn.url, timeout: { seconds: 10 } },
        // Once at startup (empty table), then not during the run: seeded rows
        // are not pushed to the stand-in.
        reconcile: { frequency: { hours: 24 } },
      },
    });
    result.startupMs = Date.now() - started;
    result.startupRssMb = memoryOf(backend.child.pid!).rssMb;
    if (db === 'sqlite' && !fs.existsSync(location)) {
      throw new Error(
        `the plugin's SQLite file is not at ${location}: ${fs.readdirSync(dir).join(', ')}`,
      );
    }
    const dbConfig = pluginDbConfig(db, location);
    knex = knexFactory(dbConfig);
    await knex('mcp_servers').count({ count: '*' });
    baseline = await startBaseline(dbConfig);

    const userToken = await guestUserToken(backend.baseUrl);
    const token = policy === 'owner' ? userToken : TOKEN;
    const auth = { authorization: `Bearer ${token}` };
    const oneAgent = keepAliveAgent(1);
    const manyAgent = keepAliveAgent(LOAD.throughput.concurrency);
    const baselineAgent = keepAliveAgent(LOAD.throughput.concurrency);
    agents.push(oneAgent, manyAgent, baselineAgent);

    const listUrl = `${backend.baseUrl}${LIST_PATH}`;
    const baselineUrl = `${baseline.url}/servers${policy === 'owner' ? `?owner=${encodeURIComponent(OWNER_1)}` : ''}`;
    const ok200 = (answer: Answer) => answer.status === 200;

    // Register and delete first, on an empty table; the allow policy is enough.
    if (policy === 'allow') {
      result.pairs = await measurePairs(
        backend.baseUrl,
        standIn,
        oneAgent,
        knex,
      );
    }

    let seeded = 0;
    for (const n of SIZES) {
      await seedTo(knex, seeded, n);
      seeded = n;
      const size = n >= 10000 ? 'large' : 'small';
      const expected = policy === 'owner' ? Math.ceil(n / 2) : n;

      // What it answers, checked once.
      const first = await send(oneAgent, {
        url: listUrl,
        headers: auth,
        keepBody: true,
      });
      const firstBase = await send(oneAgent, {
        url: baselineUrl,
        keepBody: true,
      });
      const count =
        first.status === 200
          ? (JSON.parse(first.body!) as { servers: unknown[] }).servers.length
          : -1;
      const baseCount =
        firstBase.status === 200
          ? (JSON.parse(firstBase.body!) as { servers: unknown[] }).servers
              .length
          : -1;
      const checks: string[] = [];
      if (count !== expected) {
        checks.push(
          `plugin answered ${first.status} with ${count} servers, expected ${expected}`,
        );
      }
      if (baseCount !== expected) {
        checks.push(
          `baseline answered ${firstBase.status} with ${baseCount} servers`,
        );
      }
      const kb = `${Math.round(first.bytes / 1024)} KiB`;

      const listOnce = async () =>
        ok200(await send(oneAgent, { url: listUrl, headers: auth }));
      await sequential(listOnce, LOAD.warmup[size]);
      const latency = await sequential(listOnce, LOAD.latency[size]);
      const plugin = await throughput(
        async () =>
          ok200(await send(manyAgent, { url: listUrl, headers: auth })),
        LOAD.throughput.concurrency,
        LOAD.throughput[size].durationMs,
      );
      const baselineOnce = async () =>
        ok200(await send(baselineAgent, { url: baselineUrl }));
      await sequential(baselineOnce, LOAD.warmup[size]);
      const baselineLatency = await sequential(
        baselineOnce,
        LOAD.latency[size],
      );
      const base = await throughput(
        async () => ok200(await send(baselineAgent, { url: baselineUrl })),
        LOAD.throughput.concurrency,
        LOAD.throughput[size].durationMs,
      );
      result.list.push({
        n,
        what: LIST,
        rows: count,
        latency,
        plugin,
        baselineLatency,
        baseline: base,
        note: [kb, ...checks].join('; '),
      });

      if (policy === 'allow' && n <= 1000) {
        // The same list as a user: the permissions service then asks the
        // permission backend (allow-all) over HTTP.
        const userAuth = { authorization: `Bearer ${userToken}` };
        const asUser = async () =>
          ok200(await send(oneAgent, { url: listUrl, headers: userAuth }));
        await sequential(asUser, LOAD.warmup.small);
        result.list.push({
          n,
          what: 'list, user token',
          rows: count,
          latency: await sequential(asUser, LOAD.latency.small),
        });
      }

      if (n === 10000) {
        result.list.push(await measurePage(listUrl, auth, oneAgent, n));
      }
    }
    result.memory = memoryOf(backend.child.pid!);
    if (baseline.pid !== process.pid) {
      result.baselineMemory = memoryOf(baseline.pid);
    }
  } catch (error) {
    result.error = `${(error as Error).stack ?? error}`;
    if (backend) {
      result.memory = memoryOf(backend.child.pid!);
    }
  } finally {
    agents.forEach(agent => agent.destroy());
    await endRun({ db, prefix, dir, result }, [
      () => knex?.destroy(),
      () => baseline?.stop(),
      () => backend?.stop(),
      () => standIn?.stop(),
    ]);
  }
  return result;
}

async function measurePage(
  listUrl: string,
  auth: Record<string, string>,
  agent: http.Agent,
  n: number,
): Promise<ListRow> {
  const limit = LOAD.page.limit;
  const url = `${listUrl}?limit=${limit}`;
  const first = await send(agent, { url, headers: auth, keepBody: true });
  const what = `page ?limit=${limit}`;
  if (first.status !== 200) {
    return {
      n,
      what,
      rows: '-',
      note: `not available: answered ${first.status} ${first.body?.slice(0, 200)}`,
    };
  }
  const body = JSON.parse(first.body!) as {
    servers: unknown[];
    next_cursor?: string;
  };
  if (body.servers.length > limit) {
    return {
      n,
      what,
      rows: body.servers.length,
      note: `not available: the server ignored 'limit' (answered ${body.servers.length} servers)`,
    };
  }
  const pageOnce = async () =>
    (await send(agent, { url, headers: auth })).status === 200;
  await sequential(pageOnce, LOAD.page.warmup);
  const latency = await sequential(pageOnce, LOAD.page.latency);
  return {
    n,
    what,
    rows: body.servers.length,
    latency,
    note: `${Math.round(first.bytes / 1024)} KiB; next_cursor ${body.next_cursor ? 'present' : 'ABSENT'}`,
  };
}

/**
 * POST + DELETE through the plugin, and the same two calls straight to the
 * stand-in, interleaved.
 */
async function measurePairs(
  backendUrl: string,
  standIn: LlamaStackStandIn,
  agent: http.Agent,
  knex: Knex,
): Promise<PairResult> {
  const standInUrl = standIn.url;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const api = `${backendUrl}${LIST_PATH}`;
  const viaPlugin = (name: string) => ({
    post: async () =>
      (
        await send(agent, {
          method: 'POST',
          url: api,
          headers: auth,
          body: JSON.stringify({ name, url: mcpUrl(name) }),
        })
      ).status === 201,
    del: async () =>
      (
        await send(agent, {
          method: 'DELETE',
          url: `${api}/${encodeURIComponent(name)}`,
          headers: auth,
        })
      ).status === 200,
  });
  const direct = (name: string) => ({
    post: async () =>
      (
        await send(agent, {
          method: 'POST',
          url: `${standInUrl}/v1/toolgroups`,
          body: JSON.stringify({
            toolgroup_id: name,
            provider_id: 'model-context-protocol',
            mcp_endpoint: { uri: mcpUrl(name) },
          }),
        })
      ).status < 300,
    del: async () =>
      (
        await send(agent, {
          method: 'DELETE',
          url: `${standInUrl}/v1/toolgroups/${encodeURIComponent(name)}`,
        })
      ).status < 300,
  });
  const callsBefore = standIn.calls.length;
  const timings = await interleavedPairs(
    ['plugin', 'direct'] as const,
    (side, i) =>
      side === 'plugin'
        ? viaPlugin(`reg-${String(i).padStart(5, '0')}`)
        : direct(`direct-${String(i).padStart(5, '0')}`),
    LOAD.pairs,
  );
  // What the plugin sent to Llama Stack per pair (the direct calls are one POST
  // and one DELETE of direct-*).
  const pluginCalls = standIn.calls
    .slice(callsBefore)
    .filter(
      c =>
        !c.path.includes('/direct-') &&
        !(
          c.method === 'POST' &&
          JSON.stringify(c.body ?? '').includes('direct-')
        ),
    );
  const pairsSent =
    timings.plugin.pair.samples.length +
    timings.plugin.pair.errors +
    LOAD.pairs.warmup;
  const standInCallsPerPair: Record<string, number> = {};
  for (const call of pluginCalls) {
    standInCallsPerPair[call.method] =
      (standInCallsPerPair[call.method] ?? 0) + 1 / pairsSent;
  }

  // The floor the database sets: the store's queries of one register and one
  // delete, sent from here.
  let floorIndex = 0;
  const dbFloor = await sequential(
    async () => {
      const name = `floor-${String(++floorIndex).padStart(5, '0')}`;
      const now = () => new Date().toISOString();
      const [row] = await knex('mcp_servers')
        .insert({
          name,
          url: `http://${name}.example.com/mcp`,
          provider_id: 'model-context-protocol',
          authorization_headers: null,
          headers: null,
          timeout: null,
          state: 'pending',
          created_by: 'bench',
          created_at: now(),
          state_changed_at: now(),
        })
        .returning('*');
      await knex('mcp_servers')
        .where({ id: row.id, state: 'pending' })
        .update({ state: 'registered', state_changed_at: now() });
      await knex('mcp_servers').where({ name }).first();
      await knex('mcp_servers')
        .where({ id: row.id, state: 'registered' })
        .update({ state: 'deleting', state_changed_at: now() });
      const deleted =
        (await knex('mcp_servers').where({ id: row.id }).delete()) === 1;
      await knex('mcp_server_checks').where({ name }).delete();
      return deleted;
    },
    { count: LOAD.pairs.count, maxMs: 10_000 },
  );

  return {
    plugin: timings.plugin,
    direct: timings.direct,
    standInCallsPerPair,
    dbFloor,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Output.

function printRun(r: RunResult) {
  console.log(
    `\n=== ${r.db === 'sqlite' ? 'SQLite (file)' : 'PostgreSQL'} · policy ${r.policy} · ${r.principal} ===`,
  );
  if (r.startupMs !== undefined) {
    console.log(
      `backend ready ${(r.startupMs / 1000).toFixed(1)} s after spawn`,
    );
  }
  if (r.list.length) {
    console.log(
      table(
        [
          'N',
          'request',
          'rows',
          'seq n',
          'p50 ms',
          'p99 ms',
          'req/s',
          'baseline p50 ms',
          'baseline req/s',
          'ratio',
          'errors',
          'notes',
        ],
        r.list.map(row => [
          String(row.n),
          row.what,
          String(row.rows),
          row.latency ? String(row.latency.samples.length) : '-',
          fmt(row.latency?.p50, 2),
          fmt(row.latency?.p99, 2),
          fmt(row.plugin?.rps),
          fmt(row.baselineLatency?.p50, 2),
          fmt(row.baseline?.rps),
          row.plugin && row.baseline
            ? fmt(row.plugin.rps / row.baseline.rps, 2)
            : '-',
          String(
            (row.latency?.errors ?? 0) +
              (row.plugin?.errors ?? 0) +
              (row.baselineLatency?.errors ?? 0) +
              (row.baseline?.errors ?? 0),
          ),
          row.note ?? '',
        ]),
      ),
    );
  }
  if (r.pairs) {
    const p = r.pairs;
    console.log(
      '\nregister + delete (sequential, one keep-alive connection, empty table):',
    );
    console.log(
      table(
        ['path', 'call', 'n', 'p50 ms', 'p99 ms', 'errors'],
        [
          ['plugin', 'POST /v1/mcp-servers', p.plugin.post],
          ['plugin', 'DELETE /v1/mcp-servers/{name}', p.plugin.del],
          ['plugin', 'pair (POST + DELETE)', p.plugin.pair],
          ['direct stand-in', 'POST /v1/toolgroups', p.direct.post],
          ['direct stand-in', 'DELETE /v1/toolgroups/{id}', p.direct.del],
          ['direct stand-in', 'pair (POST + DELETE)', p.direct.pair],
        ].map(([path, call, l]) => {
          const latency = l as Latency;
          return [
            path as string,
            call as string,
            String(latency.samples.length),
            fmt(latency.p50, 2),
            fmt(latency.p99, 2),
            String(latency.errors),
          ];
        }),
      ),
    );
    console.log(
      `plugin overhead, pair p50: ${fmt(p.plugin.pair.p50 - p.direct.pair.p50, 2)} ms`,
    );
    const calls = Object.entries(p.standInCallsPerPair)
      .map(([method, count]) => `${fmt(count, 2)} ${method}`)
      .join(', ');
    console.log(`  stand-in calls per plugin pair: ${calls || 'none'}`);
    console.log(
      `  database floor of a pair (the store's 6 queries: insert returning, update, select, update, delete, delete check; sent from the bench, ${p.dbFloor.samples.length} runs): p50 ${fmt(p.dbFloor.p50, 2)} ms, p99 ${fmt(p.dbFloor.p99, 2)} ms`,
    );
  }
  const mem = (m?: { peakMb?: number; rssMb?: number; source: string }) =>
    m?.peakMb !== undefined
      ? `peak ${fmt(m.peakMb, 0)} MiB, now ${fmt(m.rssMb, 0)} MiB (${m.source})`
      : 'not measured';
  console.log(
    `backend process RSS: ${mem(r.memory)}; ${fmt(r.startupRssMb, 0)} MiB right after startup`,
  );
  if (r.baselineMemory) {
    console.log(`baseline process RSS: ${mem(r.baselineMemory)}`);
  }
  if (r.error) {
    console.log(`RUN FAILED: ${r.error}`);
  }
}

function printTargets(results: RunResult[]) {
  console.log('\n=== Targets ===');
  const verdict = (ok: boolean | undefined) => {
    if (ok === undefined) {
      return 'N/A ';
    }
    return ok ? 'MET ' : 'MISS';
  };
  const lines: string[] = [];
  for (const r of results) {
    const label = `${r.db}/${r.policy}`.padEnd(16);
    const list = (n: number) =>
      r.list.find(row => row.n === n && row.what === LIST);
    const l1000 = list(1000)?.latency?.p50;
    lines.push(
      `${verdict(l1000 === undefined ? undefined : l1000 < TARGETS.list1000P50Ms)}  ${label} list of 1,000 p50 < ${TARGETS.list1000P50Ms} ms: ${fmt(l1000, 2)} ms`,
    );
    const l10000 = list(10000)?.latency?.p50;
    lines.push(
      `${verdict(l10000 === undefined ? undefined : l10000 < TARGETS.list10000P50Ms)}  ${label} list of 10,000 without limit p50 < ${TARGETS.list10000P50Ms} ms: ${fmt(l10000, 2)} ms`,
    );
    const page = r.list.find(row => row.what.startsWith('page'));
    const pageP50 = page?.latency?.p50;
    lines.push(
      `${verdict(pageP50 === undefined ? undefined : pageP50 < TARGETS.pageP50Ms)}  ${label} page of 100 out of 10,000 p50 < ${TARGETS.pageP50Ms} ms: ${
        pageP50 === undefined
          ? `not available${page?.note ? ` (${page.note})` : ''}`
          : `${fmt(pageP50, 2)} ms`
      }`,
    );
    if (r.pairs) {
      const overhead = r.pairs.plugin.pair.p50 - r.pairs.direct.pair.p50;
      lines.push(
        `${verdict(Number.isNaN(overhead) ? undefined : overhead < TARGETS.pairOverheadP50Ms)}  ${label} register+delete overhead over direct stand-in p50 < ${TARGETS.pairOverheadP50Ms} ms: ${fmt(overhead, 2)} ms (${fmt(r.pairs.plugin.pair.p50, 2)} - ${fmt(r.pairs.direct.pair.p50, 2)})`,
      );
    }
    for (const row of r.list.filter(x => x.plugin && x.baseline)) {
      const ratio = row.plugin!.rps / row.baseline!.rps;
      lines.push(
        `${verdict(Number.isFinite(ratio) ? ratio >= TARGETS.throughputRatio : undefined)}  ${label} list throughput >= ${TARGETS.throughputRatio} x baseline at N=${row.n}: ${fmt(ratio, 3)} (${fmt(row.plugin!.rps)} / ${fmt(row.baseline!.rps)} req/s)`,
      );
    }
  }
  console.log(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const began = Date.now();
  installCleanup('bench', LOAD.watchdogMs);

  const cpus = os.cpus();
  const sizes = SIZES.join(', ');
  console.log('lightspeed-mcp bench');
  console.log(
    [
      `machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
      `how: for each database and policy, a fresh backend (scripts/benchBackend.ts, NODE_ENV=production) in its own process,`,
      `  a Llama Stack stand-in in this process (in-memory, answers at once), and a baseline in its own process:`,
      `  bare Express + knex on the SAME database, the plugin's list query (select * from mcp_servers order by id;`,
      `  with "where lower(created_by) in (owner-1)" for the owner policy, as the plugin's IS_OWNER filter), same JSON shape.`,
      `  mcp_servers is seeded directly with knex to N = ${sizes} rows (state registered, owners alternating owner-1/owner-2,`,
      `  JSON authorization_headers and headers), then ANALYZEd (VACUUM ANALYZE on PostgreSQL). All traffic is HTTP/1.1 on 127.0.0.1 with keep-alive agents.`,
      `latency: sequential on one connection after a warm-up; N<=1000: ${LOAD.latency.small.count} requests or ${LOAD.latency.small.maxMs / 1000} s,`,
      `  N=10000: ${LOAD.latency.large.count} requests or ${LOAD.latency.large.maxMs / 1000} s (p99 of ${LOAD.latency.large.count} is about the max); page: ${LOAD.page.latency.count} requests or ${LOAD.page.latency.maxMs / 1000} s.`,
      `throughput: ${LOAD.throughput.concurrency} keep-alive connections back to back, ${LOAD.throughput.small.durationMs / 1000} s (N<=1000) / ${LOAD.throughput.large.durationMs / 1000} s (N=10000), plugin and baseline alike;`,
      `  req/s = 200 answers / wall time. The load generator runs in this process, on the same ${cpus.length} cores.`,
      `baseline p50: the baseline's latency, measured like the plugin's (same requests, after its own warm-up).`,
      `register/delete: allow policy, ${LOAD.pairs.count} pairs after ${LOAD.pairs.warmup} warm-up, sequential, interleaved with the same two calls sent straight to the stand-in;`,
      `  also the database floor: the store's queries of one pair sent from the bench with knex to the same database.`,
      `principals: allow runs use a static access token (service principal); Backstage's permissions service allows service`,
      `  principals WITHOUT asking the policy, so owner runs use a guest-provider user token for ${OWNER_1} (policy consulted over HTTP);`,
      `  allow runs add "list, user token" rows (latency only) for the same list as a user, under the allow-all policy.`,
      `memory: VmHWM (peak RSS) of the backend process, read from /proc at the end of each run.`,
    ].join('\n'),
  );

  const databases = await selectDatabases();

  const runId = crypto.randomBytes(4).toString('hex');
  const results: RunResult[] = [];
  let lightspeedStackFailed = false;
  let userSettingsFailed = false;
  try {
    for (const db of databases) {
      for (const policy of ['allow', 'owner'] as const) {
        const runStarted = Date.now();
        process.stderr.write(`bench: ${db} / ${policy} ...`);
        const result = await run(db, policy, runId);
        process.stderr.write(
          ` ${((Date.now() - runStarted) / 1000).toFixed(0)} s${result.error ? ' (failed)' : ''}\n`,
        );
        results.push(result);
        printRun(result);
      }
    }
    printTargets(results);
    lightspeedStackFailed = !(await benchLightspeedStack({
      databases,
      runId,
    }));
    userSettingsFailed = !(await benchUserSettings({ databases, runId }));
  } finally {
    await cleanupAll();
  }
  console.log(`\ntotal ${((Date.now() - began) / 1000).toFixed(0)} s`);
  if (
    results.some(r => r.error) ||
    lightspeedStackFailed ||
    userSettingsFailed
  ) {
    process.exitCode = 1;
  }
}

if (process.argv.includes('--baseline')) {
  baselineProcessMain().catch(error => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch(async error => {
    console.error(error);
    await cleanupAll();
    process.exit(1);
  });
}

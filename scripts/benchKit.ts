/*
 * What the bench scripts share (scripts/bench.ts, scripts/benchLightspeedStack.ts):
 * a loopback-only HTTP client, latency summaries, cleanup of child processes,
 * temp dirs and PostgreSQL databases, and the backend under test
 * (scripts/benchBackend.ts) in a process of its own.
 */
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { freePort } from '../src/testing/localResources';

export const ROOT = path.resolve(__dirname, '..');
export const PLUGIN_ID = 'lightspeed-mcp';
/** The backend's static access token (a service principal). */
export const TOKEN = `bench-${crypto.randomBytes(12).toString('hex')}`;
/** The user the guest provider signs in. */
export const OWNER_1 = 'user:default/owner-1';
export const LIST_PATH = `/api/${PLUGIN_ID}/v1/mcp-servers`;
export const PG_URL =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ||
  'postgresql://postgres@127.0.0.1:5432';

const REQUEST_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 90_000;

// ---------------------------------------------------------------------------------------------------------
// Cleanup: children are SIGKILLed and temp dirs removed on any exit; databases
// are dropped in finally blocks and on SIGINT/SIGTERM.

export const children = new Set<ChildProcess>();
export const tempDirs = new Set<string>();
export const pgPrefixes = new Set<string>();

export function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  children.clear();
}

export function removeTempDirs() {
  for (const dir of tempDirs) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  tempDirs.clear();
}

export async function cleanupAll() {
  killChildren();
  removeTempDirs();
  for (const prefix of [...pgPrefixes]) {
    await dropPgDatabases(prefix).catch(error =>
      console.error(`could not drop databases ${prefix}*: ${error}`),
    );
  }
}

/**
 * Kills everything after `watchdogMs`, and cleans up on SIGINT / SIGTERM and
 * on exit.
 */
export function installCleanup(name: string, watchdogMs: number) {
  const watchdog = setTimeout(() => {
    console.error(
      `\n${name}: still running after ${watchdogMs / 1000} s; killing everything`,
    );
    cleanupAll().finally(() => process.exit(2));
  }, watchdogMs);
  watchdog.unref();
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal
    // and relayed by tsx), and a second signal must not end the process before
    // the databases are dropped.
    process.on(signal, () => {
      if (stopping) {
        return;
      }
      stopping = true;
      console.error(`\n${name}: ${signal}; cleaning up`);
      setTimeout(() => process.exit(130), 20_000).unref();
      cleanupAll().finally(() => process.exit(130));
    });
  }
  process.on('exit', () => {
    killChildren();
    removeTempDirs();
  });
}

// ---------------------------------------------------------------------------------------------------------
// HTTP client: node:http with keep-alive agents; bodies are counted, and kept
// only when asked.

export interface Answer {
  status: number;
  bytes: number;
  body?: string;
}

export interface Call {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  keepBody?: boolean;
}

export function send(agent: http.Agent, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(call.url);
    if (target.hostname !== '127.0.0.1') {
      reject(
        new Error(
          `refusing to send to ${target.hostname}: the bench talks to 127.0.0.1 only`,
        ),
      );
      return;
    }
    const headers: Record<string, string | number> = { ...call.headers };
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(call.body);
    }
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: call.method ?? 'GET',
        headers,
      },
      res => {
        let bytes = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (call.keepBody) {
            chunks.push(chunk);
          }
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            bytes,
            body: call.keepBody
              ? Buffer.concat(chunks).toString('utf8')
              : undefined,
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end(call.body);
  });
}

export function keepAliveAgent(maxSockets: number) {
  return new http.Agent({ keepAlive: true, maxSockets });
}

// ---------------------------------------------------------------------------------------------------------
// Measurements.

export interface Latency {
  samples: number[];
  errors: number;
  p50: number;
  p95: number;
  p99: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  return sorted[
    Math.min(
      sorted.length - 1,
      Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
    )
  ];
}

export function summarize(samples: number[], errors: number): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples,
    errors,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

/**
 * Runs `op` sequentially, at most `count` times and for at most `maxMs`; op
 * answers whether it succeeded.
 */
export async function sequential(
  op: () => Promise<boolean>,
  limits: { count: number; maxMs: number },
): Promise<Latency> {
  const samples: number[] = [];
  let errors = 0;
  const deadline = Date.now() + limits.maxMs;
  for (let i = 0; i < limits.count && Date.now() < deadline; i++) {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      ok = await op();
    } catch {
      ok = false;
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (ok) {
      samples.push(ms);
    } else {
      errors++;
    }
  }
  return summarize(samples, errors);
}

/** One register and one delete, each answering whether it succeeded. */
export interface PairCalls {
  post: () => Promise<boolean>;
  del: () => Promise<boolean>;
}

export interface PairLatency {
  post: Latency;
  del: Latency;
  pair: Latency;
}

/**
 * Sequential POST + DELETE pairs, one of each side per round, interleaved
 * (side order as given); `pairs(side, i)` names round i's calls. At most
 * `warmup + count` rounds and `maxMs`; the warm-up rounds are not measured
 * (their failures are counted).
 */
export async function interleavedPairs<Side extends string>(
  sides: readonly Side[],
  pairs: (side: Side, round: number) => PairCalls,
  limits: { warmup: number; count: number; maxMs: number },
): Promise<Record<Side, PairLatency>> {
  const timings = new Map(
    sides.map(side => [
      side,
      { post: [] as number[], del: [] as number[], errors: 0 },
    ]),
  );
  const time = async (
    fn: () => Promise<boolean>,
  ): Promise<number | undefined> => {
    const started = process.hrtime.bigint();
    const ok = await fn().catch(() => false);
    return ok ? Number(process.hrtime.bigint() - started) / 1e6 : undefined;
  };
  const deadline = Date.now() + limits.maxMs;
  for (
    let round = 1;
    round <= limits.warmup + limits.count && Date.now() < deadline;
    round++
  ) {
    for (const side of sides) {
      const calls = pairs(side, round);
      const post = await time(calls.post);
      const del = post === undefined ? undefined : await time(calls.del);
      const bucket = timings.get(side)!;
      if (post === undefined || del === undefined) {
        bucket.errors++;
      } else if (round > limits.warmup) {
        bucket.post.push(post);
        bucket.del.push(del);
      }
    }
  }
  const result = {} as Record<Side, PairLatency>;
  for (const [side, t] of timings) {
    result[side] = {
      post: summarize(t.post, t.errors),
      del: summarize(t.del, t.errors),
      pair: summarize(
        t.post.map((post, i) => post + t.del[i]),
        t.errors,
      ),
    };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Databases.

export type DbKind = 'sqlite' | 'postgres';

export async function dropPgDatabases(prefix: string) {
  const admin = knexFactory({
    client: 'pg',
    connection: PG_URL,
    pool: { min: 0, max: 1 },
  });
  try {
    const { rows } = await admin.raw(
      'select datname from pg_database where datname like ?',
      [`${prefix}%`],
    );
    for (const { datname } of rows as Array<{ datname: string }>) {
      await admin.raw('drop database ?? with (force)', [datname]);
    }
    pgPrefixes.delete(prefix);
  } finally {
    await admin.destroy();
  }
}

export async function postgresReachable(): Promise<string | undefined> {
  const admin = knexFactory({
    client: 'pg',
    connection: PG_URL,
    pool: { min: 0, max: 1 },
    acquireConnectionTimeout: 5000,
  });
  try {
    await admin.raw('select 1');
    return undefined;
  } catch (error) {
    return String((error as Error).message ?? error);
  } finally {
    await admin.destroy();
  }
}

/**
 * Adds rows up to `n` in total: bench-00001..., state registered, owners
 * alternating.

/**
 * The databases BENCH_DATABASES asks for (default both), PostgreSQL only when
 * reachable; prints what it decided.
 */
export async function selectDatabases(): Promise<DbKind[]> {
  const wanted = (process.env.BENCH_DATABASES ?? 'sqlite,postgres')
    .split(',')
    .map(s => s.trim());
  const databases: DbKind[] = wanted.includes('sqlite') ? ['sqlite'] : [];
  if (!wanted.includes('postgres')) {
    console.log(
      `PostgreSQL: skipped (BENCH_DATABASES=${process.env.BENCH_DATABASES})`,
    );
    return databases;
  }
  const problem = await postgresReachable();
  if (problem) {
    console.log(
      `PostgreSQL: NOT MEASURED, not reachable at ${new URL(PG_URL).host} (${problem})`,
    );
  } else {
    databases.push('postgres');
    console.log(
      `PostgreSQL: ${new URL(PG_URL).host}, databases prefixed lsmcp_bench_<run>_, dropped at the end`,
    );
  }
  return databases;
}

/**
 * `backend.database` for the backend: a SQLite file per plugin in `dir`, or
 * PostgreSQL databases named `<prefix><pluginId>` (remembered for cleanup).
 */
export function backendDatabase(
  kind: DbKind,
  dir: string,
  prefix: string,
): object {
  if (kind === 'sqlite') {
    return { client: 'better-sqlite3', connection: { directory: dir } };
  }
  pgPrefixes.add(prefix);
  return { client: 'pg', connection: PG_URL, prefix };
}

// ---------------------------------------------------------------------------------------------------------
// The backend under test.

export interface Backend {
  baseUrl: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts scripts/benchBackend.ts (NODE_ENV=production) and waits until the
 * plugin answers a list. `lightspeedMcp`: the plugin's config (upstream,
 * reconcile).
 */
export async function startBackend(options: {
  dir: string;
  policy: 'allow' | 'owner';
  database: object;
  lightspeedMcp: object;
}): Promise<Backend> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const configFile = path.join(options.dir, 'app-config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      app: { baseUrl: 'http://127.0.0.1:3000' },
      backend: {
        baseUrl,
        listen: { host: '127.0.0.1', port },
        database: options.database,
        auth: {
          externalAccess: [
            { type: 'static', options: { token: TOKEN, subject: 'bench' } },
          ],
        },
      },
      // A user token for owner-1, because the policy is never asked about
      // service principals.
      auth: {
        providers: {
          guest: {
            userEntityRef: OWNER_1,
            dangerouslyAllowOutsideDevelopment: true,
          },
        },
      },
      permission: { enabled: true },
      lightspeedMcp: options.lightspeedMcp,
    }),
  );
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join('scripts', 'benchBackend.ts'),
      '--config',
      configFile,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        BENCH_POLICY: options.policy,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const agent = keepAliveAgent(1);
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `the backend exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-4000)}`,
        );
      }
      const answer = await send(agent, {
        url: `${baseUrl}${LIST_PATH}`,
        headers: { authorization: `Bearer ${TOKEN}` },
      }).catch(() => undefined);
      if (answer?.status === 200) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the backend was not ready within ${READY_TIMEOUT_MS} ms:\n${output.slice(-4000)}`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    agent.destroy();
  }
  return {
    baseUrl,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      children.delete(child);
    },
  };
}

/** Peak and current resident memory of a process, from /proc (Linux) or ps. */
export function memoryOf(pid: number): {
  peakMb?: number;
  rssMb?: number;
  source: string;
} {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) / 1024 : undefined;
    };
    return {
      peakMb: kb('VmHWM'),
      rssMb: kb('VmRSS'),
      source: '/proc/<pid>/status VmHWM',
    };
  } catch {
    return { source: 'unavailable' };
  }
}

export async function guestUserToken(baseUrl: string): Promise<string> {
  const agent = keepAliveAgent(1);
  try {
    const answer = await send(agent, {
      url: `${baseUrl}/api/auth/guest/refresh`,
      headers: { 'x-requested-with': 'XMLHttpRequest' },
      keepBody: true,
    });
    if (answer.status !== 200) {
      throw new Error(
        `guest sign-in answered ${answer.status}: ${answer.body?.slice(0, 300)}`,
      );
    }
    return (
      JSON.parse(answer.body!) as { backstageIdentity: { token: string } }
    ).backstageIdentity.token;
  } finally {
    agent.destroy();
  }
}

/**
 * The URL of a registered server: an IP address, because a register resolves a
 * host name for the URL policy, and this machine's resolver (not the plugin)
 * would then dominate the figures.
 */
export function mcpUrl(name: string): string {
  return `http://127.0.0.1:9/${encodeURIComponent(name)}/mcp`;
}

// ---------------------------------------------------------------------------------------------------------
// Output.

export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || Number.isNaN(value)
    ? '-'
    : value.toFixed(digits);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ');
  return [
    line(headers),
    widths.map(w => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ].join('\n');
}

/** Runs `runOne` for each database, saying on stderr how long each took. */
export async function eachDatabase<R extends { error?: string }>(
  label: string,
  databases: DbKind[],
  runOne: (db: DbKind) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (const db of databases) {
    const started = Date.now();
    process.stderr.write(`bench: ${label} / ${db} ...`);
    const result = await runOne(db);
    process.stderr.write(
      ` ${((Date.now() - started) / 1000).toFixed(0)} s${result.error ? ' (failed)' : ''}\n`,
    );
    results.push(result);
  }
  return results;
}

/**
 * Runs one bench module on its own (`npx tsx scripts/<name>.ts`): the
 * databases of BENCH_DATABASES, cleanup on any exit, the exit code.
 */
export function runAlone(
  name: string,
  watchdogMs: number,
  bench: (options: { databases: DbKind[]; runId: string }) => Promise<boolean>,
): void {
  const main = async () => {
    const began = Date.now();
    installCleanup(name, watchdogMs);
    const cpus = os.cpus();
    console.log(
      `machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), Node ${process.version}`,
    );
    let ok = false;
    try {
      ok = await bench({
        databases: await selectDatabases(),
        runId: crypto.randomBytes(4).toString('hex'),
      });
    } finally {
      await cleanupAll();
    }
    console.log(`\ntotal ${((Date.now() - began) / 1000).toFixed(0)} s`);
    process.exitCode = ok ? 0 : 1;
  };
  main().catch(async error => {
    console.error(error);
    await cleanupAll();
    process.exit(1);
  });
}

/**
 * Ends one database's run, whatever happened: closes what it opened (in
 * order), drops its PostgreSQL databases and removes its folder. A database
 * that cannot be dropped is said in the run's error.
 */
export async function endRun(
  run: { db: DbKind; prefix: string; dir: string; result: { error?: string } },
  closers: Array<() => Promise<unknown> | undefined>,
): Promise<void> {
  for (const close of closers) {
    await close()?.catch(() => undefined);
  }
  if (run.db === 'postgres') {
    await dropPgDatabases(run.prefix).catch(error => {
      run.result.error = `${run.result.error ?? ''}\ncould not drop databases ${run.prefix}*: ${error}`;
    });
  }
  fs.rmSync(run.dir, { recursive: true, force: true });
  tempDirs.delete(run.dir);
}

/*
 * The lightspeed-stack (LCS) part of `npm run bench`: scripts/bench.ts calls it
 * at its end; it also runs alone:
 *
 *   npx tsx scripts/benchLightspeedStack.ts
 *
 * For each database (SQLite file, PostgreSQL; BENCH_DATABASES as in bench.ts)
 * it starts an LCS stand-in in this process and a real backend
 * (scripts/benchBackend.ts, allow-all policy) in a process of its own, synced
 * to the stand-in (`lightspeedMcp.lightspeedStack`) with a short reconcile
 * period, and measures:
 *
 * 1. register + delete through the plugin with a guest-provider USER token
 *    (the permission backend is asked over HTTP), against the same two calls
 *    sent straight to the stand-in, interleaved, on an empty table;
 * 2. convergence after an LCS restart: 1,000 servers registered through the
 *    API (bounded concurrency) are all in LCS; the stand-in restarts empty
 *    (LCS keeps API servers in memory only) and the reconciler must register
 *    them all again. Measured: restart until the stand-in holds all 1,000,
 *    and the reconcile run's own duration from the backend's log.
 *
 * Everything listens on 127.0.0.1; every loop is bounded in count and in time;
 * the backend is killed and its temp dir and PostgreSQL databases removed on
 * the way out, failure or not.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LightspeedStackStandIn } from '../src/testing/lightspeedStackStandIn';
import {
  Backend,
  backendDatabase,
  DbKind,
  fmt,
  guestUserToken,
  interleavedPairs,
  keepAliveAgent,
  LIST_PATH,
  mcpUrl,
  memoryOf,
  PairLatency,
  send,
  startBackend,
  table,
  tempDirs,
  TOKEN,
  eachDatabase,
  runAlone,
  endRun,
} from './benchKit';

const LCS_TOKEN = `lcs-bench-${crypto.randomBytes(12).toString('hex')}`;
const LCS_ROUTE = '/v1/mcp-servers';
const SERVERS = 1000;
const RECONCILE_PERIOD_S = 5;
/** The plugin's reconciler: upstream calls under way at once (src/plugin.ts). */
const RECONCILER_PARALLELISM = 4;

const LOAD = {
  /** As many at once as the reconciler (SQLite serializes writes anyway). */
  register: { concurrency: 4, maxMs: 60_000 },
  /** Until the stand-in holds every server registered through the API. */
  heldMaxMs: 30_000,
  /** Restart until every server is back: a few periods at most. */
  convergenceMaxMs: 60_000,
  /** Until the backend logs the run that put them back. */
  logMaxMs: 15_000,
  pollMs: 5,
  pairs: { warmup: 20, count: 200, maxMs: 30_000 },
  /** Alone: the whole run is killed after this, whatever happens. */
  watchdogMs: 5 * 60_000,
};

const RECONCILED =
  /^Reconciled MCP servers with lightspeed-stack in (\d+) ms: (\d+) checked, (\d+) registered, .*, (\d+) failed$/;

// ---------------------------------------------------------------------------------------------------------
// The backend's log (JSON lines in production): reconcile runs, warnings and
// errors, timed on arrival here.

interface ReconcileRun {
  /** When the line arrived here (epoch ms). */
  endedAt: number;
  ms: number;
  checked: number;
  registered: number;
  failed: number;
}

interface Problem {
  at: number;
  level: string;
  /** The log line, cut short. */
  line: string;
}

const MAX_PROBLEMS_KEPT = 200;

class BackendLog {
  readonly runs: ReconcileRun[] = [];
  /** The first warnings and errors; `problemCount` counts them all. */
  readonly problems: Problem[] = [];
  problemCount = 0;

  constructor(streams: Array<Readable | null>) {
    for (const stream of streams) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        lines.forEach(line => this.take(line));
      });
    }
  }

  private take(line: string) {
    const at = Date.now();
    let entry: { level?: string; message?: unknown };
    try {
      entry = JSON.parse(line);
    } catch {
      entry = { level: line.trim() ? 'raw' : undefined, message: line };
    }
    const message = String(entry.message ?? '');
    const match = RECONCILED.exec(message);
    if (match) {
      this.runs.push({
        endedAt: at,
        ms: Number(match[1]),
        checked: Number(match[2]),
        registered: Number(match[3]),
        failed: Number(match[4]),
      });
    }
    if (entry.level === 'warn' || entry.level === 'error') {
      this.problemCount++;
      if (this.problems.length < MAX_PROBLEMS_KEPT) {
        this.problems.push({
          at,
          level: entry.level,
          line: line.slice(0, 400),
        });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// One database.

interface Convergence {
  /** Restart of the stand-in until it holds every server again. */
  allBackMs?: number;
  /** Restart until the stand-in's first call after it (the run's list). */
  firstCallMs?: number;
  heldAtEnd: number;
  /** The reconcile run that put them back, as the plugin logged it. */
  run?: ReconcileRun;
  /** Restart until that run started (its end minus its duration). */
  runStartMs?: number;
  /** Reconcile runs that ended after the restart, up to `run`. */
  runsAfterRestart: number;
  /** Warnings and errors the backend logged from the restart on. */
  problems: Problem[];
  problemCount: number;
}

interface LcsResult {
  db: DbKind;
  startupMs?: number;
  registerMs?: number;
  pairs?: Record<PairSide, PairLatency>;
  /** Calls the stand-in received per plugin pair, by method. */
  lcsCallsPerPair?: Record<string, number>;
  convergence?: Convergence;
  /** What the backend logged before the restart (pairs, registrations). */
  beforeRestart?: {
    problems: Problem[];
    problemCount: number;
    /** Servers reconcile runs failed to register, in all. */
    failedInRuns: number;
  };
  /** Start of one reconcile run to the next (ms). */
  periods: number[];
  peakRssMb?: number;
  error?: string;
}

async function runOne(db: DbKind, runId: string): Promise<LcsResult> {
  const result: LcsResult = { db, periods: [] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lsmcp-bench-lcs-${db}-`));
  tempDirs.add(dir);
  const prefix = `lsmcp_bench_${runId}_lcs_`;
  let standIn: LightspeedStackStandIn | undefined;
  let backend: Backend | undefined;
  const agents: http.Agent[] = [];
  try {
    standIn = await LightspeedStackStandIn.start({ token: LCS_TOKEN });
    const started = Date.now();
    backend = await startBackend({
      dir,
      policy: 'allow',
      database: backendDatabase(db, dir, prefix),
      lightspeedMcp: {
        lightspeedStack: {
          baseUrl: standIn.url,
          token: LCS_TOKEN,
          timeout: { seconds: 10 },
        },
        reconcile: {
          frequency: { seconds: RECONCILE_PERIOD_S },
          timeout: { minutes: 2 },
        },
      },
    });
    result.startupMs = Date.now() - started;
    const log = new BackendLog([backend.child.stdout, backend.child.stderr]);
    const one = keepAliveAgent(1);
    const many = keepAliveAgent(LOAD.register.concurrency);
    agents.push(one, many);

    const userToken = await guestUserToken(backend.baseUrl);
    const callsBefore = standIn.calls.length;
    result.pairs = await measurePairs(backend.baseUrl, standIn, one, userToken);
    const user = result.pairs.user.pair;
    result.lcsCallsPerPair = callsPerPair(
      standIn.calls.slice(callsBefore),
      LOAD.pairs.warmup + user.samples.length + user.errors,
    );

    const registerStarted = Date.now();
    await registerServers(backend.baseUrl, many);
    await waitUntil(
      () => standIn!.servers.size >= SERVERS,
      LOAD.heldMaxMs,
      () =>
        `the stand-in holds ${standIn!.servers.size} servers, not ${SERVERS}`,
    );
    result.registerMs = Date.now() - registerStarted;

    const restartAt = Date.now();
    result.convergence = await measureConvergence(standIn, log);
    // The restart does not move the schedule: the run after it counts too.
    const starts = log.runs.map(run => run.endedAt - run.ms);
    result.periods = starts.slice(1).map((start, i) => start - starts[i]);
    result.beforeRestart = {
      problems: log.problems.filter(p => p.at < restartAt),
      problemCount: log.problemCount - result.convergence.problemCount,
      failedInRuns: log.runs
        .filter(run => run.endedAt < restartAt)
        .reduce((sum, run) => sum + run.failed, 0),
    };
    result.peakRssMb = memoryOf(backend.child.pid!).peakMb;
    if (result.convergence.allBackMs === undefined) {
      throw new Error(
        `LCS held ${result.convergence.heldAtEnd} of ${SERVERS} servers ${LOAD.convergenceMaxMs} ms after its restart`,
      );
    }
  } catch (error) {
    result.error = `${(error as Error).stack ?? error}`;
    if (backend) {
      result.error += `\nbackend output (end):\n${backend.output().slice(-3000)}`;
    }
  } finally {
    agents.forEach(agent => agent.destroy());
    await endRun({ db, prefix, dir, result }, [
      () => backend?.stop(),
      () => standIn?.stop(),
    ]);
  }
  return result;
}

const PAIR_SIDES = ['user', 'service', 'direct'] as const;
type PairSide = (typeof PAIR_SIDES)[number];
const PAIR_NAMES: Record<PairSide, string> = {
  user: 'pair-u',
  service: 'pair-s',
  direct: 'direct',
};

/**
 * POST + DELETE through the plugin as a user (the measurement) and with the
 * static token (a service principal: no permission round trip, for
 * comparison), and the same two calls straight to the stand-in, interleaved.
 */
function measurePairs(
  backendUrl: string,
  standIn: LightspeedStackStandIn,
  agent: http.Agent,
  userToken: string,
) {
  const api = `${backendUrl}${LIST_PATH}`;
  const viaPlugin = (name: string, token: string) => ({
    post: async () =>
      (
        await send(agent, {
          method: 'POST',
          url: api,
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify({ name, url: mcpUrl(name) }),
        })
      ).status === 201,
    del: async () =>
      (
        await send(agent, {
          method: 'DELETE',
          url: `${api}/${encodeURIComponent(name)}`,
          headers: { authorization: `Bearer ${token}` },
        })
      ).status === 200,
  });
  const direct = (name: string) => ({
    post: async () =>
      (
        await send(agent, {
          method: 'POST',
          url: `${standIn.url}${LCS_ROUTE}`,
          headers: { authorization: `Bearer ${LCS_TOKEN}` },
          body: JSON.stringify({
            name,
            url: mcpUrl(name),
            provider_id: 'model-context-protocol',
          }),
        })
      ).status === 201,
    del: async () =>
      (
        await send(agent, {
          method: 'DELETE',
          url: `${standIn.url}${LCS_ROUTE}/${encodeURIComponent(name)}`,
          headers: { authorization: `Bearer ${LCS_TOKEN}` },
        })
      ).status === 200,
  });
  return interleavedPairs(
    PAIR_SIDES,
    (side, i) => {
      const name = `${PAIR_NAMES[side]}-${String(i).padStart(5, '0')}`;
      if (side === 'direct') {
        return direct(name);
      }
      return viaPlugin(name, side === 'user' ? userToken : TOKEN);
    },
    LOAD.pairs,
  );
}

/**
 * The calls the plugin made per user pair, by method (reconcile lists
 * aside).
 */
function callsPerPair(
  calls: LightspeedStackStandIn['calls'],
  pairs: number,
): Record<string, number> {
  const perPair: Record<string, number> = {};
  for (const call of calls) {
    const name =
      call.method === 'POST'
        ? String((call.body as { name?: unknown } | undefined)?.name)
        : decodeURIComponent(call.path.split('/').pop() ?? '');
    if (call.method !== 'GET' && name.startsWith(`${PAIR_NAMES.user}-`)) {
      perPair[call.method] = (perPair[call.method] ?? 0) + 1 / pairs;
    }
  }
  return perPair;
}

/** Registers `lcs-00001`... through the API, a few at once. */
async function registerServers(backendUrl: string, agent: http.Agent) {
  const deadline = Date.now() + LOAD.register.maxMs;
  let next = 1;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: LOAD.register.concurrency }, async () => {
      while (next <= SERVERS && Date.now() < deadline) {
        const name = `lcs-${String(next++).padStart(5, '0')}`;
        const answer = await send(agent, {
          method: 'POST',
          url: `${backendUrl}${LIST_PATH}`,
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ name, url: mcpUrl(name) }),
          keepBody: true,
        }).catch(error => ({ status: 0, body: String(error) }));
        if (answer.status !== 201) {
          failures.push(`${name}: ${answer.status} ${answer.body}`);
        }
      }
    }),
  );
  if (next <= SERVERS || failures.length > 0) {
    throw new Error(
      `registered ${next - 1 - failures.length} of ${SERVERS} servers within ${LOAD.register.maxMs} ms` +
        (failures.length ? `; first failure: ${failures[0]}` : ''),
    );
  }
}

/**
 * Restarts the stand-in empty and waits, polling every few ms, until it holds
 * every server again; then finds the reconcile run that did it in the log.
 */
async function measureConvergence(
  standIn: LightspeedStackStandIn,
  log: BackendLog,
): Promise<Convergence> {
  const callsBefore = standIn.calls.length;
  const problemsBefore = log.problemCount;
  const runsBefore = log.runs.length;
  const restartAt = Date.now();
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  await standIn.restart();
  let firstCallMs: number | undefined;
  let allBackMs: number | undefined;
  const deadline = Date.now() + LOAD.convergenceMaxMs;
  while (Date.now() < deadline) {
    if (firstCallMs === undefined && standIn.calls.length > callsBefore) {
      firstCallMs = elapsed();
    }
    if (standIn.servers.size >= SERVERS) {
      allBackMs = elapsed();
      break;
    }
    await sleep(LOAD.pollMs);
  }
  const heldAtEnd = standIn.servers.size;
  const runAfter = () =>
    log.runs.slice(runsBefore).find(run => run.registered > 0);
  if (allBackMs !== undefined) {
    await waitUntil(
      () => runAfter() !== undefined,
      LOAD.logMaxMs,
      () => 'the backend logged no reconcile run that registered servers',
    ).catch(() => undefined);
  }
  const run = runAfter();
  const runIndex = run ? log.runs.indexOf(run) : log.runs.length - 1;
  // Warnings up to a moment after convergence.
  await sleep(500);
  return {
    allBackMs,
    firstCallMs,
    heldAtEnd,
    run,
    runStartMs: run ? run.endedAt - run.ms - restartAt : undefined,
    runsAfterRestart: runIndex + 1 - runsBefore,
    problems: log.problems.filter(p => p.at >= restartAt),
    problemCount: log.problemCount - problemsBefore,
  };
}

function sleep(ms: number) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

async function waitUntil(
  condition: () => boolean,
  maxMs: number,
  describe: () => string,
) {
  const deadline = Date.now() + maxMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`after ${maxMs} ms: ${describe()}`);
    }
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output.

const DB_NAMES: Record<DbKind, string> = {
  sqlite: 'SQLite (file)',
  postgres: 'PostgreSQL',
};

function seconds(ms: number | undefined, digits = 2) {
  return ms === undefined ? '-' : (ms / 1000).toFixed(digits);
}

function printProblems(label: string, problems: Problem[], count: number) {
  console.log(`    ${label}: ${count} warnings/errors logged`);
  for (const p of problems.slice(0, 3)) {
    console.log(`      ${p.line}`);
  }
  if (count > 3) {
    console.log(`      ... ${count - 3} more`);
  }
}

function printResults(results: LcsResult[]) {
  console.log(
    `\nconvergence after an LCS restart with ${SERVERS.toLocaleString('en')} servers ` +
      `(reconcile.frequency ${RECONCILE_PERIOD_S} s, reconciler parallelism ${RECONCILER_PARALLELISM}):`,
  );
  console.log(
    table(
      [
        'database',
        'back',
        'restart -> all back s',
        'restart -> run start s',
        'run ms (log)',
        'registered / failed',
        'period s (observed)',
        'max period + run s',
      ],
      results.map(r => {
        const c = r.convergence;
        const periods = [...r.periods].sort((a, b) => a - b);
        const maxPeriod = periods.at(-1);
        return [
          DB_NAMES[r.db],
          c ? `${c.heldAtEnd}/${SERVERS}` : '-',
          seconds(c?.allBackMs),
          seconds(c?.runStartMs),
          c?.run ? String(c.run.ms) : '-',
          c?.run ? `${c.run.registered} / ${c.run.failed}` : '-',
          periods.length
            ? `${seconds(periods[0], 1)}-${seconds(maxPeriod, 1)} (${periods.length})`
            : '-',
          maxPeriod !== undefined && c?.run
            ? seconds(maxPeriod + c.run.ms)
            : '-',
        ];
      }),
    ),
  );
  for (const r of results) {
    const c = r.convergence;
    if (!c) {
      continue;
    }
    console.log(
      `  ${DB_NAMES[r.db]}: restart -> first LCS call ${seconds(c.firstCallMs)} s; ` +
        `reconcile runs ended after the restart until all were back: ${c.runsAfterRestart}; ` +
        `${SERVERS} registered through the API (${LOAD.register.concurrency} at once) in ${seconds(r.registerMs, 1)} s; ` +
        `backend ready ${seconds(r.startupMs, 1)} s after spawn, peak RSS ${fmt(r.peakRssMb, 0)} MiB`,
    );
    if (r.beforeRestart) {
      printProblems(
        `before the restart (pairs, registrations; reconcile runs failed to register ${r.beforeRestart.failedInRuns} servers)`,
        r.beforeRestart.problems,
        r.beforeRestart.problemCount,
      );
    }
    printProblems('from the restart on', c.problems, c.problemCount);
  }

  console.log(
    `\nregister + delete through the plugin vs straight to the LCS stand-in ` +
      `(sequential, ${LOAD.pairs.count} pairs after ${LOAD.pairs.warmup} warm-up, the three interleaved, empty table, allow-all policy):`,
  );
  const rows: string[][] = [];
  const sideNames: Record<PairSide, string> = {
    user: 'plugin, user token',
    service: 'plugin, service token',
    direct: 'direct to the stand-in',
  };
  for (const r of results) {
    if (!r.pairs) {
      continue;
    }
    const pairs = r.pairs;
    for (const side of PAIR_SIDES) {
      for (const [call, l] of [
        ['POST', pairs[side].post],
        ['DELETE', pairs[side].del],
        ['pair', pairs[side].pair],
      ] as const) {
        rows.push([
          DB_NAMES[r.db],
          sideNames[side],
          call,
          String(l.samples.length),
          fmt(l.p50, 2),
          fmt(l.p95, 2),
          String(l.errors),
        ]);
      }
    }
    for (const side of ['user', 'service'] as const) {
      rows.push([
        DB_NAMES[r.db],
        `OVERHEAD, ${sideNames[side]}`,
        'pair - direct pair',
        '',
        fmt(pairs[side].pair.p50 - pairs.direct.pair.p50, 2),
        fmt(pairs[side].pair.p95 - pairs.direct.pair.p95, 2),
        '',
      ]);
    }
  }
  if (rows.length) {
    console.log(
      table(
        ['database', 'path', 'call', 'n', 'p50 ms', 'p95 ms', 'errors'],
        rows,
      ),
    );
  }
  for (const r of results) {
    if (r.lcsCallsPerPair) {
      const calls = Object.entries(r.lcsCallsPerPair)
        .map(([method, count]) => `${fmt(count, 2)} ${method}`)
        .join(', ');
      console.log(
        `  ${DB_NAMES[r.db]}: LCS calls per plugin pair (user token): ${calls || 'none'}`,
      );
    }
  }
  for (const r of results) {
    if (r.error) {
      console.log(
        `\n${DB_NAMES[r.db]}: LIGHTSPEED-STACK RUN FAILED: ${r.error}`,
      );
    }
  }
}

/**
 * Measures and prints; resolves false when a run failed. The caller cleans up
 * (cleanupAll) at the end, as on a signal.
 */
export async function benchLightspeedStack(options: {
  databases: DbKind[];
  runId: string;
}): Promise<boolean> {
  console.log('\n=== lightspeed-stack as the upstream (LCS stand-in) ===');
  console.log(
    [
      `how: for each database, a fresh backend (scripts/benchBackend.ts, NODE_ENV=production, allow-all policy) in its own process,`,
      `  lightspeedMcp.lightspeedStack pointing at an LCS stand-in in this process (in-memory, answers at once),`,
      `  reconcile.frequency ${RECONCILE_PERIOD_S} s. First register + delete pairs on an empty table; then ${SERVERS} servers`,
      `  registered through the API; once the stand-in holds them all, it restarts empty, as LCS does (API servers are in memory only).`,
      `  "all back": polled every ${LOAD.pollMs} ms in this process; "run ms": the plugin's own log line`,
      `  ("Reconciled MCP servers with lightspeed-stack in N ms"); "run start": its arrival here minus N.`,
      `  "period": start of one reconcile run to the next (min-max, count); the scheduler polls`,
      `  for due tasks every min(5 s, period), so a run starts up to one poll after it is due.`,
    ].join('\n'),
  );
  console.log(
    `load average (1/5/15 min) now: ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' / ')} on ${os.cpus().length} cores`,
  );
  const results = await eachDatabase(
    'lightspeed-stack',
    options.databases,
    db => runOne(db, options.runId),
  );
  printResults(results);
  return !results.some(r => r.error);
}

if (require.main === module) {
  runAlone('benchLightspeedStack', LOAD.watchdogMs, benchLightspeedStack);
}

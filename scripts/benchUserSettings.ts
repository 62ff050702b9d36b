/*
 * The per-user part of `npm run bench`: what a chat question costs the
 * plugin. scripts/bench.ts calls it at its end; it also runs alone:
 *
 *   npx tsx scripts/benchUserSettings.ts
 *
 * For each database (SQLite file, PostgreSQL; BENCH_DATABASES as in bench.ts)
 * it starts a Llama Stack stand-in in this process and a real backend
 * (scripts/benchBackend.ts, BENCH_POLICY=owner: list is the conditional
 * decision IS_OWNER of user:default/owner-1) in a process of its own, with
 * `lightspeedMcp.tokenEncryption.keys` set, then:
 *
 * 1. seeds mcp_servers with knex: 1,100 servers, 100 of them created by
 *    user:default/owner-1 (the user the guest provider signs in, whom the
 *    policy's IS_OWNER names), 1,000 by 50 other owners, interleaved; each
 *    declares an Authorization header;
 * 2. gives owner-1 a personal token for each of its 100 servers through the
 *    settings route (PATCH /api/lightspeed-mcp/mcp-servers/{name} with
 *    `{ "token": ... }`, the user's token): the plugin encrypts and stores it.
 *    The servers' URLs are on 127.0.0.1 port 9, which HTTP clients refuse, so
 *    the validation a token set triggers fails at once;
 * 3. checks that GET /v1/mcp-headers answers exactly those 100 tokens and GET
 *    /v1/mcp-tools 100 tools with them (aborts otherwise);
 * 4. measures both routes with the user's token (the plugin asks the
 *    permission backend over HTTP, gets the conditional decision and filters
 *    in the database), sequentially on one keep-alive connection, interleaved
 *    with context calls of the same user: the list of the same 100 servers, a
 *    page of one (any request that asks the permission backend), the
 *    permission backend's /authorize asked directly, an unknown path of the
 *    plugin (HTTP and token verification only); then both routes with the
 *    static token (a service principal: no policy, no user);
 * 5. times, in this process against the same database, the plugin's own work:
 *    its two queries of a chat route (the store classes of src/database), 100
 *    AES-256-GCM decrypts with its TokenCipher, and each route's use case
 *    (src/authorized, src/userSettings) with the decision in hand.
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
import {
  AuditorService,
  BackstageCredentials,
  DatabaseService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { PermissionRuleset } from '@backstage/plugin-permission-node';
import knexFactory, { Knex } from 'knex';
import { AuthorizedUserSettingsService } from '../src/authorized/AuthorizedUserSettingsService';
import { DatabaseMcpServerStore } from '../src/database/DatabaseMcpServerStore';
import { DatabaseUserSettingsStore } from '../src/database/DatabaseUserSettingsStore';
import { McpServerService } from '../src/mcpServers/McpServerService';
import { McpServer, McpServerFilter } from '../src/mcpServers/types';
import { createServerConditions } from '../src/permissions/conditions';
import {
  mcpServerListPermission,
  mcpServerRegisterPermission,
} from '../src/permissions/permissions';
import {
  createMcpServerConditionalDecision,
  mcpServerConditions,
  mcpServerRules,
} from '../src/permissions/rules';
import { toMcpTools } from '../src/service/mcpTools';
import { LlamaStackStandIn } from '../src/testing/llamaStackStandIn';
import { Upstream } from '../src/upstream/Upstream';
import { TokenCipher } from '../src/userSettings/TokenCipher';
import { UserSettingsService } from '../src/userSettings/UserSettingsService';
import {
  Backend,
  backendDatabase,
  Call,
  DbKind,
  fmt,
  guestUserToken,
  keepAliveAgent,
  Latency,
  mcpUrl,
  OWNER_1,
  PG_URL,
  PLUGIN_ID,
  send,
  sequential,
  startBackend,
  summarize,
  table,
  tempDirs,
  TOKEN,
  eachDatabase,
  runAlone,
  endRun,
} from './benchKit';

const USER_SERVERS = 100;
const OTHER_SERVERS = 1000;
const OTHER_OWNERS = 50;
/** Every 11th row is owner-1's: 100 of 1,100. */
const STRIDE = (USER_SERVERS + OTHER_SERVERS) / USER_SERVERS;
const TARGET_P50_MS = 5;
const SECRET = `bench-${crypto.randomBytes(24).toString('hex')}`;
const API = `/api/${PLUGIN_ID}`;

const LOAD = {
  /** PATCH of the 100 tokens, a few at once. */
  tokens: { concurrency: 4, maxMs: 30_000 },
  /**
   * Rounds of the probes of each phase, interleaved; the first `warmup` not
   * measured.
   */
  http: {
    user: { warmup: 20, count: 200, maxMs: 25_000 },
    service: { warmup: 10, count: 100, maxMs: 10_000 },
  },
  inProcess: {
    warmup: { count: 20, maxMs: 2000 },
    latency: { count: 200, maxMs: 5000 },
  },
  /** Alone: the whole run is killed after this, whatever happens. */
  watchdogMs: 4 * 60_000,
};

// ---------------------------------------------------------------------------------------------------------
// Seeding.

function serverName(i: number) {
  return `us-${String(i).padStart(5, '0')}`;
}

function ownerOf(i: number) {
  return i % STRIDE === 0
    ? OWNER_1
    : `user:default/other-${String(i % OTHER_OWNERS).padStart(2, '0')}`;
}

function pluginKnex(kind: DbKind, location: string): Knex {
  if (kind === 'sqlite') {
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: location },
      useNullAsDefault: true,
    });
  }
  const url = new URL(PG_URL);
  url.pathname = `/${location}`;
  return knexFactory({
    client: 'pg',
    connection: url.toString(),
    pool: { min: 0, max: 2 },
  });
}

/** 1,100 registered servers; answers owner-1's names. */
async function seedServers(db: Knex): Promise<string[]> {
  const now = new Date().toISOString();
  const rows = [];
  const mine: string[] = [];
  for (let i = 1; i <= USER_SERVERS + OTHER_SERVERS; i++) {
    const name = serverName(i);
    const createdBy = ownerOf(i);
    if (createdBy === OWNER_1) {
      mine.push(name);
    }
    rows.push({
      name,
      url: mcpUrl(name),
      provider_id: 'model-context-protocol',
      authorization_headers: JSON.stringify({ Authorization: 'client' }),
      headers: null,
      timeout: 30,
      state: 'registered',
      created_by: createdBy,
      created_at: now,
      state_changed_at: now,
      status_message: null,
    });
  }
  await db.batchInsert('mcp_servers', rows, 500);
  const [{ count }] = await db('mcp_servers').count({ count: '*' });
  if (Number(count) !== rows.length || mine.length !== USER_SERVERS) {
    throw new Error(
      `seeded ${count} rows (${mine.length} of ${OWNER_1}), wanted ${rows.length} (${USER_SERVERS})`,
    );
  }
  return mine;
}

/** Statistics, as autovacuum would soon have them in a running system. */
async function analyze(db: Knex) {
  for (const t of ['mcp_servers', 'mcp_user_settings']) {
    await db.raw(
      db.client.config.client === 'pg' ? `vacuum analyze ${t}` : `analyze ${t}`,
    );
  }
}

/**
 * Sets owner-1's personal token of each server through the settings route, a
 * few at once; answers the tokens by server name.
 */
async function setTokens(
  baseUrl: string,
  names: string[],
  userToken: string,
  agent: http.Agent,
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  const failures: string[] = [];
  const queue = [...names];
  const deadline = Date.now() + LOAD.tokens.maxMs;
  await Promise.all(
    Array.from({ length: LOAD.tokens.concurrency }, async () => {
      for (
        let name = queue.shift();
        name !== undefined && Date.now() < deadline;
        name = queue.shift()
      ) {
        // A GitHub-like personal access token: 40 characters.
        const token = `ghp_${crypto.randomBytes(27).toString('base64url')}`;
        const answer = await send(agent, {
          method: 'PATCH',
          url: `${baseUrl}${API}/mcp-servers/${encodeURIComponent(name)}`,
          headers: { authorization: `Bearer ${userToken}` },
          body: JSON.stringify({ token }),
          keepBody: true,
        }).catch(error => ({ status: 0, bytes: 0, body: String(error) }));
        const body = parseJson(answer.body) as
          { server?: { hasUserToken?: boolean } } | undefined;
        if (answer.status === 200 && body?.server?.hasUserToken === true) {
          tokens.set(name, token);
        } else {
          failures.push(
            `${name}: ${answer.status} ${answer.body?.slice(0, 300)}`,
          );
        }
      }
    }),
  );
  if (tokens.size !== names.length) {
    throw new Error(
      `set ${tokens.size} of ${names.length} personal tokens within ${LOAD.tokens.maxMs} ms` +
        (failures.length ? `; first failure: ${failures[0]}` : ''),
    );
  }
  return tokens;
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// What the routes answer, checked before measuring.

function checkHeaders(body: unknown, tokens: Map<string, string>): string[] {
  const headers = (body ?? {}) as Record<string, { Authorization?: string }>;
  const problems: string[] = [];
  const names = Object.keys(headers);
  if (names.length !== tokens.size) {
    problems.push(`${names.length} entries, not ${tokens.size}`);
  }
  for (const [name, token] of tokens) {
    if (headers[name]?.Authorization !== token) {
      problems.push(`'${name}' lacks its personal token`);
      break;
    }
  }
  return problems;
}

function checkTools(body: unknown, tokens: Map<string, string>): string[] {
  const { tools = [], skipped = [] } = (body ?? {}) as {
    tools?: Array<{ server_label: string; authorization?: string }>;
    skipped?: unknown[];
  };
  const problems: string[] = [];
  if (tools.length !== tokens.size || skipped.length !== 0) {
    problems.push(
      `${tools.length} tools and ${skipped.length} skipped, not ${tokens.size} and 0`,
    );
  }
  const bad = tools.find(
    tool => tool.authorization !== tokens.get(tool.server_label),
  );
  if (bad) {
    problems.push(`'${bad.server_label}' lacks its personal token`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// The HTTP probes, measured interleaved.

const PROBE_KEYS = [
  'headers',
  'tools',
  'list',
  'page1',
  'permission',
  'floor',
  'headersService',
  'toolsService',
] as const;
type ProbeKey = (typeof PROBE_KEYS)[number];

interface Probe {
  label: string;
  principal: string;
  call: Call;
  status: number;
  /** What the answer holds, from the first call. */
  describe: (body: unknown) => string;
}

function probes(baseUrl: string, userToken: string): Record<ProbeKey, Probe> {
  const user = { authorization: `Bearer ${userToken}` };
  const service = { authorization: `Bearer ${TOKEN}` };
  const count = (body: unknown) =>
    `${Object.keys((body ?? {}) as object).length} entries`;
  const tools = (body: unknown) => {
    const b = (body ?? {}) as { tools?: unknown[]; skipped?: unknown[] };
    return `${b.tools?.length ?? '?'} tools, ${b.skipped?.length ?? '?'} skipped`;
  };
  return {
    headers: {
      label: 'GET /v1/mcp-headers',
      principal: 'user',
      call: { url: `${baseUrl}${API}/v1/mcp-headers`, headers: user },
      status: 200,
      describe: count,
    },
    tools: {
      label: 'GET /v1/mcp-tools',
      principal: 'user',
      call: { url: `${baseUrl}${API}/v1/mcp-tools`, headers: user },
      status: 200,
      describe: tools,
    },
    list: {
      label: 'GET /v1/mcp-servers (same 100, no tokens)',
      principal: 'user',
      call: { url: `${baseUrl}${API}/v1/mcp-servers`, headers: user },
      status: 200,
      describe: body =>
        `${((body ?? {}) as { servers?: unknown[] }).servers?.length ?? '?'} servers`,
    },
    page1: {
      label: 'GET /v1/mcp-servers?limit=1 (1 server)',
      principal: 'user',
      call: { url: `${baseUrl}${API}/v1/mcp-servers?limit=1`, headers: user },
      status: 200,
      describe: body =>
        `${((body ?? {}) as { servers?: unknown[] }).servers?.length ?? '?'} servers`,
    },
    permission: {
      label: 'POST /api/permission/authorize (direct, basic)',
      principal: 'user',
      call: {
        method: 'POST',
        url: `${baseUrl}/api/permission/authorize`,
        headers: user,
        body: JSON.stringify({
          items: [{ id: 'bench', permission: mcpServerRegisterPermission }],
        }),
      },
      status: 200,
      describe: body =>
        String(
          (body as { items?: Array<{ result?: string }> } | undefined)
            ?.items?.[0]?.result ?? '?',
        ),
    },
    floor: {
      label: `GET ${API}/bench-no-such-route (404)`,
      principal: 'user',
      call: { url: `${baseUrl}${API}/bench-no-such-route`, headers: user },
      status: 404,
      describe: () => 'not found',
    },
    headersService: {
      label: 'GET /v1/mcp-headers',
      principal: 'static (service)',
      call: { url: `${baseUrl}${API}/v1/mcp-headers`, headers: service },
      status: 200,
      describe: count,
    },
    toolsService: {
      label: 'GET /v1/mcp-tools',
      principal: 'static (service)',
      call: { url: `${baseUrl}${API}/v1/mcp-tools`, headers: service },
      status: 200,
      describe: tools,
    },
  };
}

/**
 * The user's probes first, then the static token's (whose answers of 1,100
 * servers leave garbage that would land on the next request): each round calls
 * every probe of its phase once, starting one further each round so that no
 * probe always follows the same one; the first `warmup` rounds are not
 * measured (their failures are counted).
 */
const PHASES: Array<{ keys: ProbeKey[]; limits: typeof LOAD.http.user }> = [
  {
    keys: ['headers', 'tools', 'list', 'page1', 'permission', 'floor'],
    limits: LOAD.http.user,
  },
  { keys: ['headersService', 'toolsService'], limits: LOAD.http.service },
];

async function interleaved(
  agent: http.Agent,
  all: Record<ProbeKey, Probe>,
): Promise<Record<ProbeKey, Latency>> {
  const result = {} as Record<ProbeKey, Latency>;
  for (const { keys, limits } of PHASES) {
    const samples = new Map(keys.map(key => [key, [] as number[]]));
    const errors = new Map(keys.map(key => [key, 0]));
    const deadline = Date.now() + limits.maxMs;
    for (
      let round = 1;
      round <= limits.warmup + limits.count && Date.now() < deadline;
      round++
    ) {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[(round + i) % keys.length];
        const started = process.hrtime.bigint();
        const answer = await send(agent, all[key].call).catch(() => undefined);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (answer?.status !== all[key].status) {
          errors.set(key, errors.get(key)! + 1);
        } else if (round > limits.warmup) {
          samples.get(key)!.push(ms);
        }
      }
    }
    for (const key of keys) {
      result[key] = summarize(samples.get(key)!, errors.get(key)!);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// In this process: the plugin's queries and decrypts, without HTTP.

interface InProcess {
  /** DatabaseMcpServerStore.list with the IS_OWNER filter (100 of 1,100). */
  serversQuery: Latency;
  /** DatabaseUserSettingsStore.listForUser (100 rows). */
  settingsQuery: Latency;
  /** TokenCipher.decrypt of the 100 stored tokens. */
  decrypt100: Latency;
  /** JSON.stringify of the mcp-headers answer. */
  json: Latency;
  /**
   * What each route runs (AuthorizedUserSettingsService.mcpHeaders;
   * chatServers + toMcpTools) with the decision in hand: the plugin's own
   * work, without HTTP, token check or permission round trip.
   */
  headersWork: Latency;
  toolsWork: Latency;
}

const quiet: LoggerService = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child: () => quiet,
};

/**
 * The plugin's use cases wired to the database as src/plugin.ts does, with a
 * permissions service that answers the policy's decision at once (as a cached
 * decision would).
 */
function chatRoutesInProcess(
  serverStore: DatabaseMcpServerStore,
  settingsStore: DatabaseUserSettingsStore,
): {
  headers: () => Promise<Record<string, unknown>>;
  tools: () => Promise<{ tools: unknown[]; skipped: unknown[] }>;
} {
  const notUsed = () => {
    throw new Error('not used by the chat routes');
  };
  const servers = new McpServerService({
    store: serverStore,
    // The chat routes only read whether the upstream is active.
    upstream: { active: true } as unknown as Upstream,
    staticServers: [],
    logger: quiet,
    urlPolicy: { refusalForUrl: notUsed } as never,
    checker: { check: notUsed },
    userSettings: settingsStore,
  });
  const decision = createMcpServerConditionalDecision(
    mcpServerListPermission,
    mcpServerConditions.isOwner({ claims: [OWNER_1] }),
  );
  const ruleset: PermissionRuleset<McpServer, McpServerFilter> = {
    getRuleByName: name => {
      const rule = Object.values(mcpServerRules).find(r => r.name === name);
      if (!rule) {
        throw new Error(`no rule ${name}`);
      }
      return rule as never;
    },
  };
  const service = new AuthorizedUserSettingsService({
    permissions: {
      authorizeConditional: async () => [decision],
      authorize: async () => [{ result: AuthorizeResult.ALLOW }],
    } as unknown as PermissionsService,
    auditor: {} as AuditorService,
    toCondition: createServerConditions(ruleset),
    userSettings: new UserSettingsService({
      servers,
      store: settingsStore,
      cipher: new TokenCipher([SECRET]),
      orgTokens: new Map(),
      checker: { check: notUsed },
      logger: quiet,
    }),
  });
  const credentials = {
    $$type: '@backstage/BackstageCredentials',
    principal: { type: 'user', userEntityRef: OWNER_1 },
  } as BackstageCredentials;
  return {
    headers: () => service.mcpHeaders({ credentials }),
    tools: async () => {
      const chat = await service.chatServers({ credentials });
      return toMcpTools(chat.servers, {}, {}, chat.tokens);
    },
  };
}

async function measureInProcess(
  knex: Knex,
  tokens: Map<string, string>,
): Promise<InProcess> {
  const database = {
    getClient: async () => knex,
    migrations: { skip: true },
  } as unknown as DatabaseService;
  const servers = await DatabaseMcpServerStore.create({ database });
  const settings = await DatabaseUserSettingsStore.create({ database });
  const { warmup, latency } = LOAD.inProcess;
  const timed = async (op: () => Promise<boolean>) => {
    await sequential(op, warmup);
    return sequential(op, latency);
  };

  const filter = { property: 'created_by' as const, values: [OWNER_1] };
  const serversQuery = await timed(
    async () =>
      (await servers.list(filter, { excludeNames: [] })).length ===
      USER_SERVERS,
  );
  const settingsQuery = await timed(
    async () => (await settings.listForUser(OWNER_1)).size === USER_SERVERS,
  );

  const stored = [...(await settings.listForUser(OWNER_1)).values()];
  const cipher = new TokenCipher([SECRET]);
  const decrypt100 = await timed(async () =>
    stored.every(
      s =>
        cipher.decrypt(s.encryptedToken!, `${s.serverName}\n${OWNER_1}`) ===
        tokens.get(s.serverName),
    ),
  );

  const answer = Object.fromEntries(
    [...tokens].map(([name, token]) => [name, { Authorization: token }]),
  );
  const json = await timed(async () => JSON.stringify(answer).length > 0);

  const routes = chatRoutesInProcess(servers, settings);
  const headersWork = await timed(async () => {
    const answered = await routes.headers();
    return (
      JSON.stringify(answered).length > 0 &&
      Object.keys(answered).length === USER_SERVERS
    );
  });
  const toolsWork = await timed(async () => {
    const answered = await routes.tools();
    return (
      JSON.stringify(answered).length > 0 &&
      answered.tools.length === USER_SERVERS
    );
  });
  return {
    serversQuery,
    settingsQuery,
    decrypt100,
    json,
    headersWork,
    toolsWork,
  };
}

// ---------------------------------------------------------------------------------------------------------
// One database.

interface UserSettingsResult {
  db: DbKind;
  tokensMs?: number;
  /** What each probe answered first, and its size. */
  answers: Partial<Record<ProbeKey, string>>;
  http?: Record<ProbeKey, Latency>;
  inProcess?: InProcess;
  error?: string;
}

async function runOne(db: DbKind, runId: string): Promise<UserSettingsResult> {
  const result: UserSettingsResult = { db, answers: {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lsmcp-bench-us-${db}-`));
  tempDirs.add(dir);
  const prefix = `lsmcp_bench_${runId}_us_`;
  let standIn: LlamaStackStandIn | undefined;
  let backend: Backend | undefined;
  let knex: Knex | undefined;
  const agents: http.Agent[] = [];
  try {
    standIn = await LlamaStackStandIn.start();
    backend = await startBackend({
      dir,
      policy: 'owner',
      database: backendDatabase(db, dir, prefix),
      lightspeedMcp: {
        llamaStack: { baseUrl: standIn.url, timeout: { seconds: 10 } },
        // Once at startup (empty table), then not during the run.
        reconcile: { frequency: { hours: 24 } },
        tokenEncryption: { keys: [{ secret: SECRET }] },
      },
    });
    // backend-defaults names a plugin's SQLite file
    // `<directory>/<pluginId>.sqlite`.
    knex = pluginKnex(
      db,
      db === 'sqlite'
        ? path.join(dir, `${PLUGIN_ID}.sqlite`)
        : `${prefix}${PLUGIN_ID}`,
    );
    const mine = await seedServers(knex);
    const one = keepAliveAgent(1);
    const many = keepAliveAgent(LOAD.tokens.concurrency);
    agents.push(one, many);

    const userToken = await guestUserToken(backend.baseUrl);
    const started = Date.now();
    const tokens = await setTokens(backend.baseUrl, mine, userToken, many);
    result.tokensMs = Date.now() - started;
    await analyze(knex);

    const all = probes(backend.baseUrl, userToken);
    const problems: string[] = [];
    for (const key of PROBE_KEYS) {
      const probe = all[key];
      const answer = await send(one, { ...probe.call, keepBody: true });
      const body = parseJson(answer.body);
      result.answers[key] =
        `${probe.describe(body)}, ${fmt(answer.bytes / 1024)} KiB`;
      if (answer.status !== probe.status) {
        problems.push(
          `${probe.label} (${probe.principal}) answered ${answer.status}, not ${probe.status}: ${answer.body?.slice(0, 300)}`,
        );
      } else if (key === 'headers') {
        problems.push(
          ...checkHeaders(body, tokens).map(p => `${probe.label}: ${p}`),
        );
      } else if (key === 'tools') {
        problems.push(
          ...checkTools(body, tokens).map(p => `${probe.label}: ${p}`),
        );
      } else if (
        key === 'list' &&
        (body as { servers?: unknown[] }).servers?.length !== USER_SERVERS
      ) {
        problems.push(
          `${probe.label}: not the ${USER_SERVERS} servers of ${OWNER_1} (is the IS_OWNER decision applied?)`,
        );
      }
    }
    // The floor must have checked the token: without one, 401.
    const anonymous = await send(one, { url: all.floor.call.url });
    if (anonymous.status !== 401) {
      problems.push(
        `${all.floor.label} without a token answered ${anonymous.status}, not 401`,
      );
    }
    if (problems.length) {
      throw new Error(`not measured: ${problems.join('; ')}`);
    }

    result.http = await interleaved(one, all);
    result.inProcess = await measureInProcess(knex, tokens);
  } catch (error) {
    result.error = `${(error as Error).stack ?? error}`;
    if (backend) {
      result.error += `\nbackend output (end):\n${backend.output().slice(-3000)}`;
    }
  } finally {
    agents.forEach(agent => agent.destroy());
    await endRun({ db, prefix, dir, result }, [
      () => knex?.destroy(),
      () => backend?.stop(),
      () => standIn?.stop(),
    ]);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Output.

const DB_NAMES: Record<DbKind, string> = {
  sqlite: 'SQLite (file)',
  postgres: 'PostgreSQL',
};

function printResults(results: UserSettingsResult[]) {
  const rows: string[][] = [];
  for (const r of results) {
    for (const key of PROBE_KEYS) {
      const l = r.http?.[key];
      if (!l) {
        continue;
      }
      const probe = probes('', '')[key];
      rows.push([
        DB_NAMES[r.db],
        probe.label,
        probe.principal,
        r.answers[key] ?? '-',
        String(l.samples.length),
        fmt(l.p50, 2),
        fmt(l.p95, 2),
        String(l.errors),
      ]);
    }
  }
  if (rows.length) {
    console.log(
      `\nsequential, one keep-alive connection; user probes: ${LOAD.http.user.count} rounds after ${LOAD.http.user.warmup} warm-up, interleaved` +
        ` (each round starts one probe further); then the static token's: ${LOAD.http.service.count} after ${LOAD.http.service.warmup}:`,
    );
    console.log(
      table(
        [
          'database',
          'request',
          'token',
          'answer',
          'n',
          'p50 ms',
          'p95 ms',
          'errors',
        ],
        rows,
      ),
    );
  }
  const inRows: string[][] = [];
  for (const r of results) {
    const p = r.inProcess;
    if (!p) {
      continue;
    }
    for (const [what, l] of [
      [
        'servers query, IS_OWNER filter (DatabaseMcpServerStore.list)',
        p.serversQuery,
      ],
      [
        "the user's settings (DatabaseUserSettingsStore.listForUser)",
        p.settingsQuery,
      ],
      ['100 TokenCipher.decrypt (AES-256-GCM)', p.decrypt100],
      ['JSON.stringify of the mcp-headers answer', p.json],
      [
        "mcp-headers: the plugin's work, decision in hand (no HTTP)",
        p.headersWork,
      ],
      ["mcp-tools: the plugin's work, decision in hand (no HTTP)", p.toolsWork],
    ] as const) {
      inRows.push([
        DB_NAMES[r.db],
        what,
        String(l.samples.length),
        fmt(l.p50, 3),
        fmt(l.p95, 3),
        String(l.errors),
      ]);
    }
  }
  if (inRows.length) {
    console.log(
      `\nin this process (the plugin's classes, the same database; ${LOAD.inProcess.latency.count} runs after ${LOAD.inProcess.warmup.count} warm-up):`,
    );
    console.log(
      table(['database', 'what', 'n', 'p50 ms', 'p95 ms', 'errors'], inRows),
    );
  }
  for (const r of results) {
    const h = r.http;
    const p = r.inProcess;
    if (!h || !p) {
      continue;
    }
    console.log(
      [
        `  ${DB_NAMES[r.db]}: ${USER_SERVERS} tokens set through PATCH in ${fmt((r.tokensMs ?? NaN) / 1000, 1)} s.`,
        `    Any user request that asks the permission backend (?limit=1) p50 ${fmt(h.page1.p50, 2)} ms: HTTP + token check ${fmt(h.floor.p50, 2)} (unknown path),`,
        `    /authorize asked directly ${fmt(h.permission.p50, 2)}; the rest is the plugin's permission call (on-behalf-of token, node-fetch) and Backstage's middleware.`,
        `    The plugin's own work for ${USER_SERVERS} servers with the decision in hand (in process): mcp-headers ${fmt(p.headersWork.p50, 2)} ms`,
        `    (servers query ${fmt(p.serversQuery.p50, 2)}, settings query ${fmt(p.settingsQuery.p50, 2)}, ${USER_SERVERS} decrypts ${fmt(p.decrypt100.p50, 2)}), mcp-tools ${fmt(p.toolsWork.p50, 2)} ms.`,
        `    Over ?limit=1 through HTTP: mcp-headers +${fmt(h.headers.p50 - h.page1.p50, 2)} ms, mcp-tools +${fmt(h.tools.p50 - h.page1.p50, 2)} ms.`,
      ].join('\n'),
    );
  }
  for (const r of results) {
    if (r.error) {
      console.log(`\n${DB_NAMES[r.db]}: USER SETTINGS RUN FAILED: ${r.error}`);
    }
  }
}

function printTargets(results: UserSettingsResult[]) {
  console.log('\n=== Targets (one user, 100 servers with personal tokens) ===');
  for (const r of results) {
    for (const key of ['headers', 'tools'] as const) {
      const l = r.http?.[key];
      let verdict = 'N/A ';
      if (l && !Number.isNaN(l.p50)) {
        verdict = l.p50 < TARGET_P50_MS ? 'MET ' : 'MISS';
      }
      console.log(
        `${verdict}  ${`${r.db}/owner`.padEnd(16)} ${probes('', '')[key].label} p50 < ${TARGET_P50_MS} ms: ${fmt(l?.p50, 2)} ms (p95 ${fmt(l?.p95, 2)} ms)`,
      );
    }
  }
}

/**
 * Measures and prints; resolves false when a run failed. The caller cleans up
 * (cleanupAll) at the end, as on a signal.
 */
export async function benchUserSettings(options: {
  databases: DbKind[];
  runId: string;
}): Promise<boolean> {
  console.log(
    '\n=== per-user settings: GET /v1/mcp-headers and /v1/mcp-tools ===',
  );
  console.log(
    [
      `how: for each database, a fresh backend (scripts/benchBackend.ts, NODE_ENV=production, policy owner: list is`,
      `  the conditional decision IS_OWNER of ${OWNER_1}) with lightspeedMcp.tokenEncryption.keys set.`,
      `  mcp_servers seeded with knex: ${USER_SERVERS + OTHER_SERVERS} servers, every ${STRIDE}th created by ${OWNER_1} (${USER_SERVERS}),`,
      `  the others by ${OTHER_OWNERS} other owners; each declares an Authorization header. ${OWNER_1} (guest sign-in) sets a`,
      `  personal token on each of its ${USER_SERVERS} through PATCH ${API}/mcp-servers/{name} (validation fails at once: port 9).`,
      `  Checked before measuring: mcp-headers answers exactly those ${USER_SERVERS} tokens, mcp-tools ${USER_SERVERS} tools with them.`,
      `  Every "user" request goes through the user's token check and a permission backend call over HTTP.`,
      `  Context rows: the list of the same servers; a page of one (any request that asks the permission backend);`,
      `  /authorize asked directly with the user's token (a basic permission: the permission backend refuses a user's`,
      `  direct request for a conditional one); an unknown path of the plugin (HTTP + token check, 404; 401 without a`,
      `  token); the static token (a service principal: no policy, no user, so all ${USER_SERVERS + OTHER_SERVERS} servers and no personal tokens).`,
      `  In process: the plugin's classes against the same database, its use case of each route with the decision in hand.`,
    ].join('\n'),
  );
  console.log(
    `load average (1/5/15 min) now: ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' / ')} on ${os.cpus().length} cores`,
  );
  const results = await eachDatabase('user settings', options.databases, db =>
    runOne(db, options.runId),
  );
  printResults(results);
  printTargets(results);
  return !results.some(r => r.error);
}

if (require.main === module) {
  runAlone('benchUserSettings', LOAD.watchdogMs, benchUserSettings);
}

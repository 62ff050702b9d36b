import { DatabaseService } from '@backstage/backend-plugin-api';
import { ServiceUnavailableError } from '@backstage/errors';
import { Knex } from 'knex';
import path from 'node:path';
import { CheckStatus, McpServerFields, McpServerSpec } from '../types';
import { PermissionCriteria } from '@backstage/plugin-permission-common';
import {
  ListOptions,
  McpServerFilter,
  McpServerRecord,
  McpServerState,
  McpServerStore,
  StoredCheck,
} from './McpServerStore';

const TABLE = 'mcp_servers';
const CONFIG_STATUS_TABLE = 'mcp_config_server_status';
const CHECKS_TABLE = 'mcp_server_checks';

interface Row {
  id: number;
  name: string;
  url: string;
  provider_id: string;
  authorization_headers: string | null;
  headers: string | null;
  timeout: number | null;
  state: McpServerState;
  created_by: string;
  created_at: string | Date;
  state_changed_at: string | Date;
  status_message: string | null;
  previous: string | null;
  /** The last check of the record's current URL, when one was read with it. */
  check_status?: CheckStatus | null;
  check_tool_count?: number | null;
  check_message?: string | null;
  check_checked_at?: string | Date | null;
}

interface CheckRow {
  name: string;
  url: string;
  status: CheckStatus;
  tool_count: number | null;
  message: string;
  checked_at: string | Date;
}

export const migrationsConfig: Knex.MigratorConfig = {
  // migrations/ sits at the package root, two levels above this file in src/ and in dist/ alike.
  directory: path.resolve(__dirname, '..', '..', 'migrations'),
  loadExtensions: ['.js'],
};

/** Runs the package's migrations unless the deployment manages them (`backend.database.skipMigrations`). */
export async function migrateUp(database: DatabaseService, knex: Knex): Promise<void> {
  if (!database.migrations?.skip) {
    await knex.migrate.latest(migrationsConfig);
  }
}

export class DatabaseMcpServerStore implements McpServerStore {
  /**
   * The store as the plugin uses it: a database it cannot reach answers 503 with a message of the
   * plugin, not 500 with the driver's text.
   */
  static create(db: Knex): McpServerStore {
    const store = new DatabaseMcpServerStore(db);
    return new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') {
          return value;
        }
        return async (...args: unknown[]) => {
          try {
            return await value.apply(target, args);
          } catch (error) {
            throw isDatabaseUnavailable(error)
              ? new ServiceUnavailableError('The plugin database is unavailable; try again later')
              : error;
          }
        };
      },
    });
  }

  constructor(private readonly db: Knex) {}

  async claim(server: McpServerSpec, createdBy: string): Promise<McpServerRecord | undefined> {
    try {
      const [row] = await this.db<Row>(TABLE)
        .insert({
          name: server.name,
          ...toColumns(server),
          state: 'pending',
          created_by: createdBy,
          created_at: now(),
          state_changed_at: now(),
        })
        .returning('*');
      return toRecord(row);
    } catch (error) {
      if (isUniqueViolation(error)) {
        return undefined;
      }
      throw error;
    }
  }

  async transition(id: number, from: McpServerState, to: McpServerState): Promise<boolean> {
    const updated = await this.db<Row>(TABLE).where({ id, state: from }).update({ state: to, state_changed_at: now() });
    return updated > 0;
  }

  async update(id: number, fields: McpServerFields, previous?: McpServerFields): Promise<boolean> {
    const updated = await this.db<Row>(TABLE)
      .where({ id, state: 'registered' })
      .update({
        ...toColumns(fields),
        ...(previous && { state: 'updating', previous: JSON.stringify(previous), state_changed_at: now() }),
      });
    return updated > 0;
  }

  async settleUpdate(id: number, outcome: 'commit' | 'revert'): Promise<boolean> {
    const row = await this.db<Row>(TABLE).where({ id, state: 'updating' }).first();
    if (!row) {
      return false;
    }
    const restored = outcome === 'revert' && row.previous ? toColumns(JSON.parse(row.previous)) : {};
    // Conditional on what was read, so that of two settles racing (request and reconciler) one wins.
    const updated = await this.db<Row>(TABLE)
      .where({ id, state: 'updating', previous: row.previous })
      .update({ ...restored, state: 'registered', previous: null, state_changed_at: now() });
    return updated > 0;
  }

  async saveCheck(name: string, check: StoredCheck): Promise<void> {
    await this.db<CheckRow>(CHECKS_TABLE)
      .insert({
        name,
        url: check.url,
        status: check.status,
        tool_count: check.toolCount,
        message: check.message,
        checked_at: check.checkedAt,
      })
      .onConflict('name')
      .merge();
  }

  async listChecks(names: string[]): Promise<Map<string, StoredCheck>> {
    // Only config servers ask, a few names: stored servers read their check in the list query.
    const rows = await this.db<CheckRow>(CHECKS_TABLE).whereIn('name', names);
    return new Map(
      rows.map(row => [
        row.name,
        {
          url: row.url,
          status: row.status,
          toolCount: row.tool_count,
          message: row.message,
          checkedAt: new Date(row.checked_at).toISOString(),
        },
      ]),
    );
  }

  async removeCheck(name: string): Promise<void> {
    await this.db(CHECKS_TABLE).where({ name }).delete();
  }

  async setStatusMessage(id: number, message: string | undefined): Promise<void> {
    await this.db<Row>(TABLE).where({ id }).update({ status_message: message ?? null });
  }

  async listConfigStatuses(): Promise<Map<string, string | undefined>> {
    const rows = await this.db(CONFIG_STATUS_TABLE).select('name', 'status_message');
    return new Map(rows.map(row => [row.name, row.status_message ?? undefined]));
  }

  async setConfigStatus(name: string, message: string | undefined): Promise<void> {
    await this.db(CONFIG_STATUS_TABLE)
      .insert({ name, status_message: message ?? null, updated_at: now() })
      .onConflict('name')
      .merge();
  }

  async remove(id: number): Promise<boolean> {
    const deleted = await this.db<Row>(TABLE).where({ id }).delete();
    return deleted > 0;
  }

  async get(name: string): Promise<McpServerRecord | undefined> {
    const row = await this.withLastCheck().where(`${TABLE}.name`, name).first();
    return row ? toRecord(row) : undefined;
  }

  async list(filter?: PermissionCriteria<McpServerFilter>, options: ListOptions = {}): Promise<McpServerRecord[]> {
    // Ordered by the primary key: registration order, and a page is an index range scan.
    const query = this.withLastCheck().orderBy(`${TABLE}.id`, 'asc');
    if (filter) {
      query.where(builder => applyFilter(builder, filter));
    }
    if (options.afterId !== undefined) {
      query.where(`${TABLE}.id`, '>', options.afterId);
    }
    if (options.excludeNames?.length) {
      query.whereNotIn(`${TABLE}.name`, options.excludeNames);
    }
    if (options.limit !== undefined) {
      query.limit(options.limit);
    }
    return (await query).map(toRecord);
  }

  /** Records with the last check of their current URL, in the same query: a list makes one round trip. */
  private withLastCheck() {
    return this.db<Row>(TABLE)
      .leftJoin(`${CHECKS_TABLE} as c`, join => join.on(`${TABLE}.name`, '=', 'c.name').andOn(`${TABLE}.url`, '=', 'c.url'))
      .select(
        `${TABLE}.*`,
        'c.status as check_status',
        'c.tool_count as check_tool_count',
        'c.message as check_message',
        'c.checked_at as check_checked_at',
      );
  }
}

/** Turns permission criteria into SQL, so that a conditional list never loads rows it may not show. */
function applyFilter(builder: Knex.QueryBuilder, filter: PermissionCriteria<McpServerFilter>): void {
  if ('allOf' in filter) {
    filter.allOf.forEach(part => builder.andWhere(inner => applyFilter(inner, part)));
  } else if ('anyOf' in filter) {
    if (filter.anyOf.length === 0) {
      builder.whereRaw('1 = 0');
    }
    filter.anyOf.forEach(part => builder.orWhere(inner => applyFilter(inner, part)));
  } else if ('not' in filter) {
    builder.whereNot(inner => applyFilter(inner, filter.not));
  } else if (filter.property === 'created_by') {
    const refs = filter.values.map(ref => ref.toLocaleLowerCase('en-US'));
    // whereIn with no values is false in knex, as the rule wants.
    builder.whereIn(builder.client.raw('lower(??)', [`${TABLE}.created_by`]), refs);
  } else if (filter.property === 'source') {
    builder.whereRaw(filter.value === 'api' ? '1 = 1' : '1 = 0');
  } else {
    // substr compares case-sensitively on SQLite and PostgreSQL alike, unlike LIKE, and needs no escaping.
    builder.whereRaw('substr(??, 1, ?) = ?', [`${TABLE}.name`, filter.value.length, filter.value]);
  }
}

/** The columns of what can change about a server; optional fields left out are cleared. */
function toColumns(fields: McpServerFields) {
  return {
    url: fields.url,
    provider_id: fields.providerId,
    authorization_headers: fields.authorizationHeaders ? JSON.stringify(fields.authorizationHeaders) : null,
    headers: fields.headers ? JSON.stringify(fields.headers) : null,
    timeout: fields.timeout ?? null,
  };
}

function toRecord(row: Row): McpServerRecord {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    providerId: row.provider_id,
    authorizationHeaders: row.authorization_headers ? JSON.parse(row.authorization_headers) : undefined,
    headers: row.headers ? JSON.parse(row.headers) : undefined,
    timeout: row.timeout ?? undefined,
    state: row.state,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at).toISOString(),
    stateChangedAt: new Date(row.state_changed_at).toISOString(),
    statusMessage: row.status_message ?? undefined,
    ...(row.previous && { previous: JSON.parse(row.previous) }),
    ...(row.check_status && {
      lastCheck: {
        status: row.check_status,
        toolCount: row.check_tool_count ?? null,
        message: row.check_message ?? '',
        checkedAt: new Date(row.check_checked_at!).toISOString(),
      },
    }),
  };
}

function now(): string {
  return new Date().toISOString();
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006',
  'SQLITE_BUSY',
]);

function isDatabaseUnavailable(error: unknown): boolean {
  const { code, name, message } = (error ?? {}) as { code?: string; name?: string; message?: string };
  return (
    (code !== undefined && CONNECTION_ERROR_CODES.has(code)) ||
    name === 'KnexTimeoutError' ||
    /Unable to acquire a connection|Connection terminated/i.test(message ?? '')
  );
}

/** PostgreSQL reports 23505, SQLite SQLITE_CONSTRAINT_UNIQUE, MySQL ER_DUP_ENTRY. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'ER_DUP_ENTRY';
}

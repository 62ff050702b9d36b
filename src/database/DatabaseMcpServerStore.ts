import { DatabaseService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { connect, runQuery } from './client';
import {
  CheckStatus,
  McpServerFields,
  McpServerFilter,
  McpServerSpec,
} from '../mcpServers/types';
import { PermissionCriteria } from '@backstage/plugin-permission-common';
import {
  ListOptions,
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

export class DatabaseMcpServerStore implements McpServerStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseMcpServerStore> {
    return new DatabaseMcpServerStore(await connect(options.database));
  }

  private constructor(private readonly knex: Knex) {}

  private query<T>(work: (db: Knex) => Promise<T>): Promise<T> {
    return runQuery(this.knex, work);
  }

  claim(
    server: McpServerSpec,
    createdBy: string,
  ): Promise<McpServerRecord | undefined> {
    return this.query(async db => {
      try {
        const [row] = await db<Row>(TABLE)
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
    });
  }

  transition(
    id: number,
    from: McpServerState,
    to: McpServerState,
  ): Promise<boolean> {
    return this.query(async db => {
      const updated = await db<Row>(TABLE)
        .where({ id, state: from })
        .update({ state: to, state_changed_at: now() });
      return updated > 0;
    });
  }

  update(
    id: number,
    fields: McpServerFields,
    previous?: McpServerFields,
  ): Promise<boolean> {
    return this.query(async db => {
      const updated = await db<Row>(TABLE)
        .where({ id, state: 'registered' })
        .update({
          ...toColumns(fields),
          ...(previous && {
            state: 'updating',
            previous: JSON.stringify(previous),
            state_changed_at: now(),
          }),
        });
      return updated > 0;
    });
  }

  settleUpdate(id: number, outcome: 'commit' | 'revert'): Promise<boolean> {
    return this.query(async db => {
      const row = await db<Row>(TABLE).where({ id, state: 'updating' }).first();
      if (!row) {
        return false;
      }
      const restored =
        outcome === 'revert' && row.previous
          ? toColumns(JSON.parse(row.previous))
          : {};
      // Conditional on what was read, so that of two settles racing (request
      // and reconciler) one wins.
      const updated = await db<Row>(TABLE)
        .where({ id, state: 'updating', previous: row.previous })
        .update({
          ...restored,
          state: 'registered',
          previous: null,
          state_changed_at: now(),
        });
      return updated > 0;
    });
  }

  saveCheck(name: string, check: StoredCheck): Promise<void> {
    return this.query(async db => {
      await db<CheckRow>(CHECKS_TABLE)
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
    });
  }

  listChecks(names: string[]): Promise<Map<string, StoredCheck>> {
    return this.query(async db => {
      // Only config servers ask, a few names: stored servers read their check
      // in the list query.
      const rows = await db<CheckRow>(CHECKS_TABLE).whereIn('name', names);
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
    });
  }

  removeCheck(name: string): Promise<void> {
    return this.query(async db => {
      await db(CHECKS_TABLE).where({ name }).delete();
    });
  }

  setStatusMessage(id: number, message: string | undefined): Promise<void> {
    return this.query(async db => {
      await db<Row>(TABLE)
        .where({ id })
        .update({ status_message: message ?? null });
    });
  }

  listConfigStatuses(): Promise<Map<string, string | undefined>> {
    return this.query(async db => {
      const rows = await db(CONFIG_STATUS_TABLE).select(
        'name',
        'status_message',
      );
      return new Map(
        rows.map(row => [row.name, row.status_message ?? undefined]),
      );
    });
  }

  setConfigStatus(name: string, message: string | undefined): Promise<void> {
    return this.query(async db => {
      await db(CONFIG_STATUS_TABLE)
        .insert({ name, status_message: message ?? null, updated_at: now() })
        .onConflict('name')
        .merge();
    });
  }

  remove(id: number): Promise<boolean> {
    return this.query(async db => {
      const deleted = await db<Row>(TABLE).where({ id }).delete();
      return deleted > 0;
    });
  }

  get(name: string): Promise<McpServerRecord | undefined> {
    return this.query(async db => {
      const row = await withLastCheck(db).where(`${TABLE}.name`, name).first();
      return row ? toRecord(row) : undefined;
    });
  }

  list(
    filter?: PermissionCriteria<McpServerFilter>,
    options: ListOptions = {},
  ): Promise<McpServerRecord[]> {
    return this.query(async db => {
      // Ordered by the primary key: registration order, and a page is an index
      // range scan.
      const query = withLastCheck(db).orderBy(`${TABLE}.id`, 'asc');
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
    });
  }
}

/**
 * Records with the last check of their current URL, in the same query: a list
 * makes one round trip.
 */
function withLastCheck(db: Knex) {
  return db<Row>(TABLE)
    .leftJoin(`${CHECKS_TABLE} as c`, join =>
      join
        .on(`${TABLE}.name`, '=', 'c.name')
        .andOn(`${TABLE}.url`, '=', 'c.url'),
    )
    .select(
      `${TABLE}.*`,
      'c.status as check_status',
      'c.tool_count as check_tool_count',
      'c.message as check_message',
      'c.checked_at as check_checked_at',
    );
}

/**
 * Turns permission criteria into SQL, so that a conditional list never loads
 * rows it may not show.
 */
function applyFilter(
  builder: Knex.QueryBuilder,
  filter: PermissionCriteria<McpServerFilter>,
): void {
  if ('allOf' in filter) {
    filter.allOf.forEach(part =>
      builder.andWhere(inner => applyFilter(inner, part)),
    );
  } else if ('anyOf' in filter) {
    if (filter.anyOf.length === 0) {
      builder.whereRaw('1 = 0');
    }
    filter.anyOf.forEach(part =>
      builder.orWhere(inner => applyFilter(inner, part)),
    );
  } else if ('not' in filter) {
    builder.whereNot(inner => applyFilter(inner, filter.not));
  } else if (filter.property === 'created_by') {
    const refs = filter.values.map(ref => ref.toLocaleLowerCase('en-US'));
    // whereIn with no values is false in knex, as the rule wants.
    builder.whereIn(
      builder.client.raw('lower(??)', [`${TABLE}.created_by`]),
      refs,
    );
  } else if (filter.property === 'source') {
    builder.whereRaw(filter.value === 'api' ? '1 = 1' : '1 = 0');
  } else {
    // substr compares case-sensitively on SQLite and PostgreSQL alike, unlike
    // LIKE, and needs no escaping.
    builder.whereRaw('substr(??, 1, ?) = ?', [
      `${TABLE}.name`,
      filter.value.length,
      filter.value,
    ]);
  }
}

/**
 * The columns of what can change about a server; optional fields left out are
 * cleared.
 */
function toColumns(fields: McpServerFields) {
  return {
    url: fields.url,
    provider_id: fields.providerId,
    authorization_headers: fields.authorizationHeaders
      ? JSON.stringify(fields.authorizationHeaders)
      : null,
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
    authorizationHeaders: row.authorization_headers
      ? JSON.parse(row.authorization_headers)
      : undefined,
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

/**
 * PostgreSQL reports 23505, SQLite SQLITE_CONSTRAINT_UNIQUE, MySQL
 * ER_DUP_ENTRY.
 */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'ER_DUP_ENTRY'
  );
}

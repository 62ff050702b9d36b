import { DatabaseService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import path from 'node:path';
import { McpServerSpec } from '../types';
import { PermissionCriteria } from '@backstage/plugin-permission-common';
import { McpServerFilter, McpServerRecord, McpServerState, McpServerStore } from './McpServerStore';

const TABLE = 'mcp_servers';

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
  constructor(private readonly db: Knex) {}

  async claim(server: McpServerSpec, createdBy: string): Promise<McpServerRecord | undefined> {
    try {
      const [row] = await this.db<Row>(TABLE)
        .insert({
          name: server.name,
          url: server.url,
          provider_id: server.providerId,
          authorization_headers: server.authorizationHeaders ? JSON.stringify(server.authorizationHeaders) : null,
          headers: server.headers ? JSON.stringify(server.headers) : null,
          timeout: server.timeout ?? null,
          state: 'pending',
          created_by: createdBy,
          created_at: new Date().toISOString(),
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
    const updated = await this.db<Row>(TABLE).where({ id, state: from }).update({ state: to });
    return updated > 0;
  }

  async remove(id: number): Promise<boolean> {
    const deleted = await this.db<Row>(TABLE).where({ id }).delete();
    return deleted > 0;
  }

  async get(name: string): Promise<McpServerRecord | undefined> {
    const row = await this.db<Row>(TABLE).where({ name }).first();
    return row ? toRecord(row) : undefined;
  }

  async list(filter?: PermissionCriteria<McpServerFilter>): Promise<McpServerRecord[]> {
    const query = this.db<Row>(TABLE).orderBy('id', 'asc');
    if (filter) {
      query.where(builder => applyFilter(builder, filter));
    }
    return (await query).map(toRecord);
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
    builder.whereIn(builder.client.raw('lower(??)', ['created_by']), refs);
  } else if (filter.property === 'source') {
    builder.whereRaw(filter.value === 'api' ? '1 = 1' : '1 = 0');
  } else {
    // substr compares case-sensitively on SQLite and PostgreSQL alike, unlike LIKE, and needs no escaping.
    builder.whereRaw('substr(??, 1, ?) = ?', ['name', filter.value.length, filter.value]);
  }
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
  };
}

/** PostgreSQL reports 23505, SQLite SQLITE_CONSTRAINT_UNIQUE, MySQL ER_DUP_ENTRY. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'ER_DUP_ENTRY';
}

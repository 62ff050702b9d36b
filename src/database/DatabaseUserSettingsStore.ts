import { DatabaseService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { connect, runQuery } from './client';
import {
  StoredUserSettings,
  UserSettingsChange,
  UserSettingsStore,
} from './UserSettingsStore';

const TABLE = 'mcp_user_settings';

interface Row {
  server_name: string;
  user_ref: string;
  enabled: boolean | number;
  token: string | null;
  server_url: string | null;
  validation_valid: boolean | number | null;
  validation_tool_count: number | null;
  validated_at: string | Date | null;
  updated_at: string | Date;
}

export class DatabaseUserSettingsStore implements UserSettingsStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseUserSettingsStore> {
    return new DatabaseUserSettingsStore(await connect(options.database));
  }

  private constructor(private readonly knex: Knex) {}

  listForUser(userRef: string): Promise<Map<string, StoredUserSettings>> {
    return runQuery(this.knex, async db => {
      const rows = await db<Row>(TABLE).where({ user_ref: userRef });
      return new Map(rows.map(row => [row.server_name, toSettings(row)]));
    });
  }

  get(
    serverName: string,
    userRef: string,
  ): Promise<StoredUserSettings | undefined> {
    return runQuery(this.knex, async db => {
      const row = await db<Row>(TABLE)
        .where({ server_name: serverName, user_ref: userRef })
        .first();
      return row && toSettings(row);
    });
  }

  save(
    serverName: string,
    userRef: string,
    change: UserSettingsChange,
  ): Promise<void> {
    return runQuery(this.knex, async db => {
      const columns = toColumns(change);
      // One statement, so that two saves of one user never lose either.
      await db<Row>(TABLE)
        .insert({
          server_name: serverName,
          user_ref: userRef,
          enabled: true,
          ...columns,
        })
        .onConflict(['server_name', 'user_ref'])
        .merge(Object.keys(columns) as Array<keyof Row>);
    });
  }

  replaceToken(
    serverName: string,
    userRef: string,
    from: string,
    to: string,
  ): Promise<void> {
    return runQuery(this.knex, async db => {
      await db<Row>(TABLE)
        .where({ server_name: serverName, user_ref: userRef, token: from })
        .update({ token: to });
    });
  }

  removeForServer(serverName: string): Promise<void> {
    return runQuery(this.knex, async db => {
      await db<Row>(TABLE).where({ server_name: serverName }).delete();
    });
  }

  resetForServer(serverName: string): Promise<void> {
    return runQuery(this.knex, async db => {
      await db<Row>(TABLE)
        .where({ server_name: serverName })
        .update(
          toColumns({
            encryptedToken: null,
            serverUrl: null,
            validation: null,
          }),
        );
    });
  }
}

/** The columns of a change; `updated_at` always. */
function toColumns(change: UserSettingsChange): Partial<Row> {
  const columns: Partial<Row> = { updated_at: new Date().toISOString() };
  if (change.enabled !== undefined) {
    columns.enabled = change.enabled;
  }
  if (change.encryptedToken !== undefined) {
    columns.token = change.encryptedToken;
  }
  if (change.serverUrl !== undefined) {
    columns.server_url = change.serverUrl;
  }
  if (change.validation !== undefined) {
    columns.validation_valid = change.validation?.valid ?? null;
    columns.validation_tool_count = change.validation?.toolCount ?? null;
    columns.validated_at = change.validation?.validatedAt ?? null;
  }
  return columns;
}

function toSettings(row: Row): StoredUserSettings {
  return {
    serverName: row.server_name,
    // SQLite answers booleans as 0 and 1.
    enabled: Boolean(row.enabled),
    ...(row.token !== null && { encryptedToken: row.token }),
    ...(row.server_url !== null && { serverUrl: row.server_url }),
    ...(row.validation_valid !== null && {
      validation: {
        valid: Boolean(row.validation_valid),
        toolCount: row.validation_tool_count ?? 0,
        validatedAt: new Date(row.validated_at!).toISOString(),
      },
    }),
  };
}

import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { ServiceUnavailableError } from '@backstage/errors';
import { Knex } from 'knex';
import { pathToFileURL } from 'node:url';

/**
 * The package's own migrations/ folder, wherever the package sits: from source,
 * built, or exported and bundled as a dynamic plugin (a path relative to this
 * file would break in a bundle).
 */
export const migrationsConfig: Knex.MigratorConfig = {
  directory: resolvePackagePath(pathToFileURL(__filename).href, 'migrations'),
  loadExtensions: ['.js'],
};

const connected = new WeakMap<DatabaseService, Promise<Knex>>();

/**
 * The plugin's database, migrated once (unless the deployment manages
 * migrations: `backend.database.skipMigrations`), for every store of it.
 */
export function connect(database: DatabaseService): Promise<Knex> {
  let knex = connected.get(database);
  if (!knex) {
    knex = (async () => {
      const client = await database.getClient();
      if (!database.migrations?.skip) {
        await client.migrate.latest(migrationsConfig);
      }
      return client;
    })();
    connected.set(database, knex);
  }
  return knex;
}

/**
 * Runs queries; a database the plugin cannot reach answers 503 with a message
 * of the plugin, not 500 with the driver's text.
 */
export async function runQuery<T>(
  knex: Knex,
  work: (db: Knex) => Promise<T>,
): Promise<T> {
  try {
    return await work(knex);
  } catch (error) {
    throw isDatabaseUnavailable(error)
      ? new ServiceUnavailableError(
          'The plugin database is unavailable; try again later',
        )
      : error;
  }
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
  const { code, name, message } = (error ?? {}) as {
    code?: string;
    name?: string;
    message?: string;
  };
  return (
    (code !== undefined && CONNECTION_ERROR_CODES.has(code)) ||
    name === 'KnexTimeoutError' ||
    /Unable to acquire a connection|Connection terminated/i.test(message ?? '')
  );
}

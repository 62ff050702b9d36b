import { createTestDatabases } from '../testing/testBackend';
import { migrationsConfig } from './client';

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())('migrations on %s', databaseId => {
  it('run up from an empty database, enforce unique names, and run down again', async () => {
    const knex = await databases.init(databaseId);

    await knex.migrate.latest(migrationsConfig);
    const row = {
      name: 'x',
      url: 'http://x/mcp',
      provider_id: 'p',
      state: 'registered',
      created_by: 'user:default/a',
    };
    await knex('mcp_servers').insert(row);
    // The unique name is what makes concurrent registers on several replicas
    // safe.
    const duplicate = await knex('mcp_servers')
      .insert({ ...row, url: 'http://y/mcp' })
      .then(
        () => 'inserted',
        (error: Error) => error.message,
      );
    expect(duplicate).toMatch(/unique/i);
    const [stored] = await knex('mcp_servers').select();
    expect(stored).toMatchObject({
      ...row,
      id: 1,
      authorization_headers: null,
      headers: null,
      timeout: null,
    });
    expect(stored.created_at).toBeTruthy();

    // Checks are kept by name and URL, one per server.
    const check = {
      name: 'x',
      url: 'http://x/mcp',
      status: 'ok',
      tool_count: 2,
      message: 'm',
      checked_at: new Date(),
    };
    await knex('mcp_server_checks').insert(check);
    // Not rejects.toThrow: better-sqlite3's errors come from the realm of the
    // first test file that loaded it.
    const second = await knex('mcp_server_checks')
      .insert(check)
      .then(
        () => 'inserted',
        (error: Error) => error.message,
      );
    expect(second).toMatch(/unique|duplicate/i);

    // Per-user settings: one row per server and user, enabled by default.
    const settings = {
      server_name: 'x',
      user_ref: 'user:default/a',
      updated_at: new Date(),
    };
    await knex('mcp_user_settings').insert(settings);
    const again = await knex('mcp_user_settings')
      .insert(settings)
      .then(
        () => 'inserted',
        (error: Error) => error.message,
      );
    expect(again).toMatch(/unique|duplicate/i);
    const [userRow] = await knex('mcp_user_settings').select();
    expect(Boolean(userRow.enabled)).toBe(true);
    expect(userRow.token).toBeNull();

    await knex.migrate.rollback(migrationsConfig, true);
    expect(await knex.schema.hasTable('mcp_user_settings')).toBe(false);
    expect(await knex.schema.hasTable('mcp_servers')).toBe(false);
    expect(await knex.schema.hasTable('mcp_server_checks')).toBe(false);
  });
});

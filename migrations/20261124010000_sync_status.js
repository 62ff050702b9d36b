/*
 * What the reconciler needs: since when a record is in its state (a `pending`
 * or `deleting` record older than any request can take was left by a crash),
 * the last sync failure of a stored server, and the sync status of the config
 * servers, which live in app-config and have no record.
 */

// @ts-check

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('mcp_servers', table => {
    table
      .timestamp('state_changed_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now());
    table
      .string('status_message', 255)
      .nullable()
      .comment('fixed text of the last failed sync; null when in sync');
  });
  await knex.schema.createTable('mcp_config_server_status', table => {
    table.comment(
      'Sync status of the MCP servers of app-config, shared by all replicas',
    );
    table.string('name', 128).primary();
    table
      .string('status_message', 255)
      .nullable()
      .comment('fixed text of the last failed sync; null when registered');
    table
      .timestamp('updated_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now());
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('mcp_config_server_status');
  await knex.schema.alterTable('mcp_servers', table => {
    table.dropColumn('status_message');
    table.dropColumn('state_changed_at');
  });
};

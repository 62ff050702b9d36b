/*
 * The settings page: the last connection check of each server, and updates that
 * can be rolled back.
 *
 * A check is kept by name and with the URL it was made against, so it covers
 * config servers as well, and a check of an old URL is never shown for a new
 * one (after an update, or a re-registration). `previous` holds the fields a
 * server had before an update that is under way (state `updating`), so that a
 * failed or interrupted update can put them back.
 */

// @ts-check

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('mcp_server_checks', table => {
    table.comment('Last connection check of each MCP server, by name');
    table.string('name', 128).primary();
    table.string('url', 2048).notNullable().comment('the URL that was checked');
    table
      .string('status', 16)
      .notNullable()
      .comment('ok, unreachable, auth_required or error');
    table
      .integer('tool_count')
      .nullable()
      .comment('null unless the check succeeded');
    table
      .string('message', 255)
      .notNullable()
      .comment('fixed text of the plugin');
    table.timestamp('checked_at', { useTz: true }).notNullable();
  });
  await knex.schema.alterTable('mcp_servers', table => {
    table
      .text('previous')
      .nullable()
      .comment('JSON of the fields before an update under way; null otherwise');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('mcp_servers', table => {
    table.dropColumn('previous');
  });
  await knex.schema.dropTable('mcp_server_checks');
};

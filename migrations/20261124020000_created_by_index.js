/*
 * IS_OWNER conditions filter on lower(created_by); the list order and pages use
 * the primary key.
 */

// @ts-check

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.raw(
    'CREATE INDEX mcp_servers_created_by_lower_idx ON mcp_servers (lower(created_by))',
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.raw('DROP INDEX mcp_servers_created_by_lower_idx');
};

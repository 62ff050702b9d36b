/*
 * The servers registered through the API. Config servers are never stored:
 * app-config is their source.
 */

// @ts-check

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('mcp_servers', table => {
    table.comment('MCP servers registered through the lightspeed-mcp API');
    // Auto-increment id gives the registration order the list must keep.
    table.increments('id').primary();
    // Unique at the database level: the claim that makes concurrent registers
    // safe across replicas.
    table.string('name', 128).notNullable().unique();
    table.string('url', 2048).notNullable();
    table.string('provider_id', 128).notNullable();
    table
      .text('authorization_headers')
      .nullable()
      .comment('JSON: header name -> client|kubernetes|oauth');
    table
      .text('headers')
      .nullable()
      .comment('JSON: names of headers to propagate');
    table.integer('timeout').nullable().comment('seconds');
    table
      .string('state', 16)
      .notNullable()
      .comment(
        'pending: claimed, Llama Stack not yet confirmed; registered; deleting: unregister under way',
      );
    table.string('created_by', 255).notNullable();
    table
      .timestamp('created_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now());
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('mcp_servers');
};

/*
 * The settings page's per-user layer: each user's own settings of each MCP
 * server, by server name and user entity ref.
 *
 * `token` is a personal token encrypted by the plugin (AES-256-GCM, see
 * src/userSettings/TokenCipher.ts), never plain text. `server_url` is the URL
 * the token and the last validation belong to: neither is used for another
 * URL.
 */

// @ts-check

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('mcp_user_settings', table => {
    table.comment('Per-user settings of each MCP server');
    table.string('server_name', 128).notNullable();
    table.string('user_ref', 255).notNullable().comment('user entity ref');
    table.boolean('enabled').notNullable().defaultTo(true);
    table
      .text('token')
      .nullable()
      .comment('personal token, encrypted by the plugin; null when none');
    table
      .string('server_url', 2048)
      .nullable()
      .comment('the URL the token and the validation belong to');
    table
      .boolean('validation_valid')
      .nullable()
      .comment('last validation with the token; null when none');
    table.integer('validation_tool_count').nullable();
    table.timestamp('validated_at', { useTz: true }).nullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.primary(['server_name', 'user_ref']);
    // GET /v1/mcp-headers and the settings page read one user's rows.
    table.index(['user_ref'], 'mcp_user_settings_user_ref_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('mcp_user_settings');
};

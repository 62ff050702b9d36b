import { coreServices, createBackendPlugin } from '@backstage/backend-plugin-api';
import { readPluginConfig } from './config';
import { DatabaseMcpServerStore, migrateUp } from './database/DatabaseMcpServerStore';
import { LlamaStackClient } from './llamaStack/LlamaStackClient';
import { mcpServerPermissions } from './permissions';
import { createRouter } from './router';
import { McpServerService } from './service/McpServerService';

/** Lets Developer Lightspeed users register, list and delete MCP servers at runtime. */
export const lightspeedMcpPlugin = createBackendPlugin({
  pluginId: 'lightspeed-mcp',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        scheduler: coreServices.scheduler,
      },
      async init({ config, logger, database, httpRouter, httpAuth, permissions, permissionsRegistry, scheduler }) {
        const pluginConfig = readPluginConfig(config);
        permissionsRegistry.addPermissions(mcpServerPermissions);

        const knex = await database.getClient();
        await migrateUp(database, knex);

        const service = new McpServerService({
          store: new DatabaseMcpServerStore(knex),
          llamaStack: new LlamaStackClient(pluginConfig.llamaStack),
          staticServers: pluginConfig.staticServers,
          logger,
        });
        httpRouter.use(
          createRouter({ service, httpAuth, permissions, defaultProviderId: pluginConfig.defaultProviderId }),
        );

        // Runs at startup and then every minute, so config servers reach a Llama Stack that starts later.
        await scheduler.scheduleTask({
          id: 'lightspeed-mcp-register-config-servers',
          frequency: { minutes: 1 },
          timeout: { minutes: 1 },
          fn: () => service.registerMissingStaticServers(),
        });

        logger.info(
          `Serving MCP servers with Llama Stack at ${pluginConfig.llamaStack.baseUrl} ` +
            `(${pluginConfig.staticServers.length} from app-config)`,
        );
      },
    });
  },
});

import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { createLightspeedMcpActions } from './actions';
import { readPluginConfig } from './config/readPluginConfig';
import { AuthorizedMcpServerService } from './authorized/AuthorizedMcpServerService';
import { AuthorizedUserSettingsService } from './authorized/AuthorizedUserSettingsService';
import { DatabaseMcpServerStore } from './database/DatabaseMcpServerStore';
import { DatabaseUserSettingsStore } from './database/DatabaseUserSettingsStore';
import { McpServerChecker } from './mcpClient/McpServerChecker';
import { createUpstream } from './upstream/createUpstream';
import {
  mcpServerPermissions,
  mcpServerResourceRef,
} from './permissions/permissions';
import { createRouter } from './service/router';
import { createSettingsRouter } from './service/settingsRouter';
import { UserSettingsService } from './userSettings/UserSettingsService';
import { createServerConditions } from './permissions/conditions';
import { mcpServerRules } from './permissions/rules';
import { McpServerService } from './mcpServers/McpServerService';
import { Reconciler } from './mcpServers/Reconciler';

export const RECONCILE_TASK_ID = 'lightspeed-mcp-reconcile';

/**
 * Lets Developer Lightspeed users register, list, check, change and delete MCP
 * servers at runtime.
 */
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
        auditor: coreServices.auditor,
        actionsRegistry: actionsRegistryServiceRef,
      },
      async init(deps) {
        const {
          config,
          logger,
          database,
          httpRouter,
          httpAuth,
          permissions,
          permissionsRegistry,
          scheduler,
          auditor,
          actionsRegistry,
        } = deps;
        const pluginConfig = readPluginConfig(config);

        const store = await DatabaseMcpServerStore.create({ database });
        const userSettingsStore = await DatabaseUserSettingsStore.create({
          database,
        });
        const { upstream, connection } = createUpstream(pluginConfig, logger);
        const checker = new McpServerChecker({
          urlPolicy: pluginConfig.urlPolicy,
          timeoutMs: pluginConfig.checkTimeoutMs,
          logger,
        });
        const service = new McpServerService({
          store,
          upstream,
          staticServers: pluginConfig.staticServers,
          logger,
          urlPolicy: pluginConfig.urlPolicy,
          checker,
          userSettings: userSettingsStore,
        });
        permissionsRegistry.addPermissions(mcpServerPermissions);
        permissionsRegistry.addResourceType({
          resourceRef: mcpServerResourceRef,
          permissions: mcpServerPermissions.filter(
            permission => permission.type === 'resource',
          ),
          rules: Object.values(mcpServerRules),
          // Resource refs are server names.
          getResources: names =>
            Promise.all(names.map(name => service.find(name))),
        });
        httpRouter.addAuthPolicy({
          path: '/openapi.json',
          allow: 'unauthenticated',
        });
        const guard = {
          permissions,
          auditor,
          toCondition: createServerConditions(
            permissionsRegistry.getPermissionRuleset(mcpServerResourceRef),
          ),
        };
        // The one entry to the use cases, for the routes and the actions alike.
        const mcpServers = new AuthorizedMcpServerService({
          ...guard,
          service,
          defaultProviderId: pluginConfig.defaultProviderId,
        });
        const userSettings = new AuthorizedUserSettingsService({
          ...guard,
          userSettings: new UserSettingsService({
            servers: service,
            store: userSettingsStore,
            cipher: pluginConfig.tokenCipher,
            orgTokens: pluginConfig.orgTokens,
            checker,
            logger,
          }),
        });
        httpRouter.use(createRouter({ mcpServers, userSettings, httpAuth }));
        httpRouter.use(
          createSettingsRouter({ userSettings, httpAuth, logger }),
        );
        createLightspeedMcpActions({
          actionsRegistry,
          mcpServers,
          allowWrites: pluginConfig.actionsAllowWrites,
        });

        const reconciler = new Reconciler({
          store,
          upstream,
          staticServers: pluginConfig.staticServers,
          logger,
          // No request runs longer: an update makes at most three upstream
          // operations (unregister, register, and register the old one back),
          // each bounded by the timeout.
          staleAfterMs: 3 * connection.timeoutMs + 1000,
          parallelism: 4,
        });
        // Runs at startup, then at the configured frequency, on one replica at
        // a time.
        await scheduler.scheduleTask({
          id: RECONCILE_TASK_ID,
          frequency: pluginConfig.reconcileFrequency,
          timeout: pluginConfig.reconcileTimeout,
          fn: () => reconciler.run(),
        });

        if (pluginConfig.tokenCipher) {
          // Key ids, never keys: tokens not yet on the first key name another.
          logger.info('Personal tokens are encrypted at rest', {
            encryptingKeyId: pluginConfig.tokenCipher.currentKeyId,
            keyIds: pluginConfig.tokenCipher.keyIds,
          });
        } else {
          logger.info(
            'Personal tokens are refused: lightspeedMcp.tokenEncryption.keys is not set',
          );
        }
        logger.info(
          `Serving MCP servers with ${upstream.describe()} at ${connection.baseUrl} ` +
            `(${pluginConfig.staticServers.length} from app-config)`,
        );
      },
    });
  },
});

import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { AuthorizedMcpServerService } from '../authorized/AuthorizedMcpServerService';
import { createCheckMcpServerAction } from './createCheckMcpServerAction';
import { createGetMcpServerAction } from './createGetMcpServerAction';
import { createListMcpServersAction } from './createListMcpServersAction';
import { createRegisterMcpServerAction } from './createRegisterMcpServerAction';
import { createUnregisterMcpServerAction } from './createUnregisterMcpServerAction';

/**
 * The plugin's actions, for AI agents through the actions registry. Each calls
 * the authorized layer with the caller's credentials, as the routes do. The
 * writes only with `allowWrites` (lightspeedMcp.actions.allowWrites).
 */
export const createLightspeedMcpActions = (options: {
  actionsRegistry: ActionsRegistryService;
  mcpServers: AuthorizedMcpServerService;
  allowWrites: boolean;
}) => {
  createListMcpServersAction(options);
  createGetMcpServerAction(options);
  createCheckMcpServerAction(options);
  if (options.allowWrites) {
    createRegisterMcpServerAction(options);
    createUnregisterMcpServerAction(options);
  }
};

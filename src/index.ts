export { lightspeedMcpPlugin as default } from './plugin';
export {
  MCP_SERVER_RESOURCE_TYPE,
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerPermissions,
  mcpServerRegisterPermission,
  mcpServerResourceRef,
  mcpServerUpdatePermission,
} from './permissions/permissions';
export {
  createMcpServerConditionalDecision,
  mcpServerConditions,
  mcpServerRules,
} from './permissions/rules';
export type {
  CheckResult,
  CheckStatus,
  LastCheck,
  McpServer,
  McpServerSource,
  McpTool,
} from './mcpServers/types';

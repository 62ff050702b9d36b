export { lightspeedMcpPlugin as default } from './plugin';
export {
  MCP_SERVER_RESOURCE_TYPE,
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerPermissions,
  mcpServerRegisterPermission,
  mcpServerResourceRef,
  mcpServerUpdatePermission,
} from './permissions';
export { createMcpServerConditionalDecision, mcpServerConditions, mcpServerRules } from './rules';
export type { CheckResult, CheckStatus, LastCheck, McpServer, McpServerSource, McpTool } from './types';

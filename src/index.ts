export { lightspeedMcpPlugin as default } from './plugin';
export {
  MCP_SERVER_RESOURCE_TYPE,
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerPermissions,
  mcpServerRegisterPermission,
  mcpServerResourceRef,
} from './permissions';
export { createMcpServerConditionalDecision, mcpServerConditions, mcpServerRules } from './rules';
export type { McpServer, McpServerSource } from './types';

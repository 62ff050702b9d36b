export { lightspeedMcpPlugin as default } from './plugin';
export {
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerPermissions,
  mcpServerRegisterPermission,
} from './permissions';

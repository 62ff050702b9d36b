import { createPermission } from '@backstage/plugin-permission-common';

/** Guards POST /v1/mcp-servers. */
export const mcpServerRegisterPermission = createPermission({
  name: 'lightspeed.mcp-server.register',
  attributes: { action: 'create' },
});

/** Guards GET /v1/mcp-servers. */
export const mcpServerListPermission = createPermission({
  name: 'lightspeed.mcp-server.list',
  attributes: { action: 'read' },
});

/** Guards DELETE /v1/mcp-servers/{name}. */
export const mcpServerDeletePermission = createPermission({
  name: 'lightspeed.mcp-server.delete',
  attributes: { action: 'delete' },
});

export const mcpServerPermissions = [
  mcpServerRegisterPermission,
  mcpServerListPermission,
  mcpServerDeletePermission,
];

import { createPermission } from '@backstage/plugin-permission-common';
import { createPermissionResourceRef } from '@backstage/plugin-permission-node';
import { McpServer, McpServerFilter } from '../mcpServers/types';

/**
 * The resource type of MCP servers; list, update and delete can be granted per
 * server through its rules.
 */
export const MCP_SERVER_RESOURCE_TYPE = 'lightspeed-mcp-server';

export const mcpServerResourceRef = createPermissionResourceRef<
  McpServer,
  McpServerFilter
>().with({
  pluginId: 'lightspeed-mcp',
  resourceType: MCP_SERVER_RESOURCE_TYPE,
});

/**
 * Guards POST /v1/mcp-servers. Basic: before registration there is no server to
 * put a condition on.
 */
export const mcpServerRegisterPermission = createPermission({
  name: 'lightspeed.mcp-server.register',
  attributes: { action: 'create' },
});

/**
 * Guards GET /v1/mcp-servers (a conditional decision narrows the list) and the
 * routes that read one server: GET /v1/mcp-servers/{name}, its /tools, and its
 * /check.
 */
export const mcpServerListPermission = createPermission({
  name: 'lightspeed.mcp-server.list',
  attributes: { action: 'read' },
  resourceType: MCP_SERVER_RESOURCE_TYPE,
});

/**
 * Guards DELETE /v1/mcp-servers/{name}; a conditional decision is applied to
 * that one server.
 */
export const mcpServerDeletePermission = createPermission({
  name: 'lightspeed.mcp-server.delete',
  attributes: { action: 'delete' },
  resourceType: MCP_SERVER_RESOURCE_TYPE,
});

/**
 * Guards PATCH /v1/mcp-servers/{name}; a conditional decision is applied to
 * that one server.
 */
export const mcpServerUpdatePermission = createPermission({
  name: 'lightspeed.mcp-server.update',
  attributes: { action: 'update' },
  resourceType: MCP_SERVER_RESOURCE_TYPE,
});

export const mcpServerPermissions = [
  mcpServerRegisterPermission,
  mcpServerListPermission,
  mcpServerUpdatePermission,
  mcpServerDeletePermission,
];

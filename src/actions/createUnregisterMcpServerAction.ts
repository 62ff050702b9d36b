import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { AuthorizedMcpServerService } from '../authorized/AuthorizedMcpServerService';

/** Registered only when `lightspeedMcp.actions.allowWrites` is true. */
export const createUnregisterMcpServerAction = ({
  mcpServers,
  actionsRegistry,
}: {
  mcpServers: AuthorizedMcpServerService;
  actionsRegistry: ActionsRegistryService;
}) => {
  actionsRegistry.register({
    name: 'unregister-mcp-server',
    title: 'Unregister MCP server',
    description: `Unregisters an MCP server that was registered at runtime, as DELETE /v1/mcp-servers/{name} does: it is removed from Llama Stack and from the plugin, and no chat can use it any more. Servers from app-config cannot be unregistered. A server that is not (or no longer) registered answers not found.

Only unregister a server the user asked to remove in this conversation.`,
    // Destructive: the server and its registration are gone. Idempotent: a
    // second call changes nothing more (it answers not found), as the catalog's
    // unregister action and HTTP DELETE.
    attributes: {
      destructive: true,
      readOnly: false,
      idempotent: true,
    },
    schema: {
      input: z =>
        z.object({
          name: z.string().describe('The name of the MCP server to remove'),
        }),
      output: z =>
        z.object({
          name: z.string(),
          message: z.string(),
        }),
    },
    action: async ({ input, credentials }) => {
      const name = await mcpServers.delete(input.name, { credentials });
      return {
        output: {
          name,
          message: `MCP server '${name}' unregistered successfully`,
        },
      };
    },
  });
};

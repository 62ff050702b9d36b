import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { AuthorizedMcpServerService } from '../authorized/AuthorizedMcpServerService';
import { toWire } from '../service/response';
import { wireServerSchema } from './wireSchemas';

export const createGetMcpServerAction = ({
  mcpServers,
  actionsRegistry,
}: {
  mcpServers: AuthorizedMcpServerService;
  actionsRegistry: ActionsRegistryService;
}) => {
  actionsRegistry.register({
    name: 'get-mcp-server',
    title: 'Get MCP server',
    description: `Gets one MCP server by its name, with the fields of \`list-mcp-servers\`: \`url\`, \`provider_id\`, \`source\`, \`status\` (and \`status_message\` when it is \`error\`), \`last_check\` once checked. A server the caller may not see answers as not registered.`,
    attributes: {
      destructive: false,
      readOnly: true,
      idempotent: true,
    },
    schema: {
      input: z =>
        z.object({
          name: z.string().describe('The name of the MCP server'),
        }),
      output: z => wireServerSchema(z),
    },
    action: async ({ input, credentials }) => ({
      output: toWire(await mcpServers.get(input.name, { credentials })),
    }),
  });
};

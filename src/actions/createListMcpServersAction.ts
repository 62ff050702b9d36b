import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { InputError } from '@backstage/errors';
import { AuthorizedMcpServerService } from '../authorized/AuthorizedMcpServerService';
import { MAX_PAGE_SIZE } from '../service/request';
import { toWire } from '../service/response';
import { wireServerSchema } from './wireSchemas';

/** Agents get pages, not whole lists: a list can hold thousands of servers. */
export const DEFAULT_ACTION_PAGE_SIZE = 50;

export const createListMcpServersAction = ({
  mcpServers,
  actionsRegistry,
}: {
  mcpServers: AuthorizedMcpServerService;
  actionsRegistry: ActionsRegistryService;
}) => {
  actionsRegistry.register({
    name: 'list-mcp-servers',
    title: 'List MCP servers',
    description: `Lists the MCP servers that Developer Lightspeed offers its chats, as far as the caller may see them: servers from app-config (\`source: "config"\`) first, then servers registered at runtime (\`source: "api"\`) in registration order.

Each server has its \`name\`, \`url\`, Llama Stack \`provider_id\`, \`status\` and, once checked, \`last_check\`. A server is failing when its \`status\` is \`error\` (see \`status_message\`) or its \`last_check.status\` is not \`ok\`; \`pending\` means its registration is still under way. \`check-mcp-server\` connects to a server now.

Pages: at most \`limit\` servers (default ${DEFAULT_ACTION_PAGE_SIZE}); when the answer has \`next_cursor\`, call again with it as \`cursor\` and the same \`name_prefix\` for the next page.`,
    attributes: {
      destructive: false,
      readOnly: true,
      idempotent: true,
    },
    schema: {
      input: z =>
        z.object({
          name_prefix: z
            .string()
            .optional()
            .describe(
              'Only servers whose name starts with this text (case-sensitive), for example "team-a-"',
            ),
          limit: z
            .number()
            .optional()
            .describe(
              `Most servers to return, a whole number from 1 to ${MAX_PAGE_SIZE}. Default: ${DEFAULT_ACTION_PAGE_SIZE}`,
            ),
          cursor: z
            .string()
            .optional()
            .describe('The next_cursor of the previous page'),
        }),
      output: z =>
        z.object({
          servers: z.array(wireServerSchema(z)),
          next_cursor: z
            .string()
            .optional()
            .describe('Present when more servers follow; pass it as cursor'),
        }),
    },
    examples: [
      {
        title: 'The first servers of team A',
        input: { name_prefix: 'team-a-', limit: 20 },
      },
    ],
    action: async ({ input, credentials }) => {
      const limit = input.limit ?? DEFAULT_ACTION_PAGE_SIZE;
      // The rule and message of GET /v1/mcp-servers?limit=.
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
        throw new InputError(
          `'limit' must be a whole number from 1 to ${MAX_PAGE_SIZE}`,
        );
      }
      const { servers, nextCursor } = await mcpServers.listPage(
        { limit, cursor: input.cursor, namePrefix: input.name_prefix },
        { credentials },
      );
      return {
        output: {
          servers: servers.map(toWire),
          ...(nextCursor && { next_cursor: nextCursor }),
        },
      };
    },
  });
};

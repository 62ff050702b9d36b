import { InputError } from '@backstage/errors';
import { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { McpServer } from '../mcpServers/types';

/**
 * The `tools` entries of a Llama Stack Responses request (`POST
 * /v1/responses`), the way lightspeed-stack passes MCP servers to Llama Stack
 * 0.7+ per query.
 */
export interface McpTool {
  type: 'mcp';
  server_label: string;
  server_url: string;
  require_approval: 'never';
  headers?: Record<string, string>;
  /** The token of an `Authorization` header, without its `Bearer ` prefix. */
  authorization?: string;
}

export interface SkippedServer {
  server_label: string;
  reason: string;
}

/**
 * `{ "<server name>": { "<header>": "<value>" } }`, as lightspeed-stack's query
 * path takes it.
 */
export type McpHeaders = Record<string, Record<string, string>>;

export const MCP_HEADERS_LIMIT_BYTES = 8 * 1024;

const mcpHeadersSchema = z.record(z.string(), z.record(z.string(), z.string()));

/**
 * Never copied from the caller's request: they carry the caller's Backstage
 * credentials.
 */
const NEVER_PROPAGATED = new Set(['authorization', 'cookie', 'mcp-headers']);

/**
 * Parses the caller's `MCP-HEADERS` request header. Its messages never repeat
 * what was sent: the values are secrets.
 */
export function parseMcpHeaders(
  raw: string | string[] | undefined,
): McpHeaders {
  if (raw === undefined) {
    return {};
  }
  if (Array.isArray(raw)) {
    throw new InputError('MCP-HEADERS must be sent at most once');
  }
  if (Buffer.byteLength(raw) > MCP_HEADERS_LIMIT_BYTES) {
    throw new InputError(
      `MCP-HEADERS must be at most ${MCP_HEADERS_LIMIT_BYTES / 1024} KiB`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  const result = mcpHeadersSchema.safeParse(value);
  if (!result.success) {
    throw new InputError(
      'MCP-HEADERS must be a JSON object of MCP server name to an object of header name to string value',
    );
  }
  return result.data;
}

/**
 * The tools a chat backend passes to Llama Stack for these servers. A server
 * whose authorization header has no value in MCP-HEADERS is left out and named
 * in `skipped`, with a fixed reason.
 */
export function toMcpTools(
  servers: McpServer[],
  mcpHeaders: McpHeaders,
  requestHeaders: IncomingHttpHeaders,
  /** The caller's stored tokens, for an Authorization MCP-HEADERS lacks. */
  storedTokens: Map<string, string> = new Map(),
): { tools: McpTool[]; skipped: SkippedServer[] } {
  const tools: McpTool[] = [];
  const skipped: SkippedServer[] = [];

  for (const server of servers) {
    const supplied = lowerCaseKeys(mcpHeaders[server.name] ?? {});
    const headers: Record<string, string> = {};
    let authorization: string | undefined;
    let missing: string | undefined;

    for (const [header, kind] of Object.entries(
      server.authorizationHeaders ?? {},
    )) {
      const isAuthorization = header.toLowerCase() === 'authorization';
      // The request's own value wins over a stored one.
      const value =
        supplied[header.toLowerCase()] ??
        (isAuthorization ? storedTokens.get(server.name) : undefined);
      if (!value) {
        missing = `no value for the ${kind} header '${header}' in MCP-HEADERS`;
        break;
      }
      if (isAuthorization) {
        authorization = value.replace(/^Bearer\s+/i, '');
      } else {
        headers[header] = value;
      }
    }
    if (missing) {
      skipped.push({ server_label: server.name, reason: missing });
      continue;
    }

    for (const header of server.headers ?? []) {
      const value = requestHeaders[header.toLowerCase()];
      if (value !== undefined && !NEVER_PROPAGATED.has(header.toLowerCase())) {
        headers[header] = Array.isArray(value) ? value.join(', ') : value;
      }
    }

    tools.push({
      type: 'mcp',
      server_label: server.name,
      server_url: server.url,
      require_approval: 'never',
      ...(Object.keys(headers).length > 0 && { headers }),
      ...(authorization && { authorization }),
    });
  }
  return { tools, skipped };
}

function lowerCaseKeys(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key.toLowerCase(), value]),
  );
}

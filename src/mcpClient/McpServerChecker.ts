import { LoggerService } from '@backstage/backend-plugin-api';
import { toError } from '@backstage/errors';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CheckResult, McpTool } from '../mcpServers/types';
import { UrlPolicy } from './urlPolicy';
import { createGuardedFetch, GuardedFetch } from './guardedFetch';

/**
 * A server offering more is still listed, up to this many tools (and tools/list
 * pages).
 */
const MAX_TOOLS = 1000;
const MAX_PAGES = 20;

/** Errors of a connection that never got an answer. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export interface McpServerCheckerOptions {
  urlPolicy: UrlPolicy;
  /** Time limit of a whole check: connection, initialize and tools/list. */
  timeoutMs: number;
  logger: LoggerService;
}

/**
 * Connects to an MCP server as a client would: Streamable HTTP first, then the
 * older HTTP+SSE transport when the server answers the Streamable HTTP request
 * with a 4xx other than 401/403 (the fallback the MCP specification describes),
 * runs initialize and tools/list, and says how that went.
 */
export class McpServerChecker {
  constructor(private readonly options: McpServerCheckerOptions) {}

  /**
   * Never throws: every outcome is a result. `name` is for the log only.
   * `token` is sent as `Authorization: Bearer <token>`, as MCP servers expect,
   * to the server's own origin only.
   */
  async check(
    name: string,
    url: string,
    options: { token?: string } = {},
  ): Promise<CheckResult> {
    const { timeoutMs, urlPolicy, logger } = this.options;
    const checkedAt = new Date().toISOString();
    const guarded = createGuardedFetch(urlPolicy, timeoutMs);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      const timedOut = new Promise<never>((_, reject) =>
        deadline.signal.addEventListener('abort', () =>
          reject(deadline.signal.reason),
        ),
      );
      const tools = await Promise.race([
        this.listTools(url, guarded, deadline.signal, options.token),
        timedOut,
      ]);
      return {
        status: 'ok',
        toolCount: tools.length,
        tools,
        checkedAt,
        message: `Connected; the server offers ${tools.length} tool${tools.length === 1 ? '' : 's'}`,
      };
    } catch (error) {
      const outcome = classify(
        error,
        guarded,
        deadline.signal.aborted,
        timeoutMs,
      );
      logger.info(
        `Check of MCP server '${name}': ${outcome.status}`,
        toError(error),
      );
      return { ...outcome, toolCount: null, tools: [], checkedAt };
    } finally {
      clearTimeout(timer);
      await guarded.close().catch(() => undefined);
    }
  }

  private async listTools(
    url: string,
    guarded: GuardedFetch,
    signal: AbortSignal,
    token?: string,
  ): Promise<McpTool[]> {
    const endpoint = new URL(url);
    // Without a token, redirects are followed to any address the URL policy
    // allows (http to https, a moved endpoint); the guarded fetch checks each
    // one.
    const options = token
      ? {
          fetch: withToken(guarded.fetch, endpoint.origin, token),
          // A token never follows a redirect to another origin.
          redirectPolicy: 'same-origin' as const,
        }
      : { fetch: guarded.fetch, redirectPolicy: 'follow' as const };
    try {
      return await listToolsOver(
        new StreamableHTTPClientTransport(endpoint, options),
        signal,
      );
    } catch (error) {
      const status = guarded.statuses.at(-1);
      const notStreamable =
        status !== undefined &&
        status >= 400 &&
        status < 500 &&
        status !== 401 &&
        status !== 403;
      if (!notStreamable || guarded.refusal || signal.aborted) {
        throw error;
      }
      return await listToolsOver(
        new SSEClientTransport(endpoint, options),
        signal,
      );
    }
  }
}

/** Adds the token to requests to `origin`, and to no other. */
function withToken(
  fetch: typeof globalThis.fetch,
  origin: string,
  token: string,
): typeof globalThis.fetch {
  return (input, init) => {
    const target = new URL(input instanceof Request ? input.url : input);
    if (target.origin !== origin) {
      return fetch(input, init);
    }
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

async function listToolsOver(
  transport: Transport,
  signal: AbortSignal,
): Promise<McpTool[]> {
  const client = new Client({
    name: 'backstage-plugin-lightspeed-mcp-backend',
    version: '1',
  });
  try {
    await client.connect(transport, { signal });
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES && tools.length < MAX_TOOLS; page++) {
      const result = await client.listTools(
        cursor === undefined ? undefined : { cursor },
        { signal },
      );
      for (const tool of result.tools) {
        tools.push(
          tool.description === undefined
            ? { name: tool.name }
            : { name: tool.name, description: tool.description },
        );
      }
      cursor = result.nextCursor;
      if (cursor === undefined) {
        break;
      }
    }
    return tools.slice(0, MAX_TOOLS);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The fixed texts a user sees; the error itself goes to the log. */
function classify(
  error: unknown,
  guarded: GuardedFetch,
  timedOut: boolean,
  timeoutMs: number,
): Pick<CheckResult, 'status' | 'message'> {
  if (guarded.refusal) {
    return { status: 'error', message: guarded.refusal.message };
  }
  const denied = guarded.statuses.find(
    status => status === 401 || status === 403,
  );
  if (denied) {
    return {
      status: 'auth_required',
      message: `The MCP server requires authorization (HTTP ${denied})`,
    };
  }
  if (timedOut) {
    return {
      status: 'unreachable',
      message: `The MCP server did not answer within ${timeoutMs / 1000} seconds`,
    };
  }
  if (causes(error).some(cause => (cause as Error).message === 'bad port')) {
    // fetch never connects to the ports of other protocols (SMTP, SSH...),
    // listed in the Fetch standard.
    return {
      status: 'error',
      message: "The URL's port is one that HTTP clients refuse to connect to",
    };
  }
  const code = causes(error)
    .map(cause => (cause as { code?: unknown }).code)
    .find(
      (value): value is string =>
        typeof value === 'string' && NETWORK_ERROR_CODES.has(value),
    );
  if (code) {
    return {
      status: 'unreachable',
      message: `Could not connect to the MCP server (${code})`,
    };
  }
  const failed = guarded.statuses.find(status => status >= 400);
  if (failed) {
    return {
      status: 'error',
      message: `The MCP server answered HTTP ${failed}`,
    };
  }
  return {
    status: 'error',
    message: 'The MCP server did not complete initialize and tools/list',
  };
}

/** The error and its chain of causes, as far as five levels down. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (
    let current = error;
    current && chain.length < 5;
    current = (current as { cause?: unknown }).cause
  ) {
    chain.push(current);
  }
  return chain;
}

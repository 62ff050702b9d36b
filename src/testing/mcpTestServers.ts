import http from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/**
 * Real MCP servers on loopback, built with the MCP SDK, for tests of the
 * connection check: one per transport (Streamable HTTP, the older HTTP+SSE),
 * and ones that fail the way a misconfigured endpoint does (bearer token
 * required, hanging, redirecting).
 */

export interface McpTestTool {
  name: string;
  description?: string;
}

export interface McpTestServerOptions {
  /**
   * 'streamable-http': MCP Streamable HTTP at /mcp, stateless (a new server and
   * transport per request). 'sse': the old HTTP+SSE transport: GET /sse opens
   * the stream, POST /messages?sessionId=... carries messages; POST /sse
   * answers 405, so a client that tries Streamable HTTP first falls back to
   * SSE.
   */
  transport: 'streamable-http' | 'sse';
  /**
   * Tools offered via tools/list, each with an empty input schema. Default: one
   * `echo` tool.
   */
  tools?: McpTestTool[];
  /**
   * Every request without `Authorization: Bearer <token>` gets 401 before any
   * MCP processing.
   */
  bearerToken?: string;
  /**
   * Accepts connections and reads requests but never answers (until stop()).
   */
  hang?: boolean;
  /**
   * Answers every request with 307 and `Location: <redirectTo>` (no MCP
   * processing).
   */
  redirectTo?: string;
}

export interface McpTestServer {
  /**
   * http://127.0.0.1:<port>/mcp for streamable-http,
   * http://127.0.0.1:<port>/sse for sse.
   */
  url: string;
  /**
   * Every HTTP request received, in order; `path` is without the query (the SSE
   * session id is random).
   */
  requests: Array<{ method: string; path: string; authorization?: string }>;
  /**
   * Closes the server and destroys every open socket, hung requests and SSE
   * streams included.
   */
  stop(): Promise<void>;
}

const DEFAULT_TOOLS: McpTestTool[] = [
  { name: 'echo', description: 'Echoes its input' },
];

function createMcpServer(tools: McpTestTool[]): McpServer {
  const server = new McpServer({ name: 'mcp-test-server', version: '1.0.0' });
  for (const tool of tools) {
    server.registerTool(
      tool.name,
      { description: tool.description },
      async () => ({
        content: [{ type: 'text', text: `${tool.name} called` }],
      }),
    );
  }
  if (tools.length === 0) {
    // McpServer installs the tools/list handler only when a tool is registered;
    // without it an empty server would answer "method not found" instead of an
    // empty list.
    server
      .registerTool('placeholder', {}, async () => ({ content: [] }))
      .remove();
  }
  return server;
}

function reply(
  res: http.ServerResponse,
  status: number,
  headers: http.OutgoingHttpHeaders,
  body?: unknown,
): void {
  res.writeHead(
    status,
    body === undefined
      ? headers
      : { ...headers, 'content-type': 'application/json' },
  );
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

export async function startMcpTestServer(
  options: McpTestServerOptions,
): Promise<McpTestServer> {
  const tools = options.tools ?? DEFAULT_TOOLS;
  const requests: McpTestServer['requests'] = [];
  const sseSessions = new Map<string, SSEServerTransport>();

  async function handleStreamableHttp(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
  ) {
    if (path !== '/mcp') {
      reply(res, 404, {}, { error: 'not found' });
      return;
    }
    // Stateless, so there is no session for a GET stream or a DELETE to act on;
    // the SDK client accepts 405.
    if (req.method !== 'POST') {
      reply(res, 405, { allow: 'POST' }, { error: 'method not allowed' });
      return;
    }
    const server = createMcpServer(tools);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }

  async function handleSse(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    query: URLSearchParams,
  ) {
    if (path === '/sse' && req.method === 'GET') {
      const transport = new SSEServerTransport('/messages', res);
      sseSessions.set(transport.sessionId, transport);
      res.on('close', () => sseSessions.delete(transport.sessionId));
      await createMcpServer(tools).connect(transport);
      return;
    }
    if (path === '/messages' && req.method === 'POST') {
      const transport = sseSessions.get(query.get('sessionId') ?? '');
      if (!transport) {
        reply(res, 404, {}, { error: 'unknown session' });
        return;
      }
      await transport.handlePostMessage(req, res);
      return;
    }
    if (path === '/sse') {
      // A client trying Streamable HTTP first POSTs here; a 405 is what tells
      // it to fall back to SSE.
      reply(res, 405, { allow: 'GET' }, { error: 'method not allowed' });
      return;
    }
    reply(res, 404, {}, { error: 'not found' });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      authorization: req.headers.authorization,
    });
    if (options.hang) {
      // Drain the body so the client has sent everything and is left waiting
      // for an answer.
      req.resume();
      return;
    }
    if (options.redirectTo !== undefined) {
      req.resume();
      reply(res, 307, { location: options.redirectTo });
      return;
    }
    if (
      options.bearerToken !== undefined &&
      req.headers.authorization !== `Bearer ${options.bearerToken}`
    ) {
      req.resume();
      const body = {
        error: 'invalid_token',
        error_description: 'Bearer token required',
      };
      reply(res, 401, { 'www-authenticate': 'Bearer' }, body);
      return;
    }
    if (options.transport === 'sse') {
      await handleSse(req, res, url.pathname, url.searchParams);
    } else {
      await handleStreamableHttp(req, res, url.pathname);
    }
  }

  const sockets = new Set<Socket>();
  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch(error => {
      if (!res.headersSent) {
        reply(res, 500, {}, { error: String(error) });
      } else {
        res.destroy();
      }
    });
  });
  httpServer.on('connection', socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => {
      httpServer.off('error', reject);
      resolve();
    });
  });

  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${options.transport === 'sse' ? 'sse' : 'mcp'}`,
    requests,
    async stop() {
      // close() waits for open connections, which a hung request or an SSE
      // stream never ends by itself.
      const closed = new Promise<void>(resolve =>
        httpServer.close(() => resolve()),
      );
      for (const socket of sockets) {
        socket.destroy();
      }
      await closed;
    },
  };
}

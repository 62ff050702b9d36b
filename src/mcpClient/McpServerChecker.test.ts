import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CapturedLogs } from '../testing/testBackend';
import { freePort } from '../testing/localResources';
import {
  McpTestServer,
  McpTestServerOptions,
  startMcpTestServer,
} from '../testing/mcpTestServers';
import { UrlPolicy } from './urlPolicy';
import { McpServerChecker } from './McpServerChecker';

const started: McpTestServer[] = [];
const plainServers: http.Server[] = [];

async function mcpServer(options: McpTestServerOptions) {
  const server = await startMcpTestServer(options);
  started.push(server);
  return server;
}

/**
 * An HTTP server that is not an MCP server: it answers every request with
 * `status` and some HTML.
 */
async function plainServer(status: number): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    res
      .writeHead(status, { 'content-type': 'text/html' })
      .end('<html>hello</html>');
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  plainServers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(server => server.stop()));
  await Promise.all(
    plainServers
      .splice(0)
      .map(server => new Promise(resolve => server.close(resolve))),
  );
});

function checker(timeoutMs = 5000) {
  return new McpServerChecker({
    urlPolicy: new UrlPolicy(),
    timeoutMs,
    logger: new CapturedLogs().logger(),
  });
}

describe('McpServerChecker', () => {
  it('lists the tools of a Streamable HTTP server', async () => {
    const server = await mcpServer({
      transport: 'streamable-http',
      tools: [
        { name: 'search', description: 'Searches the docs' },
        { name: 'fetch' },
      ],
    });

    const result = await checker().check('docs', server.url);

    expect(result).toEqual({
      status: 'ok',
      toolCount: 2,
      tools: [
        { name: 'search', description: 'Searches the docs' },
        { name: 'fetch' },
      ],
      checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      message: 'Connected; the server offers 2 tools',
    });
  });

  it('falls back to the HTTP+SSE transport when the server does not speak Streamable HTTP', async () => {
    const server = await mcpServer({ transport: 'sse' });

    const result = await checker().check('legacy', server.url);

    expect(result).toMatchObject({
      status: 'ok',
      toolCount: 1,
      tools: [{ name: 'echo', description: 'Echoes its input' }],
    });
    // Streamable HTTP first (refused with 405), then the SSE stream and its
    // messages.
    expect(
      server.requests.map(r => `${r.method} ${r.path}`).slice(0, 3),
    ).toEqual(['POST /sse', 'GET /sse', 'POST /messages']);
  });

  it.each(['streamable-http', 'sse'] as const)(
    'reports auth_required for a %s server that answers 401',
    async transport => {
      const server = await mcpServer({
        transport,
        bearerToken: 'secret-token',
      });

      const result = await checker().check('private', server.url);

      expect(result).toEqual({
        status: 'auth_required',
        toolCount: null,
        tools: [],
        checkedAt: expect.any(String),
        message: 'The MCP server requires authorization (HTTP 401)',
      });
    },
  );

  it('reports unreachable when nothing listens', async () => {
    const result = await checker().check(
      'gone',
      `http://127.0.0.1:${await freePort()}/mcp`,
    );

    expect(result).toMatchObject({
      status: 'unreachable',
      message: 'Could not connect to the MCP server (ECONNREFUSED)',
    });
  });

  it('reports an error for a port that HTTP clients refuse, rather than an unreachable server', async () => {
    const result = await checker().check('smtp', 'http://127.0.0.1:25/mcp');

    expect(result).toMatchObject({
      status: 'error',
      message: "The URL's port is one that HTTP clients refuse to connect to",
    });
  });

  it('reports unreachable when the server does not answer within the time limit', async () => {
    const server = await mcpServer({
      transport: 'streamable-http',
      hang: true,
    });

    const result = await checker(300).check('slow', server.url);

    expect(result).toMatchObject({
      status: 'unreachable',
      message: 'The MCP server did not answer within 0.3 seconds',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('reports an error, and connects nowhere else, when the server redirects to the metadata address', async () => {
    const server = await mcpServer({
      transport: 'streamable-http',
      redirectTo: 'http://169.254.169.254/latest/meta-data',
    });

    const result = await checker().check('redirecting', server.url);

    expect(result).toMatchObject({
      status: 'error',
      message:
        'The URL policy refuses a connection to 169.254.169.254: ' +
        'its address is in a range that is always refused (link-local and cloud metadata addresses)',
    });
  });

  it('follows a redirect to an MCP server at an allowed address', async () => {
    const target = await mcpServer({ transport: 'streamable-http' });
    const moved = await mcpServer({
      transport: 'streamable-http',
      redirectTo: target.url,
    });

    const result = await checker().check('moved', moved.url);

    expect(result).toMatchObject({ status: 'ok', toolCount: 1 });
    expect(target.requests.length).toBeGreaterThan(0);
  });

  it('refuses to connect to an address the policy denies', async () => {
    const server = await mcpServer({ transport: 'streamable-http' });
    const denying = new McpServerChecker({
      urlPolicy: new UrlPolicy({ deny: ['127.0.0.0/8'] }),
      timeoutMs: 5000,
      logger: new CapturedLogs().logger(),
    });

    const result = await denying.check('local', server.url);

    expect(result).toMatchObject({
      status: 'error',
      message: expect.stringMatching(/urlPolicy\.deny$/),
    });
    expect(server.requests).toEqual([]);
  });

  it.each([
    [500, 'The MCP server answered HTTP 500'],
    [200, 'The MCP server did not complete initialize and tools/list'],
  ])(
    'reports an error for a web server that is not an MCP server (HTTP %s)',
    async (status, message) => {
      const result = await checker().check('web', await plainServer(status));

      expect(result).toMatchObject({
        status: 'error',
        toolCount: null,
        message,
      });
    },
  );
});

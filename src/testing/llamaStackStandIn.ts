import Ajv, { ValidateFunction } from 'ajv';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import YAML from 'yaml';

/**
 * A STAND-IN for Llama Stack's toolgroups API (0.2 - 0.6), for tests and the
 * dev backend. It is not Llama Stack: it keeps toolgroups in memory, never
 * contacts an MCP server and runs no model.
 *
 * It behaves like the real server where the plugin can tell: the routes and
 * bodies of the reference schema (request bodies are checked against it), 400
 * "already exists" for a different toolgroup of a known id, 400 for an unknown
 * provider, 404 for an unknown toolgroup, the error body shapes of 0.2 - 0.5
 * (`detail`) and 0.6 (`message`), and 404 on every toolgroups route when told
 * to act as 0.7+. It fails on demand: down, slow, hanging, or any status.
 */

export interface StandInToolgroup {
  identifier: string;
  provider_resource_id: string;
  provider_id: string;
  type: 'tool_group';
  mcp_endpoint: { uri: string } | null;
  args: Record<string, unknown> | null;
}

export interface StandInCall {
  method: string;
  /** Path and query, as received (still URL-encoded). */
  path: string;
  body?: unknown;
  authorization?: string;
}

/** What a fault does to a call it hits. */
export type StandInFault =
  | { status: number; message?: string }
  | { delayMs: number }
  /** Never answers (until the stand-in stops). */
  | { hang: true };

export interface FaultOptions {
  /** Hit only calls of this method; default every method. */
  method?: 'GET' | 'POST' | 'DELETE';
  /** Hit this many calls, then stop; default every call until clearFaults(). */
  times?: number;
}

export interface StandInOptions {
  /** Default: 0, any free port. */
  port?: number;
  /** Every call must carry `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * `message` as Llama Stack 0.6, `detail` as 0.2 - 0.5. Default: `message`.
   */
  errorStyle?: 'message' | 'detail';
  /** Providers it knows. Default: `model-context-protocol`. */
  providers?: string[];
  /**
   * false: act as Llama Stack 0.7+, which answers 404 to every toolgroups
   * route. Default: true.
   */
  toolgroupsApi?: boolean;
}

const SCHEMA_FILE = path.join(
  __dirname,
  'llama-stack-v0.6.1-toolgroups.openapi.yaml',
);
const MAX_BODY_BYTES = 1024 * 1024;

let registerRequestValidator: ValidateFunction | undefined;

function validateRegisterRequest(body: unknown): string | undefined {
  if (!registerRequestValidator) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema(YAML.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')), 'spec');
    registerRequestValidator = ajv.getSchema(
      'spec#/components/schemas/RegisterToolGroupRequest',
    )!;
  }
  if (registerRequestValidator(body)) {
    return undefined;
  }
  return (registerRequestValidator.errors ?? [])
    .map(e => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
}

export class LlamaStackStandIn {
  /**
   * The toolgroups it holds; tests may add foreign ones or clear it to act as a
   * restarted, empty server.
   */
  readonly toolgroups = new Map<string, StandInToolgroup>();
  /** Every call received, in order. */
  readonly calls: StandInCall[] = [];
  /**
   * Request bodies that did not match the reference schema; a correct client
   * leaves this empty.
   */
  readonly schemaViolations: string[] = [];
  /**
   * The tools GET /v1/tools answers for each toolgroup. Real Llama Stack asks
   * the MCP server; the stand-in answers what a test puts here (none by
   * default).
   */
  readonly tools = new Map<
    string,
    Array<{ name: string; description?: string | null }>
  >();
  toolgroupsApi: boolean;

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private faults: Array<{
    fault: StandInFault;
    options: FaultOptions;
    left: number;
  }> = [];
  private port: number;

  private constructor(private readonly options: StandInOptions) {
    this.port = options.port ?? 0;
    this.toolgroupsApi = options.toolgroupsApi ?? true;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', socket => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: StandInOptions = {}): Promise<LlamaStackStandIn> {
    const standIn = new LlamaStackStandIn(options);
    await standIn.listen();
    return standIn;
  }

  /** Base URL, as `lightspeedMcp.llamaStack.baseUrl` wants it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Calls to toolgroups routes, as `METHOD path`. */
  toolgroupCalls(): string[] {
    return this.calls
      .filter(c => c.path.startsWith('/v1/toolgroups'))
      .map(c => `${c.method} ${c.path}`);
  }

  /** The calls that change something (register and unregister). */
  writeCalls(): string[] {
    return this.calls
      .filter(c => c.method !== 'GET')
      .map(c => `${c.method} ${c.path}`);
  }

  /**
   * Adds a toolgroup as if someone had registered it, e.g. a foreign one or a
   * leftover.
   */
  addToolgroup(
    identifier: string,
    uri: string,
    providerId = 'model-context-protocol',
  ): void {
    this.toolgroups.set(identifier, {
      identifier,
      provider_resource_id: identifier,
      provider_id: providerId,
      type: 'tool_group',
      mcp_endpoint: { uri },
      args: null,
    });
  }

  inject(fault: StandInFault, options: FaultOptions = {}): void {
    this.faults.push({ fault, options, left: options.times ?? Infinity });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Refuses connections from now on, as a Llama Stack that is down. */
  async stop(): Promise<void> {
    const closed = new Promise<void>(resolve =>
      this.server.close(() => resolve()),
    );
    for (const socket of this.sockets) {
      socket.destroy();
    }
    await closed;
  }

  /** Listens again on the same port after stop(). */
  async restart(): Promise<void> {
    await this.listen();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private takeFault(method: string): StandInFault | undefined {
    const entry = this.faults.find(
      f => f.left > 0 && (!f.options.method || f.options.method === method),
    );
    if (entry) {
      entry.left -= 1;
    }
    return entry?.fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch {
      this.calls.push({
        method,
        path: target,
        authorization: req.headers.authorization,
      });
      this.sendError(res, 400, 'Request body is not valid JSON');
      return;
    }
    this.calls.push({
      method,
      path: target,
      body,
      authorization: req.headers.authorization,
    });

    const fault = this.takeFault(method);
    if (fault && 'hang' in fault) {
      return;
    }
    if (fault && 'delayMs' in fault) {
      // unref: a delayed answer must not keep a finished test run alive.
      await new Promise(resolve => setTimeout(resolve, fault.delayMs).unref());
    }
    if (fault && 'status' in fault) {
      this.sendError(
        res,
        fault.status,
        fault.message ?? `Injected failure ${fault.status}`,
      );
      return;
    }
    if (
      this.options.token &&
      req.headers.authorization !== `Bearer ${this.options.token}`
    ) {
      this.sendError(res, 401, 'Invalid or missing API token');
      return;
    }
    this.route(method, new URL(target, 'http://stand-in'), body, res);
  }

  private route(
    method: string,
    url: URL,
    body: unknown,
    res: http.ServerResponse,
  ) {
    if (
      url.pathname === '/v1/tools' &&
      method === 'GET' &&
      this.toolgroupsApi
    ) {
      this.listTools(url.searchParams.get('toolgroup_id'), res);
      return;
    }
    if (!url.pathname.startsWith('/v1/toolgroups') || !this.toolgroupsApi) {
      // FastAPI's answer for a route it does not have, as Llama Stack 0.7+
      // gives for toolgroups.
      send(res, 404, { detail: 'Not Found' });
      return;
    }
    if (url.pathname === '/v1/toolgroups') {
      if (method === 'GET') {
        send(res, 200, { data: [...this.toolgroups.values()] });
      } else if (method === 'POST') {
        this.register(body, res);
      } else {
        send(res, 405, { detail: 'Method Not Allowed' });
      }
      return;
    }
    const id = decodeURIComponent(url.pathname.slice('/v1/toolgroups/'.length));
    const toolgroup = this.toolgroups.get(id);
    if (method === 'GET' || method === 'DELETE') {
      if (!toolgroup) {
        this.sendError(res, 404, `Tool Group '${id}' not found`);
        return;
      }
      if (method === 'DELETE') {
        this.toolgroups.delete(id);
        res.writeHead(204).end();
      } else {
        send(res, 200, toolgroup);
      }
      return;
    }
    send(res, 405, { detail: 'Method Not Allowed' });
  }

  private listTools(toolgroupId: string | null, res: http.ServerResponse) {
    if (toolgroupId !== null && !this.toolgroups.has(toolgroupId)) {
      this.sendError(res, 404, `Tool Group '${toolgroupId}' not found`);
      return;
    }
    const ids =
      toolgroupId === null ? [...this.toolgroups.keys()] : [toolgroupId];
    const data = ids.flatMap(id =>
      (this.tools.get(id) ?? []).map(tool => ({
        toolgroup_id: id,
        name: tool.name,
        description: tool.description ?? null,
      })),
    );
    send(res, 200, { data });
  }

  private register(body: unknown, res: http.ServerResponse) {
    const violation = validateRegisterRequest(body);
    if (violation) {
      this.schemaViolations.push(`POST /v1/toolgroups: ${violation}`);
      this.sendError(res, 400, `Invalid request: ${violation}`);
      return;
    }
    const request = body as {
      toolgroup_id: string;
      provider_id: string;
      mcp_endpoint?: { uri: string } | null;
      args?: Record<string, unknown> | null;
    };
    const providers = this.options.providers ?? ['model-context-protocol'];
    if (!providers.includes(request.provider_id)) {
      this.sendError(res, 400, `Provider '${request.provider_id}' not found`);
      return;
    }
    const toolgroup: StandInToolgroup = {
      identifier: request.toolgroup_id,
      provider_resource_id: request.toolgroup_id,
      provider_id: request.provider_id,
      type: 'tool_group',
      mcp_endpoint: request.mcp_endpoint ?? null,
      args: request.args ?? null,
    };
    const existing = this.toolgroups.get(toolgroup.identifier);
    if (existing && JSON.stringify(existing) !== JSON.stringify(toolgroup)) {
      this.sendError(
        res,
        400,
        `Object of type 'tool_group' and identifier '${toolgroup.identifier}' already exists. Unregister it first if you want to replace it.`,
      );
      return;
    }
    this.toolgroups.set(toolgroup.identifier, toolgroup);
    res.writeHead(204).end();
  }

  private sendError(res: http.ServerResponse, status: number, text: string) {
    const style = this.options.errorStyle ?? 'message';
    send(res, status, { error: { [style]: text } });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown) {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify(body));
}

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new Error('body too large');
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

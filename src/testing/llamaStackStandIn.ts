import Ajv, { ValidateFunction } from 'ajv';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import { send, StandInServer, StandInServerOptions } from './standInServer';

export type { FaultOptions, StandInCall, StandInFault } from './standInServer';

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

export interface StandInOptions extends StandInServerOptions {
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

/**
 * Llama Stack's answers; the server, call log, faults and token check are
 * StandInServer's.
 */
export class LlamaStackStandIn extends StandInServer {
  /**
   * The toolgroups it holds; tests may add foreign ones or clear it to act as a
   * restarted, empty server.
   */
  readonly toolgroups = new Map<string, StandInToolgroup>();
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

  private constructor(private readonly options: StandInOptions) {
    super(options);
    this.toolgroupsApi = options.toolgroupsApi ?? true;
  }

  static async start(options: StandInOptions = {}): Promise<LlamaStackStandIn> {
    const standIn = new LlamaStackStandIn(options);
    await standIn.listen();
    return standIn;
  }

  /** Calls to toolgroups routes, as `METHOD path`. */
  toolgroupCalls(): string[] {
    return this.calls
      .filter(c => c.path.startsWith('/v1/toolgroups'))
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

  protected override answerUnreadableBody(
    _method: string,
    _url: URL,
    res: http.ServerResponse,
  ): boolean {
    this.sendError(res, 400, 'Request body is not valid JSON');
    return true;
  }

  protected override route(
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

  protected override sendError(
    res: http.ServerResponse,
    status: number,
    text: string,
  ) {
    const style = this.options.errorStyle ?? 'message';
    send(res, status, { error: { [style]: text } });
  }
}

import http from 'node:http';
import { send, StandInServer, StandInServerOptions } from './standInServer';

export type { FaultOptions, StandInCall, StandInFault } from './standInServer';

/**
 * A STAND-IN for lightspeed-stack's (LCS) runtime MCP servers API
 * (`/v1/mcp-servers`), for tests and the dev backend. It is not LCS: there is
 * no Llama Stack or OGX behind it, it answers no questions, never contacts an
 * MCP server and keeps servers in memory only (as LCS does for API servers).
 *
 * It behaves like LCS where the plugin can tell: the three routes and their
 * bodies, a register body validated like LCS's pydantic model (unknown fields,
 * wrong types, a non-JSON content type: 422 with FastAPI's `detail` list, and a
 * `schemaViolations` entry), 409 for a name LCS already knows (config or API),
 * 403 for deleting a config server, both delete dialects (PR #1330: 200
 * `{name, message}` / 404; 2026-05 and later: 200 `{name, deleted, response}`),
 * the bearer token check (401, or 403 for a token LCS does not accept), 404 /
 * 405 for routes it does not have, and forgetting every API server on restart.
 * It fails on demand: down, slow, hanging, or any status.
 */

export type LightspeedStackDeleteDialect = 'pr1330' | '2026-05';

/** A server as LCS holds it. */
export interface LightspeedStackServer {
  name: string;
  url: string;
  provider_id: string;
  /** As registered; absent when the body had none (or null). */
  authorization_headers?: Record<string, string>;
  headers?: string[];
  timeout?: number;
  source: 'config' | 'api';
}

/** A server from LCS's own config (`mcp_servers` in its YAML). */
export interface LightspeedStackConfigServer {
  name: string;
  url: string;
  /** Default: `model-context-protocol`. */
  provider_id?: string;
}

/** A server registered through LCS's API, e.g. by someone else. */
export type LightspeedStackApiServer = Omit<
  LightspeedStackServer,
  'provider_id' | 'source'
> & {
  /** Default: `model-context-protocol`. */
  provider_id?: string;
};

export interface LightspeedStackStandInOptions extends StandInServerOptions {
  /**
   * The answer to a token that is present but not the expected one: 401, or
   * 403 as LCS's Kubernetes authentication gives. A missing or non-Bearer
   * header is always 401. Default: 401.
   */
  authFailureStatus?: 401 | 403;
  /** How DELETE answers. Default: `2026-05`. */
  deleteDialect?: LightspeedStackDeleteDialect;
  /** Servers from LCS's config: listed first, not deletable, kept on restart. */
  configServers?: LightspeedStackConfigServer[];
}

/** One entry of FastAPI's 422 `detail` list. */
interface ValidationProblem {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

const ROUTE = '/v1/mcp-servers';
const DEFAULT_PROVIDER_ID = 'model-context-protocol';
const REGISTER_FIELDS = [
  'name',
  'url',
  'provider_id',
  'authorization_headers',
  'headers',
  'timeout',
];
const AUTHORIZATION_KEYWORDS = ['client', 'kubernetes', 'oauth'];
const NAME_MAX_LENGTH = 256;

export class LightspeedStackStandIn extends StandInServer {
  /**
   * What LCS knows, by name: config servers (in config order), then API
   * servers (in registration order). Tests may read or change it.
   */
  readonly servers = new Map<string, LightspeedStackServer>();
  /** How DELETE answers; tests may switch it. */
  deleteDialect: LightspeedStackDeleteDialect;

  private readonly authFailureStatus: 401 | 403;
  private readonly configServers: LightspeedStackServer[];

  private constructor(options: LightspeedStackStandInOptions) {
    super(options);
    this.authFailureStatus = options.authFailureStatus ?? 401;
    this.deleteDialect = options.deleteDialect ?? '2026-05';
    this.configServers = (options.configServers ?? []).map(server => ({
      name: server.name,
      url: server.url,
      provider_id: server.provider_id ?? DEFAULT_PROVIDER_ID,
      source: 'config',
    }));
    const names = new Set(this.configServers.map(s => s.name));
    if (names.size !== this.configServers.length) {
      throw new Error('configServers: names must be unique');
    }
    this.loadServers([]);
  }

  static async start(
    options: LightspeedStackStandInOptions = {},
  ): Promise<LightspeedStackStandIn> {
    const standIn = new LightspeedStackStandIn(options);
    await standIn.listen();
    return standIn;
  }

  /**
   * Adds an API server as if someone had registered it through LCS's API.
   * Throws for the name of a config server (LCS would answer 409).
   */
  addApiServer(server: LightspeedStackApiServer): void {
    if (this.servers.get(server.name)?.source === 'config') {
      throw new Error(`'${server.name}' is a config server of LCS`);
    }
    this.servers.set(server.name, {
      ...server,
      provider_id: server.provider_id ?? DEFAULT_PROVIDER_ID,
      source: 'api',
    });
  }

  /**
   * Restarts LCS on the same port: stops it if it runs (dropping open
   * connections), reloads the config servers and forgets every API server,
   * since LCS keeps them in memory only; `keepApiServers` keeps them instead.
   */
  override async restart(
    options: { keepApiServers?: boolean } = {},
  ): Promise<void> {
    if (this.listening) {
      await this.stop();
    }
    this.loadServers(
      options.keepApiServers
        ? [...this.servers.values()].filter(s => s.source === 'api')
        : [],
    );
    await super.restart();
  }

  protected override route(
    method: string,
    url: URL,
    body: unknown,
    res: http.ServerResponse,
    req: http.IncomingMessage,
  ): void {
    if (url.pathname === ROUTE) {
      if (method === 'GET') {
        this.list(res);
      } else if (method === 'POST') {
        this.register(body, req, res);
      } else {
        send(res, 405, { detail: 'Method Not Allowed' });
      }
      return;
    }
    if (url.pathname.startsWith(`${ROUTE}/`)) {
      // Starlette matches the decoded path: an encoded slash makes it another
      // (unknown) route.
      const name = decodePathSegment(url.pathname.slice(ROUTE.length + 1));
      if (name === '' || name.includes('/')) {
        send(res, 404, { detail: 'Not Found' });
      } else if (method === 'DELETE') {
        this.unregister(name, res);
      } else {
        send(res, 405, { detail: 'Method Not Allowed' });
      }
      return;
    }
    send(res, 404, { detail: 'Not Found' });
  }

  protected override sendError(
    res: http.ServerResponse,
    status: number,
    text: string,
  ): void {
    send(res, status, {
      detail: { response: text, cause: 'Injected by the LCS stand-in' },
    });
  }

  /** FastAPI refuses a JSON body it cannot parse before anything else. */
  protected override answerUnreadableBody(
    method: string,
    url: URL,
    res: http.ServerResponse,
    req: http.IncomingMessage,
  ): boolean {
    const contentType = req.headers['content-type'];
    if (
      method !== 'POST' ||
      url.pathname !== ROUTE ||
      (contentType !== undefined && !isJsonMediaType(contentType))
    ) {
      return false;
    }
    this.refuse(res, [
      {
        type: 'json_invalid',
        loc: ['body', 0],
        msg: 'JSON decode error',
        input: {},
        ctx: { error: 'Expecting value' },
      },
    ]);
    return true;
  }

  protected override answerUnauthorized(
    res: http.ServerResponse,
    authorization: string | undefined,
  ): void {
    if (authorization === undefined) {
      send(res, 401, { detail: 'No Authorization header found' });
    } else if (!/^Bearer \S/.test(authorization)) {
      send(res, 401, { detail: 'No token found in Authorization header' });
    } else if (this.authFailureStatus === 403) {
      send(res, 403, { detail: 'Forbidden: the token is not accepted' });
    } else {
      send(res, 401, { detail: 'Invalid or expired token' });
    }
  }

  private loadServers(apiServers: LightspeedStackServer[]): void {
    this.servers.clear();
    for (const server of [...this.configServers, ...apiServers]) {
      if (!this.servers.has(server.name)) {
        this.servers.set(server.name, { ...server });
      }
    }
  }

  private list(res: http.ServerResponse): void {
    const all = [...this.servers.values()];
    const servers = [
      ...all.filter(s => s.source === 'config'),
      ...all.filter(s => s.source === 'api'),
    ].map(s => ({
      name: s.name,
      url: s.url,
      provider_id: s.provider_id,
      source: s.source,
    }));
    send(res, 200, { servers });
  }

  private register(
    body: unknown,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    const contentType = req.headers['content-type'];
    const problems =
      contentType !== undefined && !isJsonMediaType(contentType)
        ? [notAnObject(body ?? null)]
        : validateRegistration(body);
    if (problems.length > 0) {
      this.refuse(res, problems);
      return;
    }
    const request = body as Record<string, unknown>;
    const name = request.name as string;
    if (this.servers.has(name)) {
      send(res, 409, {
        detail: {
          response: 'Mcp Server already exists',
          cause: `Mcp Server with name '${name}' is already registered`,
        },
      });
      return;
    }
    const server: LightspeedStackServer = {
      name,
      url: request.url as string,
      provider_id: (request.provider_id as string) ?? DEFAULT_PROVIDER_ID,
      source: 'api',
    };
    if (request.authorization_headers != null) {
      server.authorization_headers = {
        ...(request.authorization_headers as Record<string, string>),
      };
    }
    if (request.headers != null) {
      server.headers = [...(request.headers as string[])];
    }
    if (request.timeout != null) {
      server.timeout = request.timeout as number;
    }
    this.servers.set(name, server);
    send(res, 201, {
      name: server.name,
      url: server.url,
      provider_id: server.provider_id,
      message: `MCP server '${name}' registered successfully`,
    });
  }

  private unregister(name: string, res: http.ServerResponse): void {
    const server = this.servers.get(name);
    if (server?.source === 'config') {
      send(res, 403, {
        detail: {
          response: 'Cannot delete statically configured MCP server',
          cause: `MCP server '${name}' is defined in configuration and cannot be removed via the API.`,
        },
      });
      return;
    }
    if (server) {
      this.servers.delete(name);
    }
    if (this.deleteDialect === '2026-05') {
      send(res, 200, {
        name,
        deleted: Boolean(server),
        response: server
          ? 'MCP server deleted successfully'
          : 'MCP server not found',
      });
    } else if (server) {
      send(res, 200, {
        name,
        message: `MCP server '${name}' unregistered successfully`,
      });
    } else {
      send(res, 404, {
        detail: {
          response: 'Mcp Server not found',
          cause: `Mcp Server with ID ${name} does not exist`,
        },
      });
    }
  }

  private refuse(res: http.ServerResponse, problems: ValidationProblem[]) {
    this.schemaViolations.push(
      `POST ${ROUTE}: ${problems
        .map(p => `${p.loc.join('.')} ${p.msg}`)
        .join('; ')}`,
    );
    send(res, 422, { detail: problems });
  }
}

/**
 * The checks of LCS's `MCPServerRegistrationRequest` (pydantic, extra fields
 * forbidden), without pydantic's lax coercions ("30" for 30): a correct client
 * sends proper JSON types.
 */
function validateRegistration(body: unknown): ValidationProblem[] {
  if (body === undefined) {
    return [
      { type: 'missing', loc: ['body'], msg: 'Field required', input: null },
    ];
  }
  if (!isPlainObject(body)) {
    return [notAnObject(body)];
  }
  const problems: ValidationProblem[] = [];
  const at = (field: string | number, ...rest: Array<string | number>) => [
    'body',
    field,
    ...rest,
  ];

  if (!('name' in body)) {
    problems.push(missing('name', body));
  } else if (typeof body.name !== 'string') {
    problems.push(notAString(at('name'), body.name));
  } else if (body.name.length < 1) {
    problems.push({
      type: 'string_too_short',
      loc: at('name'),
      msg: 'String should have at least 1 character',
      input: body.name,
      ctx: { min_length: 1 },
    });
  } else if (body.name.length > NAME_MAX_LENGTH) {
    problems.push({
      type: 'string_too_long',
      loc: at('name'),
      msg: `String should have at most ${NAME_MAX_LENGTH} characters`,
      input: body.name,
      ctx: { max_length: NAME_MAX_LENGTH },
    });
  }

  if (!('url' in body)) {
    problems.push(missing('url', body));
  } else if (typeof body.url !== 'string') {
    problems.push(notAString(at('url'), body.url));
  } else if (!/^https?:\/\//.test(body.url)) {
    problems.push(
      valueError(
        at('url'),
        body.url,
        'URL must use http:// or https:// scheme',
      ),
    );
  }

  if ('provider_id' in body && typeof body.provider_id !== 'string') {
    problems.push(notAString(at('provider_id'), body.provider_id));
  }

  const authorizationHeaders = body.authorization_headers;
  if (authorizationHeaders != null) {
    if (!isPlainObject(authorizationHeaders)) {
      problems.push({
        type: 'dict_type',
        loc: at('authorization_headers'),
        msg: 'Input should be a valid dictionary',
        input: authorizationHeaders,
      });
    } else {
      const entries = Object.entries(authorizationHeaders);
      const typeProblems = entries
        .filter(([, value]) => typeof value !== 'string')
        .map(([key, value]) =>
          notAString(at('authorization_headers', key), value),
        );
      problems.push(...typeProblems);
      const unsupported = entries.find(
        ([, value]) =>
          typeof value === 'string' &&
          !AUTHORIZATION_KEYWORDS.includes(value.trim()),
      );
      if (typeProblems.length === 0 && unsupported) {
        const [key, value] = unsupported as [string, string];
        problems.push(
          valueError(
            at('authorization_headers'),
            authorizationHeaders,
            `Authorization header '${key}' has unsupported value '${value.trim()}'. ` +
              `Dynamic registration only supports: ${AUTHORIZATION_KEYWORDS.join(', ')}. ` +
              'File-path based secrets are only supported in static YAML config.',
          ),
        );
      }
    }
  }

  const headers = body.headers;
  if (headers != null) {
    if (!Array.isArray(headers)) {
      problems.push({
        type: 'list_type',
        loc: at('headers'),
        msg: 'Input should be a valid list',
        input: headers,
      });
    } else {
      headers.forEach((header, index) => {
        if (typeof header !== 'string') {
          problems.push(notAString(at('headers', index), header));
        }
      });
    }
  }

  const timeout = body.timeout;
  if (timeout != null) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout)) {
      problems.push({
        type: 'int_type',
        loc: at('timeout'),
        msg: 'Input should be a valid integer',
        input: timeout,
      });
    } else if (timeout <= 0) {
      problems.push({
        type: 'greater_than',
        loc: at('timeout'),
        msg: 'Input should be greater than 0',
        input: timeout,
        ctx: { gt: 0 },
      });
    }
  }

  for (const [key, value] of Object.entries(body)) {
    if (!REGISTER_FIELDS.includes(key)) {
      problems.push({
        type: 'extra_forbidden',
        loc: at(key),
        msg: 'Extra inputs are not permitted',
        input: value,
      });
    }
  }
  return problems;
}

function missing(
  field: string,
  body: Record<string, unknown>,
): ValidationProblem {
  return {
    type: 'missing',
    loc: ['body', field],
    msg: 'Field required',
    input: body,
  };
}

function notAString(
  loc: Array<string | number>,
  input: unknown,
): ValidationProblem {
  return {
    type: 'string_type',
    loc,
    msg: 'Input should be a valid string',
    input,
  };
}

function notAnObject(input: unknown): ValidationProblem {
  return {
    type: 'model_attributes_type',
    loc: ['body'],
    msg: 'Input should be a valid dictionary or object to extract fields from',
    input,
  };
}

function valueError(
  loc: Array<string | number>,
  input: unknown,
  message: string,
): ValidationProblem {
  return {
    type: 'value_error',
    loc,
    msg: `Value error, ${message}`,
    input,
    ctx: { error: {} },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `application/json` or `application/*+json`, as FastAPI reads JSON. */
function isJsonMediaType(contentType: string): boolean {
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[^/]+\+json$/.test(type);
}

/** Like Python's `unquote`: a malformed escape stays as it is. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

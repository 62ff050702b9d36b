import {
  AuditorService,
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  ConditionalPolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import express, { NextFunction, Request, Response } from 'express';
import Router from 'express-promise-router';
import { PayloadTooLargeError } from './errors';
import { parseMcpHeaders, toMcpTools } from './mcpTools';
import {
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerRegisterPermission,
  mcpServerUpdatePermission,
} from './permissions';
import { ServerCondition } from './rules';
import { McpServerService } from './service/McpServerService';
import { CheckResult, LastCheck, McpServer } from './types';
import { parseName, parsePatchRequest, parseRegisterRequest } from './validation';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface RouterOptions {
  service: McpServerService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  /** Turns a conditional decision into a database filter and an in-memory test. */
  toCondition(decision: ConditionalPolicyDecision): ServerCondition;
  defaultProviderId: string;
}

export function createRouter(options: RouterOptions): express.Router {
  const { service, httpAuth, permissions, auditor, toCondition, defaultProviderId } = options;
  const router = Router();

  function credentialsOf(req: Request): Promise<BackstageCredentials> {
    return httpAuth.credentials(req, { allow: ['user', 'service'] });
  }

  /** Throws 403 unless the permission is granted outright. */
  async function authorize(credentials: BackstageCredentials, permission: BasicPermission): Promise<void> {
    const [decision] = await permissions.authorize([{ permission }], { credentials });
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(`Permission '${permission.name}' is not granted`);
    }
  }

  /** Throws 403 when denied; resolves the condition to apply, or undefined when everything is allowed. */
  async function authorizeConditional(
    credentials: BackstageCredentials,
    permission: ResourcePermission,
  ): Promise<ServerCondition | undefined> {
    const [decision] = await permissions.authorizeConditional([{ permission }], { credentials });
    if (decision.result === AuthorizeResult.DENY) {
      throw new NotAllowedError(`Permission '${permission.name}' is not granted`);
    }
    return decision.result === AuthorizeResult.CONDITIONAL ? toCondition(decision) : undefined;
  }

  /**
   * Records the operation with the auditor, allowed or denied, succeeded or failed. `meta` gets the
   * server name once it is known, and a failure its reason: the plugin's own fixed message, or a
   * generic one for anything unexpected, whose text (a driver's SQL, another service's answer) may
   * carry what an audit trail must not. The error middleware still logs those in full.
   */
  async function audited(req: Request, eventId: string, work: (meta: JsonObject) => Promise<void>) {
    const meta: JsonObject = {};
    const event = await auditor.createEvent({ eventId, severityLevel: 'medium', request: req });
    try {
      await work(meta);
    } catch (error) {
      const reported = isPluginError(error) ? error : new Error('An internal error occurred');
      await event.fail({ error: reported, meta: { ...meta, reason: reported.message } });
      throw error;
    }
    await event.success({ meta });
  }

  router.post('/v1/mcp-servers', (req, res) =>
    audited(req, 'mcp-server-register', async meta => {
      const { spec, check } = parseRegisterRequest(await readJsonBody(req, res), defaultProviderId);
      meta.name = spec.name;
      const credentials = await credentialsOf(req);
      await authorize(credentials, mcpServerRegisterPermission);
      const server = await service.register(spec, principalRef(credentials), { check });
      res.status(201).json({ ...toWire(server), message: `MCP server '${server.name}' registered successfully` });
    }),
  );

  router.get('/v1/mcp-servers', async (req, res) => {
    const page = parsePage(req.query);
    const condition = await authorizeConditional(await credentialsOf(req), mcpServerListPermission);
    if (!page) {
      // Without `limit`, the whole list, as clients of lightspeed-stack's API expect.
      res.json({ servers: (await service.list(condition)).map(toWire) });
      return;
    }
    const { servers, nextCursor } = await service.listPage(condition, page.limit, page.cursor);
    res.json({ servers: servers.map(toWire), ...(nextCursor && { next_cursor: nextCursor }) });
  });

  router.get('/v1/mcp-tools', async (req, res) => {
    const mcpHeaders = parseMcpHeaders(req.headers['mcp-headers']);
    const condition = await authorizeConditional(await credentialsOf(req), mcpServerListPermission);
    // A server whose register is still under way is not offered yet.
    const servers = (await service.list(condition)).filter(server => server.status !== 'pending');
    res.json(toMcpTools(servers, mcpHeaders, req.headers));
  });

  router.get('/v1/mcp-servers/:name', async (req, res) => {
    const name = parseName(req.params.name);
    const condition = await authorizeConditional(await credentialsOf(req), mcpServerListPermission);
    res.json(toWire(await service.visible(name, condition)));
  });

  router.get('/v1/mcp-servers/:name/tools', async (req, res) => {
    const name = parseName(req.params.name);
    const condition = await authorizeConditional(await credentialsOf(req), mcpServerListPermission);
    res.json({ tools: await service.tools(name, condition) });
  });

  // Audited: the plugin connects out on the caller's behalf, and keeps the result.
  router.post('/v1/mcp-servers/:name/check', (req, res) =>
    audited(req, 'mcp-server-check', async meta => {
      const name = parseName(req.params.name);
      meta.name = name;
      const condition = await authorizeConditional(await credentialsOf(req), mcpServerListPermission);
      const result = await service.check(name, condition);
      meta.status = result.status;
      res.json(checkToWire(result));
    }),
  );

  router.patch('/v1/mcp-servers/:name', (req, res) =>
    audited(req, 'mcp-server-update', async meta => {
      const name = parseName(req.params.name);
      meta.name = name;
      const patch = parsePatchRequest(await readJsonBody(req, res));
      meta.fields = Object.keys(patch);
      const condition = await authorizeConditional(await credentialsOf(req), mcpServerUpdatePermission);
      const server = await service.update(name, patch, condition);
      res.json({ ...toWire(server), message: `MCP server '${name}' updated successfully` });
    }),
  );

  router.delete('/v1/mcp-servers/:name', (req, res) =>
    audited(req, 'mcp-server-delete', async meta => {
      const name = parseName(req.params.name);
      meta.name = name;
      const condition = await authorizeConditional(await credentialsOf(req), mcpServerDeletePermission);
      await service.delete(name, condition);
      res.json({ name, message: `MCP server '${name}' unregistered successfully` });
    }),
  );

  // Express fails to decode a path like /v1/mcp-servers/%E0%A4%A with a URIError of its own.
  router.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    next(error instanceof URIError ? new InputError("Invalid MCP server name: 'name' is not valid URL encoding") : error);
  });

  return router;
}

const parseJson = express.json({ limit: BODY_LIMIT_BYTES });

/** express.json, with the plugin's own messages in place of body-parser's. */
async function readJsonBody(req: Request, res: Response): Promise<unknown> {
  // express.json skips other content types and leaves `{}`, which would read as "'name' is missing".
  if (!req.is('application/json')) {
    throw new InputError('Request body must be a JSON object sent as Content-Type: application/json');
  }
  await new Promise<void>((resolve, reject) => {
    parseJson(req, res, (error?: unknown) => {
      const status = (error as { status?: number } | undefined)?.status;
      if (status === 413) {
        reject(new PayloadTooLargeError(`Request body must be at most ${BODY_LIMIT_BYTES / 1024} KiB`));
      } else if (status === 400) {
        // body-parser's strict mode also lands here for valid JSON that is not an object or array.
        reject(new InputError('Request body must be a JSON object'));
      } else if (error) {
        reject(error);
      } else {
        resolve();
      }
    });
  });
  return req.body;
}

export const MAX_PAGE_SIZE = 10_000;

function parsePage(query: Request['query']): { limit: number; cursor?: string } | undefined {
  const { limit, cursor } = query;
  if (limit === undefined) {
    if (cursor !== undefined) {
      throw new InputError("'cursor' needs 'limit'");
    }
    return undefined;
  }
  if (typeof limit !== 'string' || !/^\d{1,5}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE_SIZE) {
    throw new InputError(`'limit' must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  if (cursor !== undefined && typeof cursor !== 'string') {
    throw new InputError("'cursor' must be given once");
  }
  return { limit: Number(limit), cursor };
}

/** The errors whose messages are fixed texts of the plugin (or of Backstage's request handling). */
const PLUGIN_ERROR_NAMES = new Set([
  'InputError',
  'AuthenticationError',
  'NotAllowedError',
  'NotFoundError',
  'ConflictError',
  'ServiceUnavailableError',
  'BadGatewayError',
  'PayloadTooLargeError',
]);

function isPluginError(error: unknown): error is Error {
  return error instanceof Error && PLUGIN_ERROR_NAMES.has(error.name);
}

/** Who registered a server: the user's entity ref, or the calling service's subject. */
function principalRef(credentials: BackstageCredentials): string {
  const principal = credentials.principal as { type: string; userEntityRef?: string; subject?: string };
  return principal.userEntityRef ?? principal.subject ?? principal.type;
}

/** The snake_case wire format of lightspeed-stack's /v1/mcp-servers. */
function toWire(server: McpServer) {
  // Plain assignments: this runs once per server of a list, up to tens of thousands per request.
  const wire: Record<string, unknown> = {
    name: server.name,
    url: server.url,
    provider_id: server.providerId,
    source: server.source,
    status: server.status,
  };
  if (server.statusMessage) {
    wire.status_message = server.statusMessage;
  }
  if (server.authorizationHeaders) {
    wire.authorization_headers = server.authorizationHeaders;
  }
  if (server.headers) {
    wire.headers = server.headers;
  }
  if (server.timeout !== undefined) {
    wire.timeout = server.timeout;
  }
  if (server.createdBy) {
    wire.created_by = server.createdBy;
  }
  if (server.createdAt) {
    wire.created_at = server.createdAt;
  }
  if (server.lastCheck) {
    wire.last_check = checkToWire(server.lastCheck);
  }
  return wire;
}

function checkToWire(check: LastCheck | CheckResult) {
  return {
    status: check.status,
    tool_count: check.toolCount,
    ...('tools' in check && { tools: check.tools }),
    checked_at: check.checkedAt,
    message: check.message,
  };
}

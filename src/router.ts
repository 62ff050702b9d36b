import {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult, BasicPermission } from '@backstage/plugin-permission-common';
import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import Router from 'express-promise-router';
import { PayloadTooLargeError } from './errors';
import { mcpServerDeletePermission, mcpServerListPermission, mcpServerRegisterPermission } from './permissions';
import { McpServerService } from './service/McpServerService';
import { McpServer } from './types';
import { parseName, parseRegisterRequest } from './validation';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface RouterOptions {
  service: McpServerService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  defaultProviderId: string;
}

export function createRouter(options: RouterOptions): express.Router {
  const { service, httpAuth, permissions, defaultProviderId } = options;
  const router = Router();

  /** Resolves the caller, or throws 403 when the permission is not granted outright. */
  async function authorize(req: Request, permission: BasicPermission): Promise<BackstageCredentials> {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const [decision] = await permissions.authorize([{ permission }], { credentials });
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(`Permission '${permission.name}' is not granted`);
    }
    return credentials;
  }

  router.post('/v1/mcp-servers', jsonBody, async (req, res) => {
    const spec = parseRegisterRequest(req.body, defaultProviderId);
    const credentials = await authorize(req, mcpServerRegisterPermission);
    const server = await service.register(spec, principalRef(credentials));
    res.status(201).json({ ...toWire(server), message: `MCP server '${server.name}' registered successfully` });
  });

  router.get('/v1/mcp-servers', async (req, res) => {
    await authorize(req, mcpServerListPermission);
    const servers = await service.list();
    res.json({ servers: servers.map(toWire) });
  });

  router.delete('/v1/mcp-servers/:name', async (req, res) => {
    const name = parseName(req.params.name);
    await authorize(req, mcpServerDeletePermission);
    await service.delete(name);
    res.json({ name, message: `MCP server '${name}' unregistered successfully` });
  });

  // Express fails to decode a path like /v1/mcp-servers/%E0%A4%A with a URIError of its own.
  router.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    next(error instanceof URIError ? new InputError("Invalid MCP server name: 'name' is not valid URL encoding") : error);
  });

  return router;
}

const parseJson = express.json({ limit: BODY_LIMIT_BYTES });

/** express.json with the plugin's own messages in place of body-parser's. */
const jsonBody: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  // express.json skips other content types and leaves `{}`, which would read as "'name' is missing".
  if (!req.is('application/json')) {
    next(new InputError('Request body must be a JSON object sent as Content-Type: application/json'));
    return;
  }
  parseJson(req, res, (error?: unknown) => {
    const status = (error as { status?: number } | undefined)?.status;
    if (status === 413) {
      next(new PayloadTooLargeError(`Request body must be at most ${BODY_LIMIT_BYTES / 1024} KiB`));
    } else if (status === 400) {
      // body-parser's strict mode also lands here for valid JSON that is not an object or array.
      next(new InputError('Request body must be a JSON object'));
    } else {
      next(error);
    }
  });
};

/** Who registered a server: the user's entity ref, or the calling service's subject. */
function principalRef(credentials: BackstageCredentials): string {
  const principal = credentials.principal as { type: string; userEntityRef?: string; subject?: string };
  return principal.userEntityRef ?? principal.subject ?? principal.type;
}

/** The snake_case wire format of lightspeed-stack's /v1/mcp-servers. */
function toWire(server: McpServer) {
  return {
    name: server.name,
    url: server.url,
    provider_id: server.providerId,
    source: server.source,
    ...(server.authorizationHeaders && { authorization_headers: server.authorizationHeaders }),
    ...(server.headers && { headers: server.headers }),
    ...(server.timeout !== undefined && { timeout: server.timeout }),
    ...(server.createdBy && { created_by: server.createdBy }),
    ...(server.createdAt && { created_at: server.createdAt }),
  };
}

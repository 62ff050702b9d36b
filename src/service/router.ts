import { HttpAuthService } from '@backstage/backend-plugin-api';
import express, { NextFunction, Request, Response } from 'express';
import Router from 'express-promise-router';
import {
  AuthorizedMcpServerService,
  CallOptions,
} from '../authorized/AuthorizedMcpServerService';
import { AuthorizedUserSettingsService } from '../authorized/AuthorizedUserSettingsService';
import { spec } from '../schema/openapi.generated';
import { parseMcpHeaders, toMcpTools } from './mcpTools';
import { parsePage, readJsonBody, withNameDecodingError } from './request';
import { checkToWire, toWire } from './response';

export interface RouterOptions {
  mcpServers: AuthorizedMcpServerService;
  userSettings: AuthorizedUserSettingsService;
  httpAuth: HttpAuthService;
}

/**
 * HTTP only: each route parses its request, calls the authorized layer and maps
 * the answer.
 */
export function createRouter({
  mcpServers,
  userSettings,
  httpAuth,
}: RouterOptions): express.Router {
  const router = Router();

  async function caller(req: Request): Promise<CallOptions> {
    return {
      credentials: await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      }),
      request: req,
    };
  }

  /**
   * The API document; public, like the permission metadata (see the auth policy
   * in plugin.ts).
   */
  router.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });

  router.post('/v1/mcp-servers', async (req, res) => {
    const body = await readJsonBody(req, res);
    const server = await mcpServers.register(body, await caller(req));
    res.status(201).json({
      ...toWire(server),
      message: `MCP server '${server.name}' registered successfully`,
    });
  });

  router.get('/v1/mcp-servers', async (req, res) => {
    const page = parsePage(req.query);
    if (!page) {
      // Without `limit`, the whole list, as clients of lightspeed-stack's API
      // expect.
      res.json({
        servers: (await mcpServers.list(await caller(req))).map(toWire),
      });
      return;
    }
    const { servers, nextCursor } = await mcpServers.listPage(
      page,
      await caller(req),
    );
    res.json({
      servers: servers.map(toWire),
      ...(nextCursor && { next_cursor: nextCursor }),
    });
  });

  router.get('/v1/mcp-tools', async (req, res) => {
    const mcpHeaders = parseMcpHeaders(req.headers['mcp-headers']);
    const { servers, tokens } = await userSettings.chatServers(
      await caller(req),
    );
    res.json(toMcpTools(servers, mcpHeaders, req.headers, tokens));
  });

  // Called on every chat question by a plugin acting for the user.
  router.get('/v1/mcp-headers', async (req, res) => {
    res.json(await userSettings.mcpHeaders(await caller(req)));
  });

  router.get('/v1/mcp-servers/:name', async (req, res) => {
    res.json(toWire(await mcpServers.get(req.params.name, await caller(req))));
  });

  router.get('/v1/mcp-servers/:name/tools', async (req, res) => {
    res.json({
      tools: await mcpServers.tools(req.params.name, await caller(req)),
    });
  });

  router.post('/v1/mcp-servers/:name/check', async (req, res) => {
    res.json(
      checkToWire(await mcpServers.check(req.params.name, await caller(req))),
    );
  });

  router.patch('/v1/mcp-servers/:name', async (req, res) => {
    const body = await readJsonBody(req, res);
    const server = await mcpServers.update(
      req.params.name,
      body,
      await caller(req),
    );
    res.json({
      ...toWire(server),
      message: `MCP server '${server.name}' updated successfully`,
    });
  });

  router.delete('/v1/mcp-servers/:name', async (req, res) => {
    const name = await mcpServers.delete(req.params.name, await caller(req));
    res.json({
      name,
      message: `MCP server '${name}' unregistered successfully`,
    });
  });

  router.use(
    (error: unknown, _req: Request, _res: Response, next: NextFunction) => {
      next(withNameDecodingError(error));
    },
  );

  return router;
}

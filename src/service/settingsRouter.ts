import { HttpAuthService, LoggerService } from '@backstage/backend-plugin-api';
import express, { NextFunction, Request, Response } from 'express';
import Router from 'express-promise-router';
import { CallOptions } from '../authorized/AccessGuard';
import { AuthorizedUserSettingsService } from '../authorized/AuthorizedUserSettingsService';
import { pluginErrorStatus } from '../mcpServers/errors';
import { readJsonBody, withNameDecodingError } from './request';

export interface SettingsRouterOptions {
  userSettings: AuthorizedUserSettingsService;
  httpAuth: HttpAuthService;
  logger: LoggerService;
}

/**
 * The routes RHDH's Lightspeed settings page calls (CONTRACT §8), for the
 * signed-in user: camelCase, and errors as `{ "error": "<message>" }`, the
 * shape that page reads.
 */
export function createSettingsRouter({
  userSettings,
  httpAuth,
  logger,
}: SettingsRouterOptions): express.Router {
  const router = Router();

  async function user(req: Request): Promise<CallOptions> {
    return {
      credentials: await httpAuth.credentials(req, { allow: ['user'] }),
      request: req,
    };
  }

  router.get('/mcp-servers', async (req, res) => {
    res.json({ servers: await userSettings.listServers(await user(req)) });
  });

  // Before /mcp-servers/:name/validate would take "validate" for a name.
  router.post('/mcp-servers/validate', async (req, res) => {
    const body = await readJsonBody(req, res);
    res.json(await userSettings.validateUrl(body, await user(req)));
  });

  router.post('/mcp-servers/:name/validate', async (req, res) => {
    res.json(await userSettings.validate(req.params.name, await user(req)));
  });

  router.patch('/mcp-servers/:name', async (req, res) => {
    const body = await readJsonBody(req, res);
    res.json(await userSettings.update(req.params.name, body, await user(req)));
  });

  router.use(
    '/mcp-servers',
    (raw: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) {
        next(raw);
        return;
      }
      const error = withNameDecodingError(raw);
      // body-parser's own 4xx (an unreadable charset or encoding: 415).
      const parserStatus = (error as { status?: number } | undefined)?.status;
      const status =
        pluginErrorStatus(error) ??
        (parserStatus && parserStatus >= 400 && parserStatus < 500
          ? parserStatus
          : undefined);
      if (status) {
        res.status(status).json({ error: (error as Error).message });
        return;
      }
      logger.error('Settings request failed', error as Error);
      res.status(500).json({ error: 'An internal error occurred' });
    },
  );

  return router;
}

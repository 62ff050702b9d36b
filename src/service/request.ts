import { InputError } from '@backstage/errors';
import express, { Request, Response } from 'express';
import { PayloadTooLargeError } from './errors';

export const BODY_LIMIT_BYTES = 64 * 1024;
export const MAX_PAGE_SIZE = 10_000;

const parseJson = express.json({ limit: BODY_LIMIT_BYTES });

/** express.json, with the plugin's own messages in place of body-parser's. */
export async function readJsonBody(
  req: Request,
  res: Response,
): Promise<unknown> {
  // express.json skips other content types and leaves `{}`, which would read as
  // "'name' is missing".
  if (!req.is('application/json')) {
    throw new InputError(
      'Request body must be a JSON object sent as Content-Type: application/json',
    );
  }
  await new Promise<void>((resolve, reject) => {
    parseJson(req, res, (error?: unknown) => {
      const status = (error as { status?: number } | undefined)?.status;
      if (status === 413) {
        reject(
          new PayloadTooLargeError(
            `Request body must be at most ${BODY_LIMIT_BYTES / 1024} KiB`,
          ),
        );
      } else if (status === 400) {
        // body-parser's strict mode also lands here for valid JSON that is not
        // an object or array.
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

/**
 * Express fails to decode a path like /mcp-servers/%E0%A4%A with a URIError of
 * its own: the caller's mistake, answered as such.
 */
export function withNameDecodingError(error: unknown): unknown {
  return error instanceof URIError
    ? new InputError(
        "Invalid MCP server name: 'name' is not valid URL encoding",
      )
    : error;
}

/**
 * `?limit=N&cursor=C`; undefined without `limit`, which asks for the whole
 * list.
 */
export function parsePage(
  query: Request['query'],
): { limit: number; cursor?: string } | undefined {
  const { limit, cursor } = query;
  if (limit === undefined) {
    if (cursor !== undefined) {
      throw new InputError("'cursor' needs 'limit'");
    }
    return undefined;
  }
  if (
    typeof limit !== 'string' ||
    !/^\d{1,5}$/.test(limit) ||
    Number(limit) < 1 ||
    Number(limit) > MAX_PAGE_SIZE
  ) {
    throw new InputError(
      `'limit' must be a whole number from 1 to ${MAX_PAGE_SIZE}`,
    );
  }
  if (cursor !== undefined && typeof cursor !== 'string') {
    throw new InputError("'cursor' must be given once");
  }
  return { limit: Number(limit), cursor };
}

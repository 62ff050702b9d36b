import { InputError } from '@backstage/errors';
import { z } from 'zod';
import { UserSettingsPatch } from './UserSettingsService';

const MAX_TOKEN_LENGTH = 8192;
// Visible ASCII only: a token goes into an HTTP header.
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * A token as stored: without a `Bearer ` the user may have pasted with it.
 * lightspeed-stack passes MCP-HEADERS' Authorization value on to Llama Stack,
 * which adds `Bearer ` itself.
 */
function normalizedToken(value: string): string {
  return value.trim().replace(/^bearer\s+/i, '');
}

const tokenSchema = z
  .string({ message: "'token' must be a string, or null to clear it" })
  .transform(normalizedToken)
  .refine(
    value => value.length <= MAX_TOKEN_LENGTH && TOKEN_PATTERN.test(value),
    `'token' must be 1-${MAX_TOKEN_LENGTH} visible characters without spaces`,
  );

const patchSchema = z
  .object(
    {
      enabled: z
        .boolean({ message: "'enabled' must be true or false" })
        .optional(),
      token: tokenSchema.nullable().optional(),
    },
    { message: 'Request body must be a JSON object' },
  )
  .strict();

/** The body of PATCH /mcp-servers/{name}; messages never repeat a value. */
export function parseSettingsPatch(body: unknown): UserSettingsPatch {
  const result = patchSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputError(
      issue.code === 'unrecognized_keys'
        ? `Unknown field ${issue.keys.map(key => `'${key}'`).join(', ')}: only 'enabled' and 'token' can be set`
        : issue.message,
    );
  }
  if (result.data.enabled === undefined && result.data.token === undefined) {
    throw new InputError("At least one of 'enabled' or 'token' is required");
  }
  return result.data;
}

/** The body of POST /mcp-servers/validate. */
export function parseValidateUrlRequest(body: unknown): {
  url: string;
  token: string;
} {
  const { url, token } = (body ?? {}) as { url?: unknown; token?: unknown };
  if (typeof url !== 'string' || !url || typeof token !== 'string') {
    throw new InputError('url and token are required');
  }
  const parsed = tokenSchema.safeParse(token);
  if (!parsed.success) {
    throw new InputError(parsed.error.issues[0].message);
  }
  return { url, token: parsed.data };
}

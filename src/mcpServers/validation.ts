import { InputError } from '@backstage/errors';
import { z } from 'zod';
import { AUTHORIZATION_KINDS, McpServerPatch, McpServerSpec } from './types';

const NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9 ._:-]*[A-Za-z0-9._:-])?$/;
const PROVIDER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
// RFC 9110 "token": what Node's http module accepts as a header name.
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
// The WHATWG URL parser silently strips or encodes these, so the stored URL would differ from the given one.
// eslint-disable-next-line no-control-regex
const URL_FORBIDDEN_CHARACTERS = /[\s\u0000-\u001f\u007f]/;

export const nameSchema = z
  .string({ message: 'must be a string' })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(
    NAME_PATTERN,
    'must start with a letter or digit and contain only letters, digits, spaces, ".", "_", ":" and "-", and not end with a space',
  );

const urlSchema = z
  .string({ message: 'must be a string' })
  .max(2048, 'must be at most 2048 characters')
  .superRefine((value, ctx) => {
    const problem = urlProblem(value);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

function urlProblem(value: string): string | undefined {
  if (URL_FORBIDDEN_CHARACTERS.test(value)) {
    return 'must not contain whitespace or control characters';
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.username || url.password) {
    return 'must not contain a user name or password';
  }
  return undefined;
}

const headerNameSchema = z
  .string({ message: 'must be a string' })
  .regex(HEADER_NAME_PATTERN, 'must be valid HTTP header names');

function noCaseInsensitiveDuplicates(names: string[], ctx: z.RefinementCtx) {
  const seen = new Set<string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      ctx.addIssue({
        code: 'custom',
        message: `must not name '${name}' twice (header names are case-insensitive)`,
      });
      return;
    }
    seen.add(lower);
  }
}

const authorizationHeadersSchema = z
  // zod drops a `__proto__` key while building the record, which would lose the
  // header silently.
  .custom(
    value =>
      !(
        value &&
        typeof value === 'object' &&
        Object.hasOwn(value, '__proto__')
      ),
    {
      message: "must not use '__proto__' as a header name",
    },
  )
  .pipe(
    z.record(
      headerNameSchema,
      z.enum(AUTHORIZATION_KINDS, {
        message: `values must be one of ${AUTHORIZATION_KINDS.join(', ')}`,
      }),
      {
        message:
          'must be an object of header name to client, kubernetes or oauth',
      },
    ),
  )
  .refine(
    value => Object.keys(value).length <= 16,
    'must have at most 16 entries',
  )
  .superRefine((value, ctx) =>
    noCaseInsensitiveDuplicates(Object.keys(value), ctx),
  );

const headersSchema = z
  .array(headerNameSchema, { message: 'must be an array of header names' })
  .max(32, 'must have at most 32 entries')
  .superRefine(noCaseInsensitiveDuplicates);

const providerIdSchema = z
  .string({ message: 'must be a string' })
  .regex(
    PROVIDER_ID_PATTERN,
    'must be 1-128 characters of letters, digits, ".", "_", ":" and "-"',
  );

const timeoutSchema = z
  .number({ message: 'must be a number' })
  .int('must be a whole number of seconds')
  .min(1, 'must be at least 1 second')
  .max(3600, 'must be at most 3600 seconds');

/**
 * The body of POST /v1/mcp-servers, in the snake_case wire format of
 * lightspeed-stack.
 */
const registerRequestSchema = z
  .object(
    {
      name: nameSchema,
      url: urlSchema,
      provider_id: providerIdSchema.optional(),
      authorization_headers: authorizationHeadersSchema.optional(),
      headers: headersSchema.optional(),
      timeout: timeoutSchema.optional(),
      check: z.boolean({ message: 'must be true or false' }).optional(),
    },
    { message: 'must be a JSON object' },
  )
  .strict();

/**
 * The body of PATCH /v1/mcp-servers/{name}: the fields to change; null removes
 * an optional one.
 */
const patchRequestSchema = z
  .object(
    {
      url: urlSchema.optional(),
      provider_id: providerIdSchema.optional(),
      authorization_headers: authorizationHeadersSchema.nullable().optional(),
      headers: headersSchema.nullable().optional(),
      timeout: timeoutSchema.nullable().optional(),
    },
    { message: 'must be a JSON object' },
  )
  .strict();

/**
 * A static server of lightspeedMcp.mcpServers: the same rules, in app-config's
 * camelCase.
 */
const staticServerSchema = z
  .object(
    {
      name: nameSchema,
      url: urlSchema,
      providerId: providerIdSchema.optional(),
      authorizationHeaders: authorizationHeadersSchema.optional(),
      headers: headersSchema.optional(),
      timeout: timeoutSchema.optional(),
      // The organization's token for the server; never answered or synced.
      token: z
        .string({ message: 'must be a string' })
        .min(1, 'must not be empty')
        .optional(),
    },
    { message: 'must be an object' },
  )
  .strict();

/**
 * One line per problem, each naming the field, so a user can fix the input
 * without guessing.
 */
function describeIssues(error: z.ZodError, subject: string): string {
  const problems = error.issues.map(issue => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(k => `'${k}'`).join(', ')}`;
    }
    const path = issue.path.join('.');
    return path ? `'${path}' ${issue.message}` : `${subject} ${issue.message}`;
  });
  return problems.join('; ');
}

/**
 * Parses a register body, filling in the default provider, or throws an
 * InputError naming the field. `check`: whether the server must pass a
 * connection check first.
 */
export function parseRegisterRequest(
  body: unknown,
  defaultProviderId: string,
): { spec: McpServerSpec; check: boolean } {
  const result = registerRequestSchema.safeParse(body);
  if (!result.success) {
    throw new InputError(
      `Invalid MCP server: ${describeIssues(result.error, 'request body')}`,
    );
  }
  const value = result.data;
  return {
    spec: {
      name: value.name,
      url: value.url,
      providerId: value.provider_id ?? defaultProviderId,
      authorizationHeaders: value.authorization_headers,
      headers: value.headers,
      timeout: value.timeout,
    },
    check: value.check ?? false,
  };
}

/** Parses a PATCH body, or throws an InputError naming the field. */
export function parsePatchRequest(body: unknown): McpServerPatch {
  const result = patchRequestSchema.safeParse(body);
  if (!result.success) {
    throw new InputError(
      `Invalid change of MCP server: ${describeIssues(result.error, 'request body')}`,
    );
  }
  const value = result.data;
  if (Object.keys(value).length === 0) {
    throw new InputError(
      'Invalid change of MCP server: request body must change at least one of url, provider_id, ' +
        'authorization_headers, headers, timeout',
    );
  }
  const patch: McpServerPatch = {};
  // Present keys only: a key that is there with undefined removes the field,
  // one left out keeps it.
  if (value.url !== undefined) patch.url = value.url;
  if (value.provider_id !== undefined) patch.providerId = value.provider_id;
  if (value.authorization_headers !== undefined)
    patch.authorizationHeaders = value.authorization_headers ?? undefined;
  if (value.headers !== undefined) patch.headers = value.headers ?? undefined;
  if (value.timeout !== undefined) patch.timeout = value.timeout ?? undefined;
  return patch;
}

/**
 * Parses one entry of lightspeedMcp.mcpServers; `location` names the entry in
 * the error. Its org `token` is kept apart from the server, so that it cannot
 * reach an answer or the upstream.
 */
export function parseStaticServer(
  value: unknown,
  defaultProviderId: string,
  location: string,
): { spec: McpServerSpec; token?: string } {
  const result = staticServerSchema.safeParse(value);
  if (!result.success) {
    throw new InputError(
      `Invalid MCP server at ${location}: ${describeIssues(result.error, 'entry')}`,
    );
  }
  const { token, ...entry } = result.data;
  return {
    spec: { ...entry, providerId: entry.providerId ?? defaultProviderId },
    token,
  };
}

/** Validates the {name} path parameter with the same rule as the body field. */
export function parseName(name: string): string {
  const result = nameSchema.safeParse(name);
  if (!result.success) {
    throw new InputError(
      `Invalid MCP server name: 'name' ${result.error.issues[0].message}`,
    );
  }
  return result.data;
}

const namePrefixSchema = z
  .string({ message: 'must be a string' })
  .min(1, 'must not be empty; leave it out to list every server')
  .max(128, 'must be at most 128 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/,
    'must start with a letter or digit and contain only letters, digits, spaces, ".", "_", ":" and "-"',
  );

/**
 * Validates a name prefix of a list with the rules of names: the start of a
 * valid name (which may end with a space, a name's last character may not).
 */
export function parseNamePrefix(prefix: string): string {
  const result = namePrefixSchema.safeParse(prefix);
  if (!result.success) {
    throw new InputError(
      `Invalid MCP server name prefix: 'name_prefix' ${result.error.issues[0].message}`,
    );
  }
  return result.data;
}

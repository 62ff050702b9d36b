import type { z as zod } from 'zod/v3';
import {
  AUTHORIZATION_KINDS,
  CheckStatus,
  McpServerSource,
  McpServerStatus,
} from '../mcpServers/types';
import { WireCheck, WireMcpServer } from '../service/response';

/** The zod the actions registry hands to schema functions. */
export type Zod = typeof zod;

const CHECK_STATUSES: readonly [CheckStatus, ...CheckStatus[]] = [
  'ok',
  'unreachable',
  'auth_required',
  'error',
];
const SOURCES: readonly [McpServerSource, ...McpServerSource[]] = [
  'config',
  'api',
];
const STATUSES: readonly [McpServerStatus, ...McpServerStatus[]] = [
  'registered',
  'pending',
  'error',
  'stored',
];

/**
 * The wire format of the HTTP API (src/service/response.ts) as action output
 * schemas. The registry keeps only the fields named here, so nothing reaches an
 * agent that the wire format does not hold; the checks at the bottom fail the
 * build when the two drift apart.
 */
export function wireCheckSchema(z: Zod) {
  return z.object({
    status: z
      .enum(CHECK_STATUSES)
      .describe(
        'ok (initialize and tools/list answered), auth_required (the server answered 401 or 403), unreachable (no connection or no answer in time), error (anything else)',
      ),
    tool_count: z
      .number()
      .nullable()
      .describe('Number of tools; null unless status is ok'),
    tools: z
      .array(
        z.object({
          name: z.string(),
          description: z.string().optional(),
        }),
      )
      .optional()
      .describe(
        'The tools the server listed, only in the answer of a check itself',
      ),
    checked_at: z.string().describe('ISO 8601 time of the check'),
    message: z.string().describe('What the check found, in words'),
  });
}

export function wireServerSchema(z: Zod) {
  return z.object({
    name: z.string().describe('Unique name, also the Llama Stack toolgroup id'),
    url: z.string().describe('URL of the MCP server'),
    provider_id: z.string().describe('Llama Stack provider'),
    source: z
      .enum(SOURCES)
      .describe(
        'config (app-config, read-only) or api (registered at runtime)',
      ),
    status: z
      .enum(STATUSES)
      .describe(
        'registered (Llama Stack holds it), pending (registration under way or waiting for the reconciler), error (the last attempt failed, see status_message), stored (Llama Stack does not hold toolgroups)',
      ),
    status_message: z.string().optional().describe('Why the status is error'),
    authorization_headers: z
      .record(z.enum(AUTHORIZATION_KINDS))
      .optional()
      .describe(
        'Header name -> where its value comes from at query time (client, kubernetes, oauth); values are never stored or shown',
      ),
    headers: z
      .array(z.string())
      .optional()
      .describe('Names of request headers propagated at query time'),
    timeout: z.number().optional().describe('Seconds'),
    created_by: z
      .string()
      .optional()
      .describe('Entity ref of who registered it (api servers only)'),
    created_at: z.string().optional().describe('ISO 8601'),
    last_check: wireCheckSchema(z)
      .optional()
      .describe('The last connection check of its current URL, if any'),
  });
}

// Build-time checks: the schemas name exactly the wire fields, with the same
// types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type SchemaOf<F extends (z: Zod) => zod.ZodTypeAny> = zod.infer<ReturnType<F>>;

/** Does not compile when the schemas and the wire format drift apart. */
export type WireSchemasMatchWire = [
  Assert<Same<keyof SchemaOf<typeof wireServerSchema>, keyof WireMcpServer>>,
  Assert<Same<SchemaOf<typeof wireServerSchema>, WireMcpServer>>,
  Assert<Same<keyof SchemaOf<typeof wireCheckSchema>, keyof WireCheck>>,
  Assert<Same<SchemaOf<typeof wireCheckSchema>, WireCheck>>,
];

import {
  createConditionExports,
  createPermissionRule,
} from '@backstage/plugin-permission-node';
import { z } from 'zod';
import { mcpServerResourceRef } from './permissions';

/** Entity refs compare case-insensitively in Backstage. */
function sameRef(a: string, b: string) {
  return a.toLocaleLowerCase('en-US') === b.toLocaleLowerCase('en-US');
}

export const isOwner = createPermissionRule({
  name: 'IS_OWNER',
  description:
    'Allow MCP servers registered by one of the given entity refs. Servers from app-config have no owner.',
  resourceRef: mcpServerResourceRef,
  paramsSchema: z.object({
    claims: z
      .array(z.string())
      .describe(
        'Entity refs that own a server when they registered it, such as the user ref and its groups',
      ),
  }),
  apply: (server, { claims }) =>
    server.createdBy !== undefined &&
    claims.some(claim => sameRef(claim, server.createdBy!)),
  toQuery: ({ claims }) => ({ property: 'created_by', values: claims }),
});

export const hasSource = createPermissionRule({
  name: 'HAS_SOURCE',
  description:
    'Allow MCP servers from the given source: "config" (app-config) or "api" (registered at runtime)',
  resourceRef: mcpServerResourceRef,
  paramsSchema: z.object({
    source: z.enum(['config', 'api']).describe('Where the server comes from'),
  }),
  apply: (server, { source }) => server.source === source,
  toQuery: ({ source }) => ({ property: 'source', value: source }),
});

export const hasNamePrefix = createPermissionRule({
  name: 'HAS_NAME_PREFIX',
  description:
    'Allow MCP servers whose name starts with the given prefix (case-sensitive), for team namespaces',
  resourceRef: mcpServerResourceRef,
  paramsSchema: z.object({
    prefix: z
      .string()
      .min(1)
      .describe('The start of the server name, for example "team-a-"'),
  }),
  apply: (server, { prefix }) => server.name.startsWith(prefix),
  toQuery: ({ prefix }) => ({ property: 'name_prefix', value: prefix }),
});

export const mcpServerRules = { isOwner, hasSource, hasNamePrefix };

/**
 * For permission policies: `mcpServerConditions.isOwner({ claims })` and
 * friends.
 */
export const {
  conditions: mcpServerConditions,
  createConditionalDecision: createMcpServerConditionalDecision,
} = createConditionExports({
  resourceRef: mcpServerResourceRef,
  rules: mcpServerRules,
});

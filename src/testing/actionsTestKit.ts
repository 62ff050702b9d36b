import { AuditorService } from '@backstage/backend-plugin-api';
import { actionsRegistryServiceMock } from '@backstage/backend-test-utils/alpha';
import {
  AuthorizeResult,
  ConditionalPolicyDecision,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import { AuthorizedMcpServerService } from '../authorized/AuthorizedMcpServerService';
import { McpServerService } from '../mcpServers/McpServerService';
import { CheckResult, McpServer } from '../mcpServers/types';
import { ServerCondition } from '../permissions/conditions';

export interface RecordedAuditEvent {
  eventId: string;
  status: 'succeeded' | 'failed';
  meta?: JsonObject;
}

export function testServer(
  name: string,
  fields: Partial<McpServer> = {},
): McpServer {
  return {
    name,
    url: `http://${name}.example/mcp`,
    providerId: 'model-context-protocol',
    source: 'api',
    status: 'registered',
    ...fields,
  };
}

/**
 * For unit tests of the actions: the mock actions registry, and the real
 * authorized layer (validation, permission decisions, audit events) over a stub
 * of the use cases. `decide` answers every permission request; a conditional
 * decision becomes `condition`.
 */
export function createActionsTestKit(
  options: {
    decide?: (permissionName: string) => PolicyDecision;
    condition?: ServerCondition;
  } = {},
) {
  const decide =
    options.decide ??
    ((): PolicyDecision => ({ result: AuthorizeResult.ALLOW }));
  const auditEvents: RecordedAuditEvent[] = [];
  const auditor: AuditorService = {
    async createEvent({ eventId }) {
      return {
        success: async o =>
          void auditEvents.push({
            eventId,
            status: 'succeeded',
            meta: o?.meta,
          }),
        fail: async o =>
          void auditEvents.push({ eventId, status: 'failed', meta: o.meta }),
      };
    },
  };
  const permissions = {
    authorize: jest.fn(async (requests: { permission: { name: string } }[]) =>
      requests.map(r => {
        const decision = decide(r.permission.name);
        return {
          result:
            decision.result === AuthorizeResult.CONDITIONAL
              ? AuthorizeResult.DENY
              : decision.result,
        };
      }),
    ),
    authorizeConditional: jest.fn(
      async (requests: { permission: { name: string } }[]) =>
        requests.map(r => decide(r.permission.name)),
    ),
  };
  const service = {
    listPage: jest.fn(
      async (): Promise<{ servers: McpServer[]; nextCursor?: string }> => ({
        servers: [],
      }),
    ),
    visible: jest.fn(async (name: string) => testServer(name)),
    check: jest.fn(async (): Promise<CheckResult> => ({
      status: 'ok',
      toolCount: 1,
      tools: [{ name: 'search', description: 'Searches' }],
      checkedAt: '2025-01-01T00:00:00.000Z',
      message: 'The server answered initialize and tools/list',
    })),
    register: jest.fn(
      async (spec: McpServer, createdBy: string): Promise<McpServer> => ({
        ...spec,
        source: 'api',
        status: 'registered',
        createdBy,
        createdAt: '2025-01-01T00:00:00.000Z',
      }),
    ),
    delete: jest.fn(async () => undefined),
  };
  const toCondition = jest.fn(
    (_decision: ConditionalPolicyDecision): ServerCondition =>
      options.condition ?? {
        filter: { property: 'source', value: 'api' },
        matches: () => true,
      },
  );
  const mcpServers = new AuthorizedMcpServerService({
    service: service as unknown as McpServerService,
    permissions: permissions as any,
    auditor,
    toCondition,
    defaultProviderId: 'model-context-protocol',
  });
  const actionsRegistry = actionsRegistryServiceMock();
  return {
    actionsRegistry,
    mcpServers,
    service,
    permissions,
    auditEvents,
    /** Invokes `test:<name>` with the given input and credentials. */
    invoke(
      name: string,
      input: JsonObject,
      credentials: Parameters<typeof actionsRegistry.invoke>[0]['credentials'],
    ) {
      return actionsRegistry.invoke({ id: `test:${name}`, input, credentials });
    },
  };
}

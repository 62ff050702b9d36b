import {
  AuditorService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { InputError, NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  ConditionalPolicyDecision,
} from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import { McpServerService } from '../mcpServers/McpServerService';
import { McpServer } from '../mcpServers/types';
import { ServerCondition } from '../permissions/conditions';
import { AuthorizedMcpServerService } from './AuthorizedMcpServerService';

const ALICE = 'user:default/alice';
const credentials = mockCredentials.user(ALICE);

const server = (
  name: string,
  status: McpServer['status'] = 'registered',
): McpServer => ({
  name,
  url: `http://${name}.example/mcp`,
  providerId: 'model-context-protocol',
  source: 'api',
  status,
});

interface RecordedEvent {
  eventId: string;
  status: 'succeeded' | 'failed';
  meta?: JsonObject;
  error?: string;
}

/**
 * The layer without HTTP: a fake permission decision, a recording auditor, a
 * stub of the use cases.
 */
function setUp(decision: {
  result: AuthorizeResult;
  conditions?: ConditionalPolicyDecision['conditions'];
}) {
  const events: RecordedEvent[] = [];
  const auditor: AuditorService = {
    async createEvent({ eventId }) {
      return {
        success: async options =>
          void events.push({
            eventId,
            status: 'succeeded',
            meta: options?.meta,
          }),
        fail: async options =>
          void events.push({
            eventId,
            status: 'failed',
            meta: options.meta,
            error: options.error.message,
          }),
      };
    },
  };
  const permissions = {
    authorize: jest.fn(async () => [{ result: decision.result }]),
    authorizeConditional: jest.fn(async () => [decision]),
  } as unknown as PermissionsService;
  const service = {
    register: jest.fn(async (spec: { name: string }) => server(spec.name)),
    list: jest.fn(async () => [server('ready'), server('underway', 'pending')]),
    delete: jest.fn(async () => undefined),
  };
  const condition: ServerCondition = {
    filter: { property: 'name_prefix', value: 'team-' },
    matches: () => true,
  };
  const toCondition = jest.fn(() => condition);
  const layer = new AuthorizedMcpServerService({
    service: service as unknown as McpServerService,
    permissions,
    auditor,
    toCondition,
    defaultProviderId: 'model-context-protocol',
  });
  return { layer, events, service, permissions, toCondition, condition };
}

describe('AuthorizedMcpServerService', () => {
  it('registers for an allowed caller, as its creator, and audits the call with who made it', async () => {
    const { layer, events, service } = setUp({ result: AuthorizeResult.ALLOW });

    const registered = await layer.register(
      { name: 'docs', url: 'http://docs.example/mcp' },
      { credentials },
    );

    expect(registered.name).toBe('docs');
    expect(service.register).toHaveBeenCalledWith(
      {
        name: 'docs',
        url: 'http://docs.example/mcp',
        providerId: 'model-context-protocol',
      },
      ALICE,
      { check: false },
    );
    // Without an HTTP request the auditor cannot tell the caller, so the event
    // names it.
    expect(events).toEqual([
      {
        eventId: 'mcp-server-register',
        status: 'succeeded',
        meta: { caller: ALICE, name: 'docs' },
      },
    ]);
  });

  it('refuses a denied register before anything is stored, and audits the refusal', async () => {
    const { layer, events, service } = setUp({ result: AuthorizeResult.DENY });

    await expect(
      layer.register(
        { name: 'docs', url: 'http://docs.example/mcp' },
        { credentials },
      ),
    ).rejects.toThrow(NotAllowedError);

    expect(service.register).not.toHaveBeenCalled();
    expect(events).toEqual([
      {
        eventId: 'mcp-server-register',
        status: 'failed',
        meta: {
          caller: ALICE,
          name: 'docs',
          reason: "Permission 'lightspeed.mcp-server.register' is not granted",
        },
        error: "Permission 'lightspeed.mcp-server.register' is not granted",
      },
    ]);
  });

  it('answers a malformed register with the field at fault, before asking the permission framework', async () => {
    const { layer, events, permissions } = setUp({
      result: AuthorizeResult.ALLOW,
    });

    await expect(
      layer.register(
        { name: 'docs', url: 'ftp://docs.example' },
        { credentials },
      ),
    ).rejects.toThrow(
      new InputError(
        "Invalid MCP server: 'url' must be an absolute http:// or https:// URL",
      ),
    );

    expect(permissions.authorize).not.toHaveBeenCalled();
    expect(events[0]).toMatchObject({
      status: 'failed',
      meta: { caller: ALICE },
    });
    expect(events[0].meta).not.toHaveProperty('name');
  });

  it('passes a conditional decision to the use cases as a condition', async () => {
    const conditions = {
      rule: 'HAS_NAME_PREFIX',
      resourceType: 'lightspeed-mcp-server',
      params: { prefix: 'team-' },
    };
    const { layer, service, toCondition, condition } = setUp({
      result: AuthorizeResult.CONDITIONAL,
      conditions,
    });

    await layer.list({ credentials });

    expect(toCondition).toHaveBeenCalledWith(
      expect.objectContaining({ conditions }),
    );
    expect(service.list).toHaveBeenCalledWith(condition);
  });

  it('offers the chat only servers whose register is complete', async () => {
    const { layer } = setUp({ result: AuthorizeResult.ALLOW });

    const servers = await layer.listForChat({ credentials });

    expect(servers.map(s => s.name)).toEqual(['ready']);
  });

  it('records an unexpected failure with a generic reason, and still throws the original', async () => {
    const { layer, events, service } = setUp({ result: AuthorizeResult.ALLOW });
    service.delete.mockRejectedValueOnce(
      new Error('connect ECONNREFUSED db.internal:5432'),
    );

    await expect(layer.delete('docs', { credentials })).rejects.toThrow(
      'ECONNREFUSED',
    );

    expect(events).toEqual([
      {
        eventId: 'mcp-server-delete',
        status: 'failed',
        meta: {
          caller: ALICE,
          name: 'docs',
          reason: 'An internal error occurred',
        },
        error: 'An internal error occurred',
      },
    ]);
  });
});

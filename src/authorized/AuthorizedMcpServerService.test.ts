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

describe('AuthorizedMcpServerService name prefix', () => {
  function withListPage(decision: Parameters<typeof setUp>[0]) {
    const set = setUp(decision);
    const listPage = jest.fn(async () => ({ servers: [] }));
    Object.assign(set.service, { listPage, list: jest.fn(async () => []) });
    return { ...set, listPage };
  }

  it('narrows an allowed list to the prefix, in the database and in memory', async () => {
    const { layer, listPage } = withListPage({ result: AuthorizeResult.ALLOW });

    await layer.listPage(
      { limit: 10, cursor: 'YTE', namePrefix: 'team-a-' },
      { credentials },
    );

    const [condition, limit, cursor] = listPage.mock.calls[0] as unknown as [
      ServerCondition,
      number,
      string,
    ];
    expect([limit, cursor]).toEqual([10, 'YTE']);
    expect(condition.filter).toEqual({
      property: 'name_prefix',
      value: 'team-a-',
    });
    expect(condition.matches(server('team-a-wiki'))).toBe(true);
    // Case-sensitive and literal, as the HAS_NAME_PREFIX rule.
    expect(condition.matches(server('TEAM-A-wiki'))).toBe(false);
    expect(condition.matches(server('team_a-wiki'))).toBe(false);
  });

  it('ANDs the prefix with a conditional decision', async () => {
    const {
      layer,
      listPage,
      condition: permitted,
    } = withListPage({
      result: AuthorizeResult.CONDITIONAL,
      conditions: {
        rule: 'IS_OWNER',
        resourceType: 'lightspeed-mcp-server',
        params: { claims: [ALICE] },
      },
    });
    const mine = new Set(['team-a-mine', 'other-mine']);
    permitted.matches = s => mine.has(s.name);

    await layer.listPage({ limit: 10, namePrefix: 'team-a-' }, { credentials });

    const [condition] = listPage.mock.calls[0] as unknown as [ServerCondition];
    expect(condition.filter).toEqual({
      allOf: [{ property: 'name_prefix', value: 'team-a-' }, permitted.filter],
    });
    expect(condition.matches(server('team-a-mine'))).toBe(true);
    expect(condition.matches(server('team-a-theirs'))).toBe(false);
    expect(condition.matches(server('other-mine'))).toBe(false);
  });

  it('passes the permission condition alone without a prefix', async () => {
    const { layer, service, condition } = withListPage({
      result: AuthorizeResult.CONDITIONAL,
      conditions: {
        rule: 'HAS_SOURCE',
        resourceType: 'lightspeed-mcp-server',
        params: { source: 'api' },
      },
    });

    await layer.list({ credentials });

    expect(service.list).toHaveBeenCalledWith(condition);
  });

  it.each([
    ['an empty', '', "'name_prefix' must not be empty"],
    [
      'a leading "-"',
      '-team',
      "'name_prefix' must start with a letter or digit",
    ],
    ['a "/"', 'team/a', "'name_prefix' must start with a letter or digit"],
    [
      'a 129-character',
      'a'.repeat(129),
      "'name_prefix' must be at most 128 characters",
    ],
  ])(
    'refuses %s prefix before asking the permission framework',
    async (_case, namePrefix, message) => {
      const { layer, permissions } = withListPage({
        result: AuthorizeResult.ALLOW,
      });

      await expect(
        layer.listPage({ limit: 10, namePrefix }, { credentials }),
      ).rejects.toThrow(
        expect.objectContaining({
          name: 'InputError',
          message: expect.stringContaining(message),
        }),
      );
      expect(permissions.authorizeConditional).not.toHaveBeenCalled();
    },
  );

  it('accepts a prefix that ends with a space, as names may contain one', async () => {
    const { layer, listPage } = withListPage({ result: AuthorizeResult.ALLOW });

    await layer.list({ credentials }, { namePrefix: 'team tools' });
    await layer.listPage({ limit: 1, namePrefix: 'team ' }, { credentials });

    expect(listPage).toHaveBeenCalled();
  });
});

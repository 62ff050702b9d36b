import { mockCredentials } from '@backstage/backend-test-utils';
import { InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { createActionsTestKit, testServer } from '../testing/actionsTestKit';
import { createListMcpServersAction } from './createListMcpServersAction';

const ALICE = 'user:default/alice';
const credentials = mockCredentials.user(ALICE);

function setUp(options: Parameters<typeof createActionsTestKit>[0] = {}) {
  const kit = createActionsTestKit(options);
  createListMcpServersAction(kit);
  return kit;
}

describe('list-mcp-servers', () => {
  it('answers one page in the wire format of GET /v1/mcp-servers, 50 servers by default', async () => {
    const kit = setUp();
    kit.service.listPage.mockResolvedValueOnce({
      servers: [
        testServer('docs', {
          source: 'config',
          authorizationHeaders: { Authorization: 'client' },
          lastCheck: {
            status: 'unreachable',
            toolCount: null,
            checkedAt: '2025-01-01T00:00:00.000Z',
            message: 'No answer',
          },
        }),
        testServer('team-a-search', {
          status: 'error',
          statusMessage: 'Llama Stack refused it',
          createdBy: ALICE,
        }),
      ],
      nextCursor: 'YTI',
    });

    const { output } = await kit.invoke('list-mcp-servers', {}, credentials);

    expect(kit.service.listPage).toHaveBeenCalledWith(undefined, 50, undefined);
    expect(output).toEqual({
      servers: [
        {
          name: 'docs',
          url: 'http://docs.example/mcp',
          provider_id: 'model-context-protocol',
          source: 'config',
          status: 'registered',
          authorization_headers: { Authorization: 'client' },
          last_check: {
            status: 'unreachable',
            tool_count: null,
            checked_at: '2025-01-01T00:00:00.000Z',
            message: 'No answer',
          },
        },
        {
          name: 'team-a-search',
          url: 'http://team-a-search.example/mcp',
          provider_id: 'model-context-protocol',
          source: 'api',
          status: 'error',
          status_message: 'Llama Stack refused it',
          created_by: ALICE,
        },
      ],
      next_cursor: 'YTI',
    });
  });

  it('passes limit and cursor on, and narrows to the name prefix', async () => {
    const kit = setUp();

    await kit.invoke(
      'list-mcp-servers',
      { name_prefix: 'team-a-', limit: 2, cursor: 'YTI' },
      credentials,
    );

    const [condition, limit, cursor] = kit.service.listPage.mock
      .calls[0] as unknown as [any, number, string];
    expect([limit, cursor]).toEqual([2, 'YTI']);
    expect(condition.filter).toEqual({
      property: 'name_prefix',
      value: 'team-a-',
    });
    expect(condition.matches(testServer('team-a-wiki'))).toBe(true);
    expect(condition.matches(testServer('team-b-wiki'))).toBe(false);
  });

  it('leaves next_cursor out on the last page', async () => {
    const kit = setUp();

    const { output } = await kit.invoke('list-mcp-servers', {}, credentials);

    expect(output).toEqual({ servers: [] });
  });

  it.each([0, 10_001, 2.5])(
    'refuses limit %p with the message of the HTTP API',
    async limit => {
      const kit = setUp();

      await expect(
        kit.invoke('list-mcp-servers', { limit }, credentials),
      ).rejects.toThrow(
        new InputError("'limit' must be a whole number from 1 to 10000"),
      );
      expect(kit.service.listPage).not.toHaveBeenCalled();
    },
  );

  it('refuses a name prefix no name can start with, before asking for permission', async () => {
    const kit = setUp();

    await expect(
      kit.invoke('list-mcp-servers', { name_prefix: ' team' }, credentials),
    ).rejects.toThrow(InputError);
    await expect(
      kit.invoke('list-mcp-servers', { name_prefix: '' }, credentials),
    ).rejects.toThrow(
      "Invalid MCP server name prefix: 'name_prefix' must not be empty; leave it out to list every server",
    );
    expect(kit.permissions.authorizeConditional).not.toHaveBeenCalled();
  });

  it('refuses a caller whose list permission is denied', async () => {
    const kit = setUp({ decide: () => ({ result: AuthorizeResult.DENY }) });

    await expect(
      kit.invoke('list-mcp-servers', {}, credentials),
    ).rejects.toThrow(
      new NotAllowedError(
        "Permission 'lightspeed.mcp-server.list' is not granted",
      ),
    );
    expect(kit.service.listPage).not.toHaveBeenCalled();
  });

  it('asks with the caller credentials', async () => {
    const kit = setUp();

    await kit.invoke('list-mcp-servers', {}, credentials);

    expect(kit.permissions.authorizeConditional).toHaveBeenCalledWith(
      [
        {
          permission: expect.objectContaining({
            name: 'lightspeed.mcp-server.list',
          }),
        },
      ],
      { credentials },
    );
  });

  it('is read-only and idempotent', async () => {
    const kit = setUp();

    const { actions } = await kit.actionsRegistry.list();

    expect(actions).toEqual([
      expect.objectContaining({
        name: 'list-mcp-servers',
        attributes: { readOnly: true, destructive: false, idempotent: true },
      }),
    ]);
  });
});

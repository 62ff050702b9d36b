import { mockCredentials } from '@backstage/backend-test-utils';
import { InputError, NotFoundError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { createActionsTestKit, testServer } from '../testing/actionsTestKit';
import { createGetMcpServerAction } from './createGetMcpServerAction';

const credentials = mockCredentials.user('user:default/alice');

function setUp(options: Parameters<typeof createActionsTestKit>[0] = {}) {
  const kit = createActionsTestKit(options);
  createGetMcpServerAction(kit);
  return kit;
}

describe('get-mcp-server', () => {
  it('answers the server in the wire format of GET /v1/mcp-servers/{name}', async () => {
    const kit = setUp();
    kit.service.visible.mockResolvedValueOnce(
      testServer('docs', { headers: ['x-request-id'], timeout: 30 }),
    );

    const { output } = await kit.invoke(
      'get-mcp-server',
      { name: 'docs' },
      credentials,
    );

    expect(kit.service.visible).toHaveBeenCalledWith('docs', undefined);
    expect(output).toEqual({
      name: 'docs',
      url: 'http://docs.example/mcp',
      provider_id: 'model-context-protocol',
      source: 'api',
      status: 'registered',
      headers: ['x-request-id'],
      timeout: 30,
    });
  });

  it('applies a conditional decision to the server', async () => {
    const condition = {
      filter: { property: 'source' as const, value: 'api' as const },
      matches: () => false,
    };
    const kit = setUp({
      decide: () => ({
        result: AuthorizeResult.CONDITIONAL,
        pluginId: 'lightspeed-mcp',
        resourceType: 'lightspeed-mcp-server',
        conditions: {
          rule: 'HAS_SOURCE',
          resourceType: 'lightspeed-mcp-server',
          params: { source: 'api' },
        },
      }),
      condition,
    });

    await kit.invoke('get-mcp-server', { name: 'docs' }, credentials);

    expect(kit.service.visible).toHaveBeenCalledWith('docs', condition);
  });

  it('lets a missing or hidden server answer not found', async () => {
    const kit = setUp();
    kit.service.visible.mockRejectedValueOnce(
      new NotFoundError("MCP server 'docs' is not registered"),
    );

    await expect(
      kit.invoke('get-mcp-server', { name: 'docs' }, credentials),
    ).rejects.toThrow(new NotFoundError("MCP server 'docs' is not registered"));
  });

  it('refuses an invalid name with the message of the HTTP API', async () => {
    const kit = setUp();

    await expect(
      kit.invoke('get-mcp-server', { name: 'docs ' }, credentials),
    ).rejects.toThrow(
      new InputError(
        'Invalid MCP server name: \'name\' must start with a letter or digit and contain only letters, digits, spaces, ".", "_", ":" and "-", and not end with a space',
      ),
    );
  });

  it('is read-only and idempotent', async () => {
    const kit = setUp();

    const { actions } = await kit.actionsRegistry.list();

    expect(actions[0].attributes).toEqual({
      readOnly: true,
      destructive: false,
      idempotent: true,
    });
  });
});

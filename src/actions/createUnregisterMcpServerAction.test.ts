import { mockCredentials } from '@backstage/backend-test-utils';
import { NotAllowedError, NotFoundError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { createActionsTestKit } from '../testing/actionsTestKit';
import { createUnregisterMcpServerAction } from './createUnregisterMcpServerAction';

const ALICE = 'user:default/alice';
const credentials = mockCredentials.user(ALICE);

function setUp(options: Parameters<typeof createActionsTestKit>[0] = {}) {
  const kit = createActionsTestKit(options);
  createUnregisterMcpServerAction(kit);
  return kit;
}

describe('unregister-mcp-server', () => {
  it('deletes the server and answers as DELETE /v1/mcp-servers/{name}', async () => {
    const kit = setUp();

    const { output } = await kit.invoke(
      'unregister-mcp-server',
      { name: 'docs' },
      credentials,
    );

    expect(kit.service.delete).toHaveBeenCalledWith('docs', undefined);
    expect(output).toEqual({
      name: 'docs',
      message: "MCP server 'docs' unregistered successfully",
    });
    expect(kit.auditEvents).toEqual([
      {
        eventId: 'mcp-server-delete',
        status: 'succeeded',
        meta: { caller: ALICE, name: 'docs' },
      },
    ]);
  });

  it('answers not found the second time, having changed nothing more', async () => {
    const kit = setUp();
    kit.service.delete
      .mockResolvedValueOnce(undefined)
      .mockRejectedValueOnce(
        new NotFoundError("MCP server 'docs' is not registered"),
      );

    await kit.invoke('unregister-mcp-server', { name: 'docs' }, credentials);
    await expect(
      kit.invoke('unregister-mcp-server', { name: 'docs' }, credentials),
    ).rejects.toThrow(NotFoundError);
  });

  it('refuses a caller without the delete permission', async () => {
    const kit = setUp({ decide: () => ({ result: AuthorizeResult.DENY }) });

    await expect(
      kit.invoke('unregister-mcp-server', { name: 'docs' }, credentials),
    ).rejects.toThrow(
      new NotAllowedError(
        "Permission 'lightspeed.mcp-server.delete' is not granted",
      ),
    );
    expect(kit.service.delete).not.toHaveBeenCalled();
  });

  it('is destructive and idempotent', async () => {
    const kit = setUp();

    const { actions } = await kit.actionsRegistry.list();

    expect(actions[0].attributes).toEqual({
      readOnly: false,
      destructive: true,
      idempotent: true,
    });
  });
});

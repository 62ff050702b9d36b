import { mockCredentials } from '@backstage/backend-test-utils';
import { NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { createActionsTestKit } from '../testing/actionsTestKit';
import { createCheckMcpServerAction } from './createCheckMcpServerAction';

const ALICE = 'user:default/alice';
const credentials = mockCredentials.user(ALICE);

function setUp(options: Parameters<typeof createActionsTestKit>[0] = {}) {
  const kit = createActionsTestKit(options);
  createCheckMcpServerAction(kit);
  return kit;
}

describe('check-mcp-server', () => {
  it('answers the check in the wire format of POST /v1/mcp-servers/{name}/check, tools included', async () => {
    const kit = setUp();

    const { output } = await kit.invoke(
      'check-mcp-server',
      { name: 'docs' },
      credentials,
    );

    expect(kit.service.check).toHaveBeenCalledWith('docs', undefined);
    expect(output).toEqual({
      status: 'ok',
      tool_count: 1,
      tools: [{ name: 'search', description: 'Searches' }],
      checked_at: '2025-01-01T00:00:00.000Z',
      message: 'The server answered initialize and tools/list',
    });
  });

  it('records an audit event that names the caller, as there is no HTTP request', async () => {
    const kit = setUp();

    await kit.invoke('check-mcp-server', { name: 'docs' }, credentials);

    expect(kit.auditEvents).toEqual([
      {
        eventId: 'mcp-server-check',
        status: 'succeeded',
        meta: { caller: ALICE, name: 'docs', status: 'ok' },
      },
    ]);
  });

  it('refuses a caller who may not list servers, and records the refusal', async () => {
    const kit = setUp({ decide: () => ({ result: AuthorizeResult.DENY }) });

    await expect(
      kit.invoke('check-mcp-server', { name: 'docs' }, credentials),
    ).rejects.toThrow(NotAllowedError);

    expect(kit.service.check).not.toHaveBeenCalled();
    expect(kit.auditEvents).toEqual([
      {
        eventId: 'mcp-server-check',
        status: 'failed',
        meta: {
          caller: ALICE,
          name: 'docs',
          reason: "Permission 'lightspeed.mcp-server.list' is not granted",
        },
      },
    ]);
  });

  it('is not read-only (it connects out and keeps the result), but neither destructive', async () => {
    const kit = setUp();

    const { actions } = await kit.actionsRegistry.list();

    expect(actions[0].attributes).toEqual({
      readOnly: false,
      destructive: false,
      idempotent: true,
    });
  });
});

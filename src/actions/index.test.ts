import { createActionsTestKit } from '../testing/actionsTestKit';
import { createLightspeedMcpActions } from '.';

describe('createLightspeedMcpActions', () => {
  it('registers only the read actions by default', async () => {
    const kit = createActionsTestKit();

    createLightspeedMcpActions({ ...kit, allowWrites: false });

    const { actions } = await kit.actionsRegistry.list();
    expect(actions.map(a => a.name)).toEqual([
      'list-mcp-servers',
      'get-mcp-server',
      'check-mcp-server',
    ]);
  });

  it('adds register and unregister when writes are allowed', async () => {
    const kit = createActionsTestKit();

    createLightspeedMcpActions({ ...kit, allowWrites: true });

    const { actions } = await kit.actionsRegistry.list();
    expect(actions.map(a => a.name)).toEqual([
      'list-mcp-servers',
      'get-mcp-server',
      'check-mcp-server',
      'register-mcp-server',
      'unregister-mcp-server',
    ]);
  });
});

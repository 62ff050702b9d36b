import {
  AuditorService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { McpServer } from '../mcpServers/types';
import { UserSettingsService } from '../userSettings/UserSettingsService';
import { AuthorizedUserSettingsService } from './AuthorizedUserSettingsService';

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

/** The layer without HTTP, over a stub of the per-user use cases. */
function setUp() {
  const userSettings = {
    servers: jest.fn(async () => [
      server('ready'),
      server('underway', 'pending'),
      server('switched-off'),
      server('no-token'),
    ]),
    tokens: jest.fn(async () => ({
      tokens: new Map([
        ['ready', 'tok-ready'],
        ['switched-off', 'tok-off'],
      ]),
      disabled: new Set(['switched-off']),
    })),
  };
  const layer = new AuthorizedUserSettingsService({
    permissions: {
      authorizeConditional: async () => [{ result: AuthorizeResult.ALLOW }],
    } as unknown as PermissionsService,
    auditor: {} as AuditorService,
    toCondition: () => {
      throw new Error('not conditional');
    },
    userSettings: userSettings as unknown as UserSettingsService,
  });
  return { layer, userSettings };
}

describe('AuthorizedUserSettingsService', () => {
  it("offers a chat the servers that are ready and not switched off, with the user's tokens", async () => {
    const { layer, userSettings } = setUp();
    const credentials = mockCredentials.user('user:default/alice');

    const { servers, tokens } = await layer.chatServers({ credentials });

    expect(servers.map(s => s.name)).toEqual(['ready', 'no-token']);
    expect(userSettings.tokens).toHaveBeenCalledWith(
      'user:default/alice',
      expect.arrayContaining([expect.objectContaining({ name: 'ready' })]),
    );
    expect(await layer.mcpHeaders({ credentials })).toEqual({
      ready: { Authorization: 'tok-ready' },
    });
    expect(tokens.get('ready')).toBe('tok-ready');
  });

  it('gives a service caller no personal tokens, and refuses it personal settings', async () => {
    const { layer, userSettings } = setUp();
    const credentials = mockCredentials.service();

    await layer.chatServers({ credentials });

    expect(userSettings.tokens).toHaveBeenCalledWith(
      undefined,
      expect.any(Array),
    );
    await expect(layer.listServers({ credentials })).rejects.toThrow(
      'Per-user settings need a user: call with a user token',
    );
  });
});

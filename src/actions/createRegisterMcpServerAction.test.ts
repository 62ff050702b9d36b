import { mockCredentials } from '@backstage/backend-test-utils';
import { ConflictError, InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { createActionsTestKit } from '../testing/actionsTestKit';
import { createRegisterMcpServerAction } from './createRegisterMcpServerAction';

const ALICE = 'user:default/alice';
const credentials = mockCredentials.user(ALICE);

function setUp(options: Parameters<typeof createActionsTestKit>[0] = {}) {
  const kit = createActionsTestKit(options);
  createRegisterMcpServerAction(kit);
  return kit;
}

describe('register-mcp-server', () => {
  it('registers with the caller as creator and answers as POST /v1/mcp-servers', async () => {
    const kit = setUp();
    const input = {
      name: 'team-a-search',
      url: 'https://search.example.com/mcp',
      authorization_headers: { Authorization: 'client' },
      headers: ['x-request-id'],
      timeout: 30,
      check: true,
    };

    const { output } = await kit.invoke(
      'register-mcp-server',
      input,
      credentials,
    );

    expect(kit.service.register).toHaveBeenCalledWith(
      {
        name: 'team-a-search',
        url: 'https://search.example.com/mcp',
        providerId: 'model-context-protocol',
        authorizationHeaders: { Authorization: 'client' },
        headers: ['x-request-id'],
        timeout: 30,
      },
      ALICE,
      { check: true },
    );
    expect(output).toEqual({
      name: 'team-a-search',
      url: 'https://search.example.com/mcp',
      provider_id: 'model-context-protocol',
      source: 'api',
      status: 'registered',
      authorization_headers: { Authorization: 'client' },
      headers: ['x-request-id'],
      timeout: 30,
      created_by: ALICE,
      created_at: '2025-01-01T00:00:00.000Z',
      message: "MCP server 'team-a-search' registered successfully",
    });
    expect(kit.auditEvents).toEqual([
      {
        eventId: 'mcp-server-register',
        status: 'succeeded',
        meta: { caller: ALICE, name: 'team-a-search' },
      },
    ]);
  });

  it.each<[string, object, string]>([
    [
      'an unknown field, named',
      { name: 'docs', url: 'https://docs.example.com/mcp', providerId: 'x' },
      "Invalid MCP server: unknown field 'providerId'",
    ],
    [
      'a header value where its kind belongs',
      {
        name: 'docs',
        url: 'https://docs.example.com/mcp',
        authorization_headers: { Authorization: 'Bearer s3cret' },
      },
      "Invalid MCP server: 'authorization_headers.Authorization' values must be one of client, kubernetes, oauth",
    ],
    [
      'a URL that is not http(s)',
      { name: 'docs', url: 'ftp://docs.example.com' },
      "Invalid MCP server: 'url' must be an absolute http:// or https:// URL",
    ],
    [
      'a timeout out of range',
      { name: 'docs', url: 'https://docs.example.com/mcp', timeout: 0 },
      "Invalid MCP server: 'timeout' must be at least 1 second",
    ],
  ])(
    'refuses %s with the message of the HTTP API',
    async (_case, input, message) => {
      const kit = setUp();

      await expect(
        kit.invoke('register-mcp-server', input as any, credentials),
      ).rejects.toThrow(new InputError(message));
      expect(kit.service.register).not.toHaveBeenCalled();
    },
  );

  it('never echoes a header value it was given', async () => {
    const kit = setUp();

    const error = await kit
      .invoke(
        'register-mcp-server',
        {
          name: 'docs',
          url: 'https://docs.example.com/mcp',
          authorization_headers: { Authorization: 'Bearer s3cret' },
        },
        credentials,
      )
      .catch(e => e);

    expect(String(error.message)).not.toContain('s3cret');
    expect(JSON.stringify(kit.auditEvents)).not.toContain('s3cret');
  });

  it('refuses a caller without the register permission, and records it', async () => {
    const kit = setUp({ decide: () => ({ result: AuthorizeResult.DENY }) });

    await expect(
      kit.invoke(
        'register-mcp-server',
        { name: 'docs', url: 'https://docs.example.com/mcp' },
        credentials,
      ),
    ).rejects.toThrow(NotAllowedError);

    expect(kit.service.register).not.toHaveBeenCalled();
    expect(kit.auditEvents[0]).toMatchObject({
      eventId: 'mcp-server-register',
      status: 'failed',
    });
  });

  it('lets a taken name answer a conflict', async () => {
    const kit = setUp();
    kit.service.register.mockRejectedValueOnce(
      new ConflictError("MCP server 'docs' already exists"),
    );

    await expect(
      kit.invoke(
        'register-mcp-server',
        { name: 'docs', url: 'https://docs.example.com/mcp' },
        credentials,
      ),
    ).rejects.toThrow(ConflictError);
  });

  it('is neither read-only, destructive nor idempotent, and hidden from callers who may not register', async () => {
    const kit = setUp();

    const { actions } = await kit.actionsRegistry.list();

    expect(actions[0].attributes).toEqual({
      readOnly: false,
      destructive: false,
      idempotent: false,
    });
    expect(
      kit.actionsRegistry.actions.get('test:register-mcp-server')
        ?.visibilityPermission?.name,
    ).toBe('lightspeed.mcp-server.register');
  });
});

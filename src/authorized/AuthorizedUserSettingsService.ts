import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import { parseName } from '../mcpServers/validation';
import { McpServer } from '../mcpServers/types';
import { mcpServerListPermission } from '../permissions/permissions';
import {
  parseSettingsPatch,
  parseValidateUrlRequest,
} from '../userSettings/requests';
import {
  UserServerView,
  UserSettingsService,
  ValidationResult,
} from '../userSettings/UserSettingsService';
import { AccessGuard, AccessGuardOptions, CallOptions } from './AccessGuard';

/** `{ "<server>": { "Authorization": "<token>" } }`, as lightspeed-stack reads it. */
export type McpHeaders = Record<string, { Authorization: string }>;

/**
 * The per-user use cases as a caller may run them. Seeing a server in the
 * list (`lightspeed.mcp-server.list`, conditions included) is what lets a user
 * see, validate and set their own settings of it; a hidden server answers 404
 * as a missing one. Settings changes and validations are audited, with the
 * fields changed and never a value.
 */
export class AuthorizedUserSettingsService {
  private readonly guard: AccessGuard;
  private readonly userSettings: UserSettingsService;

  constructor(
    options: AccessGuardOptions & { userSettings: UserSettingsService },
  ) {
    this.guard = new AccessGuard(options);
    this.userSettings = options.userSettings;
  }

  async listServers(options: CallOptions): Promise<UserServerView[]> {
    return this.userSettings.list(
      userRefOf(options.credentials),
      await this.listCondition(options),
    );
  }

  update(
    rawName: string,
    body: unknown,
    options: CallOptions,
  ): Promise<{ server: UserServerView; validation?: ValidationResult }> {
    return this.guard.audited(
      'mcp-server-user-settings-update',
      options,
      async meta => {
        const name = parseName(rawName);
        meta.name = name;
        const patch = parseSettingsPatch(body);
        meta.fields = Object.keys(patch);
        const result = await this.userSettings.update(
          name,
          userRefOf(options.credentials),
          patch,
          await this.listCondition(options),
        );
        if (result.validation) {
          meta.valid = result.validation.valid;
        }
        return result;
      },
    );
  }

  /** Audited: the plugin connects out on the caller's behalf. */
  validate(rawName: string, options: CallOptions) {
    return this.guard.audited('mcp-server-validate', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const result = await this.userSettings.validate(
        name,
        userRefOf(options.credentials),
        await this.listCondition(options),
      );
      meta.valid = result.validation.valid;
      return result;
    });
  }

  validateUrl(body: unknown, options: CallOptions): Promise<ValidationResult> {
    return this.guard.audited('mcp-server-validate', options, async meta => {
      const { url, token } = parseValidateUrlRequest(body);
      const result = await this.userSettings.validateUrl(
        url,
        token,
        await this.listCondition(options),
      );
      meta.valid = result.valid;
      return result;
    });
  }

  /**
   * The caller's MCP-HEADERS for lightspeed-stack: each server they may list
   * and did not switch off, with their token, else the org token.
   */
  async mcpHeaders(options: CallOptions): Promise<McpHeaders> {
    const { servers, tokens } = await this.chatServers(options);
    const headers: McpHeaders = {};
    for (const server of servers) {
      const token = tokens.get(server.name);
      if (token) {
        headers[server.name] = { Authorization: token };
      }
    }
    return headers;
  }

  /**
   * The servers a chat of the caller may use now, with the caller's tokens:
   * neither a register still under way nor a server they switched off.
   */
  async chatServers(
    options: CallOptions,
  ): Promise<{ servers: McpServer[]; tokens: Map<string, string> }> {
    const listed = await this.userSettings.servers(
      await this.listCondition(options),
    );
    const ready = listed.filter(server => server.status !== 'pending');
    const { tokens, disabled } = await this.userSettings.tokens(
      userRefOrUndefined(options.credentials),
      ready,
    );
    return {
      servers: ready.filter(server => !disabled.has(server.name)),
      tokens,
    };
  }

  private listCondition(options: CallOptions) {
    return this.guard.authorizeConditional(
      options.credentials,
      mcpServerListPermission,
    );
  }
}

function userRefOrUndefined(
  credentials: BackstageCredentials,
): string | undefined {
  return (credentials.principal as { userEntityRef?: string }).userEntityRef;
}

/** Settings are a user's own: a service has none to read or set. */
function userRefOf(credentials: BackstageCredentials): string {
  const userRef = userRefOrUndefined(credentials);
  if (!userRef) {
    throw new InputError(
      'Per-user settings need a user: call with a user token',
    );
  }
  return userRef;
}

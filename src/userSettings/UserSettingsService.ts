import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, ServiceUnavailableError } from '@backstage/errors';
import {
  StoredUserSettings,
  StoredValidation,
  UserSettingsStore,
} from '../database/UserSettingsStore';
import { McpServerService } from '../mcpServers/McpServerService';
import { CheckResult, McpServer, McpTool } from '../mcpServers/types';
import { ServerCondition } from '../permissions/conditions';
import { TokenCipher, TokenDecryptionError } from './TokenCipher';

/** A server as the settings page shows it to one user. */
export interface UserServerView {
  name: string;
  url: string;
  enabled: boolean;
  /** Of the user's last validation: `unknown` when there is none. */
  status: 'connected' | 'error' | 'unknown';
  toolCount: number;
  /** The user has a token, or the server has an org token. */
  hasToken: boolean;
  hasUserToken: boolean;
  source: McpServer['source'];
}

export interface ValidationResult {
  valid: boolean;
  toolCount: number;
  tools: McpTool[];
  /** Fixed text of the plugin, when not valid. */
  error?: string;
}

/** A change of one user's settings: `token: null` clears the token. */
export interface UserSettingsPatch {
  enabled?: boolean;
  token?: string | null;
}

export interface UserSettingsServiceOptions {
  servers: McpServerService;
  store: UserSettingsStore;
  /** Without it, personal tokens are refused. */
  cipher?: TokenCipher;
  /** Org tokens of app-config servers, by name. */
  orgTokens: Map<string, string>;
  checker: {
    check(
      name: string,
      url: string,
      options?: { token?: string },
    ): Promise<CheckResult>;
  };
  logger: LoggerService;
}

/**
 * Each user's own settings of the servers they may list: on or off, a
 * personal token (encrypted at rest), the last validation. Tokens are
 * decrypted only where a header is built, and a token set for one URL is never
 * sent to another.
 */
export class UserSettingsService {
  constructor(private readonly options: UserSettingsServiceOptions) {}

  /** The servers the condition lets the caller list. */
  servers(condition?: ServerCondition): Promise<McpServer[]> {
    return this.options.servers.list(condition);
  }

  async list(
    userRef: string,
    condition?: ServerCondition,
  ): Promise<UserServerView[]> {
    const [servers, settings] = await Promise.all([
      this.options.servers.list(condition),
      this.options.store.listForUser(userRef),
    ]);
    return servers.map(server => this.view(server, settings.get(server.name)));
  }

  async update(
    name: string,
    userRef: string,
    patch: UserSettingsPatch,
    condition?: ServerCondition,
  ): Promise<{ server: UserServerView; validation?: ValidationResult }> {
    const server = await this.options.servers.visible(name, condition);
    const { store } = this.options;
    let validation: ValidationResult | undefined;
    if (typeof patch.token === 'string') {
      const token = patch.token;
      const encryptedToken = this.cipher().encrypt(
        token,
        rowContext(name, userRef),
      );
      validation = await this.validateWith(server, token);
      await store.save(name, userRef, {
        enabled: patch.enabled,
        encryptedToken,
        serverUrl: server.url,
        validation: toStored(validation),
      });
    } else if (patch.token === null) {
      await store.save(name, userRef, {
        enabled: patch.enabled,
        encryptedToken: null,
        serverUrl: null,
        validation: null,
      });
    } else {
      await store.save(name, userRef, { enabled: patch.enabled });
    }
    const settings = await store.get(name, userRef);
    return {
      server: this.view(server, settings),
      ...(validation && { validation }),
    };
  }

  /**
   * Validates with the user's token, else the org token; without either, a
   * server that declares authorization headers cannot be validated.
   */
  async validate(
    name: string,
    userRef: string,
    condition?: ServerCondition,
  ): Promise<{
    name: string;
    status: UserServerView['status'];
    toolCount: number;
    validation: ValidationResult;
  }> {
    const server = await this.options.servers.visible(name, condition);
    const settings = await this.options.store.get(name, userRef);
    const token =
      this.personalToken(server, settings, userRef) ??
      this.options.orgTokens.get(name);
    if (!token && Object.keys(server.authorizationHeaders ?? {}).length > 0) {
      throw new InputError('No token available');
    }
    const validation = await this.validateWith(server, token);
    await this.options.store.save(name, userRef, {
      serverUrl: server.url,
      validation: toStored(validation),
      // The validation moves the row to the current URL: a token of the old
      // one (an app-config URL changed) must not move with it.
      ...(settings?.serverUrl !== server.url && { encryptedToken: null }),
    });
    return {
      name,
      status: validation.valid ? 'connected' : 'error',
      toolCount: validation.toolCount,
      validation,
    };
  }

  /**
   * Validates a token typed into the settings page before it is saved. Only
   * the URL of a server the caller may list is accepted: the backend must not
   * probe arbitrary URLs for its callers.
   */
  async validateUrl(
    url: string,
    token: string,
    condition?: ServerCondition,
  ): Promise<ValidationResult> {
    const servers = await this.options.servers.list(condition);
    const server = servers.find(candidate => candidate.url === url);
    if (!server) {
      throw new InputError('URL not recognized');
    }
    return this.validateWith(server, token);
  }

  /**
   * The user's token of each server they did not switch off, personal over
   * org, by server name; and the servers they switched off.
   */
  async tokens(
    userRef: string | undefined,
    servers: McpServer[],
  ): Promise<{ tokens: Map<string, string>; disabled: Set<string> }> {
    const settings = userRef
      ? await this.options.store.listForUser(userRef)
      : new Map<string, StoredUserSettings>();
    const tokens = new Map<string, string>();
    const disabled = new Set<string>();
    for (const server of servers) {
      const own = settings.get(server.name);
      if (own && !own.enabled) {
        disabled.add(server.name);
        continue;
      }
      const token =
        (userRef && this.personalToken(server, own, userRef)) ||
        this.options.orgTokens.get(server.name);
      if (token) {
        tokens.set(server.name, token);
      }
    }
    return { tokens, disabled };
  }

  private view(
    server: McpServer,
    settings: StoredUserSettings | undefined,
  ): UserServerView {
    // A token or validation of another URL is as good as none.
    const current = settings?.serverUrl === server.url ? settings : undefined;
    const hasUserToken = current?.encryptedToken !== undefined;
    let status: UserServerView['status'] = 'unknown';
    if (current?.validation) {
      status = current.validation.valid ? 'connected' : 'error';
    }
    return {
      name: server.name,
      url: server.url,
      enabled: settings?.enabled ?? true,
      status,
      toolCount: current?.validation?.toolCount ?? 0,
      hasToken: hasUserToken || this.options.orgTokens.has(server.name),
      hasUserToken,
      source: server.source,
    };
  }

  /** The decrypted personal token, if there is one for the server's URL. */
  private personalToken(
    server: McpServer,
    settings: StoredUserSettings | undefined,
    userRef: string,
  ): string | undefined {
    if (!settings?.encryptedToken || settings.serverUrl !== server.url) {
      return undefined;
    }
    const cipher = this.cipher();
    const context = rowContext(server.name, userRef);
    try {
      const token = cipher.decrypt(settings.encryptedToken, context);
      if (!cipher.isCurrent(settings.encryptedToken)) {
        // Rotation completes itself: each token moves to the current key the
        // first time it is used after a new key was put first.
        this.reencrypt(
          server.name,
          userRef,
          settings.encryptedToken,
          cipher.encrypt(token, context),
        );
      }
      return token;
    } catch (error) {
      if (!(error instanceof TokenDecryptionError)) {
        throw error;
      }
      // The user can set the token again; which user and server, never what.
      this.options.logger.warn(
        `The personal token of ${userRef} for MCP server '${server.name}' cannot be used`,
        error,
      );
      return undefined;
    }
  }

  private reencrypt(
    serverName: string,
    userRef: string,
    from: string,
    to: string,
  ) {
    this.options.store
      .replaceToken(serverName, userRef, from, to)
      .catch(error =>
        this.options.logger.warn(
          `Could not re-encrypt the personal token of ${userRef} for MCP server '${serverName}'`,
          error,
        ),
      );
  }

  private async validateWith(
    server: McpServer,
    token: string | undefined,
  ): Promise<ValidationResult> {
    const result = await this.options.checker.check(server.name, server.url, {
      token,
    });
    return result.status === 'ok'
      ? { valid: true, toolCount: result.toolCount ?? 0, tools: result.tools }
      : { valid: false, toolCount: 0, tools: [], error: result.message };
  }

  private cipher(): TokenCipher {
    if (!this.options.cipher) {
      throw new ServiceUnavailableError(
        'Personal tokens are not available: set lightspeedMcp.tokenEncryption.keys to store them encrypted',
      );
    }
    return this.options.cipher;
  }
}

/** Binds a stored token to its row: it decrypts for this server and user only. */
function rowContext(serverName: string, userRef: string): string {
  return `${serverName}\n${userRef}`;
}

function toStored(validation: ValidationResult): StoredValidation {
  return {
    valid: validation.valid,
    toolCount: validation.toolCount,
    validatedAt: new Date().toISOString(),
  };
}

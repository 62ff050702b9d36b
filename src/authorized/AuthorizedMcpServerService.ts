import {
  AuditorService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  ConditionalPolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import { Request } from 'express';
import { McpServerService } from '../mcpServers/McpServerService';
import { CheckResult, McpServer, McpTool } from '../mcpServers/types';
import {
  parseName,
  parseNamePrefix,
  parsePatchRequest,
  parseRegisterRequest,
} from '../mcpServers/validation';
import {
  mcpServerDeletePermission,
  mcpServerListPermission,
  mcpServerRegisterPermission,
  mcpServerUpdatePermission,
} from '../permissions/permissions';
import { ServerCondition } from '../permissions/conditions';

/**
 * Who calls, per call. `request`, when the call came over HTTP, lets audit
 * events record the caller's address too; without one (an action), the event
 * names the caller in its `meta`.
 */
export interface CallOptions {
  credentials: BackstageCredentials;
  request?: Request;
}

export interface AuthorizedMcpServerServiceOptions {
  service: McpServerService;
  permissions: PermissionsService;
  auditor: AuditorService;
  /**
   * Turns a conditional decision into a database filter and an in-memory test.
   */
  toCondition(decision: ConditionalPolicyDecision): ServerCondition;
  defaultProviderId: string;
}

/**
 * The use cases as a caller may run them: each call validates its input, asks
 * the permission framework (basic or conditional decisions) and records an
 * audit event for every operation that changes something or connects out. HTTP
 * routes and actions both go through here, so they share one set of rules and
 * messages. Input is validated before authorization, as Backstage's own routes
 * do, so a malformed request answers 400 whoever sends it.
 */
export class AuthorizedMcpServerService {
  private readonly service: McpServerService;
  private readonly permissions: PermissionsService;
  private readonly auditor: AuditorService;
  private readonly toCondition: AuthorizedMcpServerServiceOptions['toCondition'];
  private readonly defaultProviderId: string;

  constructor(options: AuthorizedMcpServerServiceOptions) {
    this.service = options.service;
    this.permissions = options.permissions;
    this.auditor = options.auditor;
    this.toCondition = options.toCondition;
    this.defaultProviderId = options.defaultProviderId;
  }

  /** `body`: the request as sent (lightspeed-stack's snake_case fields). */
  register(body: unknown, options: CallOptions): Promise<McpServer> {
    return this.audited('mcp-server-register', options, async meta => {
      const { spec, check } = parseRegisterRequest(
        body,
        this.defaultProviderId,
      );
      meta.name = spec.name;
      await this.authorize(options.credentials, mcpServerRegisterPermission);
      return this.service.register(spec, principalRef(options.credentials), {
        check,
      });
    });
  }

  /**
   * Config servers first, then stored ones; narrowed by a conditional decision,
   * and by `query.namePrefix` when given.
   */
  async list(
    options: CallOptions,
    query: { namePrefix?: string } = {},
  ): Promise<McpServer[]> {
    return this.service.list(
      await this.listCondition(options, query.namePrefix),
    );
  }

  async listPage(
    page: { limit: number; cursor?: string; namePrefix?: string },
    options: CallOptions,
  ): Promise<{ servers: McpServer[]; nextCursor?: string }> {
    const condition = await this.listCondition(options, page.namePrefix);
    return this.service.listPage(condition, page.limit, page.cursor);
  }

  /**
   * The servers a chat may use now: a register still under way is not offered
   * yet.
   */
  async listForChat(options: CallOptions): Promise<McpServer[]> {
    const servers = await this.list(options);
    return servers.filter(server => server.status !== 'pending');
  }

  /**
   * One server the caller may list; a hidden one answers 404, as a missing one.
   */
  async get(rawName: string, options: CallOptions): Promise<McpServer> {
    const name = parseName(rawName);
    return this.service.visible(name, await this.listCondition(options));
  }

  async tools(rawName: string, options: CallOptions): Promise<McpTool[]> {
    const name = parseName(rawName);
    return this.service.tools(name, await this.listCondition(options));
  }

  /**
   * Audited: the plugin connects out on the caller's behalf, and keeps the
   * result.
   */
  check(rawName: string, options: CallOptions): Promise<CheckResult> {
    return this.audited('mcp-server-check', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const condition = await this.listCondition(options);
      const result = await this.service.check(name, condition);
      meta.status = result.status;
      return result;
    });
  }

  /**
   * `body`: the change as sent; audited with the names of the changed fields,
   * never values.
   */
  update(
    rawName: string,
    body: unknown,
    options: CallOptions,
  ): Promise<McpServer> {
    return this.audited('mcp-server-update', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const patch = parsePatchRequest(body);
      meta.fields = Object.keys(patch);
      const condition = await this.authorizeConditional(
        options.credentials,
        mcpServerUpdatePermission,
      );
      return this.service.update(name, patch, condition);
    });
  }

  /** Resolves the name deleted. */
  delete(rawName: string, options: CallOptions): Promise<string> {
    return this.audited('mcp-server-delete', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const condition = await this.authorizeConditional(
        options.credentials,
        mcpServerDeletePermission,
      );
      await this.service.delete(name, condition);
      return name;
    });
  }

  /**
   * What the caller may list, narrowed to names starting with `rawNamePrefix`
   * when given: both the database filter and the in-memory test must pass.
   */
  private async listCondition(
    options: CallOptions,
    rawNamePrefix?: string,
  ): Promise<ServerCondition | undefined> {
    const namePrefix =
      rawNamePrefix === undefined ? undefined : parseNamePrefix(rawNamePrefix);
    const permitted = await this.authorizeConditional(
      options.credentials,
      mcpServerListPermission,
    );
    if (namePrefix === undefined) {
      return permitted;
    }
    const prefix: ServerCondition = {
      filter: { property: 'name_prefix', value: namePrefix },
      matches: server => server.name.startsWith(namePrefix),
    };
    return permitted
      ? {
          filter: { allOf: [prefix.filter, permitted.filter] },
          matches: server =>
            prefix.matches(server) && permitted.matches(server),
        }
      : prefix;
  }

  /** Throws 403 unless the permission is granted outright. */
  private async authorize(
    credentials: BackstageCredentials,
    permission: BasicPermission,
  ): Promise<void> {
    const [decision] = await this.permissions.authorize([{ permission }], {
      credentials,
    });
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `Permission '${permission.name}' is not granted`,
      );
    }
  }

  /**
   * Throws 403 when denied; resolves the condition to apply, or undefined when
   * everything is allowed.
   */
  private async authorizeConditional(
    credentials: BackstageCredentials,
    permission: ResourcePermission,
  ): Promise<ServerCondition | undefined> {
    const [decision] = await this.permissions.authorizeConditional(
      [{ permission }],
      { credentials },
    );
    if (decision.result === AuthorizeResult.DENY) {
      throw new NotAllowedError(
        `Permission '${permission.name}' is not granted`,
      );
    }
    return decision.result === AuthorizeResult.CONDITIONAL
      ? this.toCondition(decision)
      : undefined;
  }

  /**
   * Records the operation with the auditor, allowed or denied, succeeded or
   * failed. `meta` gets the server name once it is known, and a failure its
   * reason: the plugin's own fixed message, or a generic one for anything
   * unexpected, whose text (a driver's SQL, another service's answer) may carry
   * what an audit trail must not. The error middleware still logs those in
   * full.
   */
  private async audited<T>(
    eventId: string,
    options: CallOptions,
    work: (meta: JsonObject) => Promise<T>,
  ): Promise<T> {
    const meta: JsonObject = options.request
      ? {}
      : { caller: principalRef(options.credentials) };
    const event = await this.auditor.createEvent({
      eventId,
      severityLevel: 'medium',
      request: options.request,
    });
    let result: T;
    try {
      result = await work(meta);
    } catch (error) {
      const reported = isPluginError(error)
        ? error
        : new Error('An internal error occurred');
      await event.fail({
        error: reported,
        meta: { ...meta, reason: reported.message },
      });
      throw error;
    }
    await event.success({ meta });
    return result;
  }
}

/**
 * The errors whose messages are fixed texts of the plugin (or of Backstage's
 * request handling).
 */
const PLUGIN_ERROR_NAMES = new Set([
  'InputError',
  'AuthenticationError',
  'NotAllowedError',
  'NotFoundError',
  'ConflictError',
  'ServiceUnavailableError',
  'BadGatewayError',
  'PayloadTooLargeError',
]);

function isPluginError(error: unknown): error is Error {
  return error instanceof Error && PLUGIN_ERROR_NAMES.has(error.name);
}

/** Who acts: the user's entity ref, or the calling service's subject. */
export function principalRef(credentials: BackstageCredentials): string {
  const principal = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  return principal.userEntityRef ?? principal.subject ?? principal.type;
}

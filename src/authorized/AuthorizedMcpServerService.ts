import {
  AccessGuard,
  AccessGuardOptions,
  CallOptions,
  principalRef,
} from './AccessGuard';
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

export type { CallOptions } from './AccessGuard';

export interface AuthorizedMcpServerServiceOptions extends AccessGuardOptions {
  service: McpServerService;
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
  private readonly guard: AccessGuard;
  private readonly defaultProviderId: string;

  constructor(options: AuthorizedMcpServerServiceOptions) {
    this.service = options.service;
    this.guard = new AccessGuard(options);
    this.defaultProviderId = options.defaultProviderId;
  }

  /** `body`: the request as sent (lightspeed-stack's snake_case fields). */
  register(body: unknown, options: CallOptions): Promise<McpServer> {
    return this.guard.audited('mcp-server-register', options, async meta => {
      const { spec, check } = parseRegisterRequest(
        body,
        this.defaultProviderId,
      );
      meta.name = spec.name;
      await this.guard.authorize(
        options.credentials,
        mcpServerRegisterPermission,
      );
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
    return this.guard.audited('mcp-server-check', options, async meta => {
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
    return this.guard.audited('mcp-server-update', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const patch = parsePatchRequest(body);
      meta.fields = Object.keys(patch);
      const condition = await this.guard.authorizeConditional(
        options.credentials,
        mcpServerUpdatePermission,
      );
      return this.service.update(name, patch, condition);
    });
  }

  /** Resolves the name deleted. */
  delete(rawName: string, options: CallOptions): Promise<string> {
    return this.guard.audited('mcp-server-delete', options, async meta => {
      const name = parseName(rawName);
      meta.name = name;
      const condition = await this.guard.authorizeConditional(
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
    const permitted = await this.guard.authorizeConditional(
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
}

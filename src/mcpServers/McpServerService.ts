import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  toError,
} from '@backstage/errors';
import { McpServerRecord, McpServerStore } from '../database/McpServerStore';
import { UserSettingsStore } from '../database/UserSettingsStore';
import { decodeCursor, encodeCursor } from './cursor';
import { BadGatewayError } from './errors';
import { Upstream, UpstreamError } from '../upstream/Upstream';
import { ServerCondition } from '../permissions/conditions';
import {
  CheckResult,
  McpServer,
  McpServerFields,
  McpServerPatch,
  McpServerSpec,
  McpTool,
} from './types';
import { UrlPolicy } from '../mcpClient/urlPolicy';

export interface McpServerServiceOptions {
  store: McpServerStore;
  upstream: Upstream;
  staticServers: McpServerSpec[];
  logger: LoggerService;
  urlPolicy: UrlPolicy;
  checker: { check(name: string, url: string): Promise<CheckResult> };
  /** Users' settings of servers, which follow a server's delete or new URL. */
  userSettings: Pick<UserSettingsStore, 'removeForServer' | 'resetForServer'>;
}

/** The upstream calls of an operation, for its error messages. */
type Operation = 'register' | 'unregister' | 'update' | 'list tools';

/**
 * The use cases of the plugin and their order of work. The one place that knows
 * both the config servers and the stored ones, and keeps the store and the
 * upstream in line.
 */
export class McpServerService {
  private readonly store: McpServerStore;
  private readonly upstream: Upstream;
  private readonly staticServers: McpServerSpec[];
  private readonly staticNames: Set<string>;
  private readonly logger: LoggerService;
  private readonly urlPolicy: UrlPolicy;
  private readonly checker: McpServerServiceOptions['checker'];
  private readonly userSettings: McpServerServiceOptions['userSettings'];

  constructor(options: McpServerServiceOptions) {
    this.store = options.store;
    this.upstream = options.upstream;
    this.staticServers = options.staticServers;
    this.staticNames = new Set(options.staticServers.map(s => s.name));
    this.logger = options.logger;
    this.urlPolicy = options.urlPolicy;
    this.checker = options.checker;
    this.userSettings = options.userSettings;
  }

  /**
   * Claims the name durably, registers the toolgroup, and rolls the claim back
   * if Llama Stack fails. With `check`, the server must first pass a connection
   * check.
   */
  async register(
    spec: McpServerSpec,
    createdBy: string,
    options: { check?: boolean } = {},
  ): Promise<McpServer> {
    await this.assertUrlAllowed(spec.url);
    const taken = () =>
      new ConflictError(`MCP server '${spec.name}' already exists`);
    if (
      this.staticNames.has(spec.name) ||
      (options.check && (await this.store.get(spec.name)))
    ) {
      throw taken();
    }
    const check = options.check
      ? await this.checker.check(spec.name, spec.url)
      : undefined;
    if (check && !passes(check, spec)) {
      throw new InputError(
        `MCP server check failed (${check.status}): ${check.message}; MCP server '${spec.name}' was not registered`,
      );
    }

    const record = await this.store.claim(spec, createdBy);
    if (!record) {
      throw taken();
    }

    try {
      await this.upstream.register(spec);
    } catch (error) {
      await this.releaseClaim(record);
      throw this.toResponseError(error, 'register', spec.name);
    }

    if (!(await this.store.transition(record.id, 'pending', 'registered'))) {
      // A delete removed the claim while the upstream was registering: undo
      // our half too.
      await this.upstream
        .unregister(spec.name)
        .catch(error => this.logFailure('roll back', spec.name, error));
      throw new ConflictError(
        `MCP server '${spec.name}' was deleted while it was being registered`,
      );
    }
    const server = toServer({ ...record, state: 'registered' });
    if (check) {
      server.lastCheck = await this.saveCheck(spec.name, spec.url, check);
    }
    return this.present(server);
  }

  /**
   * Changes a server registered through the API. When its toolgroup changes
   * (URL or provider), Llama Stack is brought in line by unregistering and
   * registering again; if that fails, the old toolgroup and the old fields come
   * back, so the server is never left registered nowhere.
   */
  async update(
    name: string,
    patch: McpServerPatch,
    condition?: ServerCondition,
  ): Promise<McpServer> {
    const record = await this.writableRecord(
      name,
      condition,
      'update',
      'changed',
    );
    const previous = fieldsOf(record);
    const next: McpServerFields = { ...previous, ...patch };
    if (patch.url !== undefined && patch.url !== previous.url) {
      await this.assertUrlAllowed(patch.url);
    }
    const busy = () =>
      new ConflictError(
        `MCP server '${name}' is being registered, changed or deleted; try again later`,
      );
    // A check of the old URL says nothing about the new one, and users' tokens
    // for the old URL are not sent to the new one.
    const changed = async () => {
      if (next.url !== previous.url) {
        await this.userSettings.resetForServer(name);
      }
      return this.present(
        toServer({
          ...record,
          ...next,
          state: 'registered',
          lastCheck: next.url === previous.url ? record.lastCheck : undefined,
        }),
      );
    };
    if (
      !this.upstream.differs(previous, next) ||
      !(await this.upstream.syncing())
    ) {
      if (!(await this.store.update(record.id, next))) {
        throw busy();
      }
      return changed();
    }

    // Marked first, so that a crash in between leaves a record that says how to
    // put things back.
    if (!(await this.store.update(record.id, next, previous))) {
      throw busy();
    }
    try {
      await this.upstream.unregister(name);
    } catch (error) {
      await this.store.settleUpdate(record.id, 'revert');
      throw this.toResponseError(error, 'update', name);
    }
    try {
      await this.upstream.register({ name, ...next });
    } catch (error) {
      await this.upstream.register({ name, ...previous }).catch(rollbackError =>
        // The record gets its old fields back, and the reconciler registers
        // them when the upstream answers.
        this.logFailure('roll back the update of', name, rollbackError),
      );
      await this.store.settleUpdate(record.id, 'revert');
      throw this.toResponseError(error, 'update', name);
    }
    await this.store.settleUpdate(record.id, 'commit');
    return changed();
  }

  /**
   * Connects to the server, keeps the result as its last check, and answers it.
   */
  async check(name: string, condition?: ServerCondition): Promise<CheckResult> {
    const server = await this.visible(name, condition);
    const result = await this.checker.check(name, server.url);
    await this.saveCheck(name, server.url, result);
    return result;
  }

  /** The tools the upstream lists for the server. */
  async tools(name: string, condition?: ServerCondition): Promise<McpTool[]> {
    await this.visible(name, condition);
    let tools: McpTool[] | 'absent' | undefined;
    try {
      tools = await this.upstream.listTools?.(name);
    } catch (error) {
      throw this.toResponseError(error, 'list tools', name);
    }
    if (tools === undefined) {
      throw new ConflictError(this.upstream.noToolsText(name));
    }
    if (tools === 'absent') {
      const { name: upstream, noun } = this.upstream;
      throw new ConflictError(
        `${upstream} holds no ${noun} for MCP server '${name}' yet; its status says why`,
      );
    }
    return tools;
  }

  /**
   * Config servers first, in config order, then stored servers in registration
   * order; with a condition, only the servers it matches (stored ones filtered
   * by the database).
   */
  async list(condition?: ServerCondition): Promise<McpServer[]> {
    const [configServers, records] = await Promise.all([
      this.visibleConfigServers(condition),
      this.store.list(condition?.filter, {
        excludeNames: [...this.staticNames],
      }),
    ]);
    return [
      ...(await this.withLastChecks(configServers)),
      ...records.map(toServer),
    ].map(server => this.present(server));
  }

  /**
   * One page of the list, in the same order. The cursor names the last position
   * shown: an index among the config servers, or the id of a stored server, so
   * inserts never shift a page.
   */
  async listPage(
    condition: ServerCondition | undefined,
    limit: number,
    cursor: string | undefined,
  ): Promise<{ servers: McpServer[]; nextCursor?: string }> {
    const position = decodeCursor(cursor);
    const configServers =
      position.afterId === undefined
        ? await this.visibleConfigServers(condition)
        : [];
    const configPage = configServers.slice(
      position.configIndex ?? 0,
      (position.configIndex ?? 0) + limit,
    );
    const storedWanted = limit - configPage.length;
    // One more than wanted tells whether another page follows.
    const records = await this.store.list(condition?.filter, {
      afterId: position.afterId,
      limit: storedWanted + 1,
      excludeNames: [...this.staticNames],
    });
    const servers = [
      ...(await this.withLastChecks(configPage)),
      ...records.slice(0, storedWanted).map(toServer),
    ].map(server => this.present(server));

    let nextCursor: string | undefined;
    const configShownUpTo = (position.configIndex ?? 0) + configPage.length;
    if (
      position.afterId === undefined &&
      configShownUpTo < configServers.length
    ) {
      nextCursor = encodeCursor({ configIndex: configShownUpTo });
    } else if (records.length > storedWanted) {
      const lastShown = records[storedWanted - 1];
      nextCursor = encodeCursor({
        afterId: lastShown ? lastShown.id : (position.afterId ?? 0),
      });
    }
    return { servers, nextCursor };
  }

  private async visibleConfigServers(
    condition?: ServerCondition,
  ): Promise<McpServer[]> {
    if (this.staticServers.length === 0) {
      return [];
    }
    const configStatuses = await this.store.listConfigStatuses();
    const configServers = this.staticServers.map(server =>
      toConfigServer(server, configStatuses),
    );
    return condition
      ? configServers.filter(server => condition.matches(server))
      : configServers;
  }

  /** One server by name, from config or the database. */
  async find(name: string): Promise<McpServer | undefined> {
    const configServer = this.staticServers.find(
      server => server.name === name,
    );
    if (configServer) {
      const [server] = await this.withLastChecks([
        toConfigServer(configServer, await this.store.listConfigStatuses()),
      ]);
      return this.present(server);
    }
    const record = await this.store.get(name);
    return record && this.present(toServer(record));
  }

  /**
   * One server the caller may list; a server the condition hides is as unknown
   * as a missing one.
   */
  async visible(name: string, condition?: ServerCondition): Promise<McpServer> {
    const server = await this.find(name);
    if (!server || (condition && !condition.matches(server))) {
      throw new NotFoundError(`MCP server '${name}' is not registered`);
    }
    return server;
  }

  /**
   * Attaches each config server's last check, if it was made against its
   * current URL (stored servers come with theirs from the store).
   */
  private async withLastChecks(servers: McpServer[]): Promise<McpServer[]> {
    if (servers.length === 0) {
      return servers;
    }
    const checks = await this.store.listChecks(
      servers.map(server => server.name),
    );
    for (const server of servers) {
      const check = checks.get(server.name);
      if (check && check.url === server.url) {
        server.lastCheck = {
          status: check.status,
          toolCount: check.toolCount,
          checkedAt: check.checkedAt,
          message: check.message,
        };
      }
    }
    return servers;
  }

  private async saveCheck(name: string, url: string, result: CheckResult) {
    const { tools: _tools, ...lastCheck } = result;
    await this.store.saveCheck(name, { ...lastCheck, url });
    return lastCheck;
  }

  /**
   * Registration and changes accept only URLs whose host the URL policy allows.
   */
  private async assertUrlAllowed(url: string) {
    const refusal = await this.urlPolicy.refusalForUrl(url);
    if (refusal) {
      throw new InputError(`Invalid MCP server: 'url' is refused: ${refusal}`);
    }
  }

  /**
   * The stored record of a server an API call may change or delete: 404 when
   * unknown, 403 when the condition does not match or it comes from app-config.
   */
  private async writableRecord(
    name: string,
    condition: ServerCondition | undefined,
    action: 'update' | 'delete',
    verb: string,
  ): Promise<McpServerRecord> {
    const configServer = this.staticServers.find(
      candidate => candidate.name === name,
    );
    const record = configServer ? undefined : await this.store.get(name);
    const server = configServer
      ? toConfigServer(configServer, new Map())
      : record && toServer(record);
    if (!server) {
      throw new NotFoundError(`MCP server '${name}' is not registered`);
    }
    if (condition && !condition.matches(server)) {
      throw new NotAllowedError(
        `Permission 'lightspeed.mcp-server.${action}' is not granted for MCP server '${name}'`,
      );
    }
    if (!record) {
      throw new NotAllowedError(
        `MCP server '${name}' is defined in app-config and cannot be ${verb} through the API`,
      );
    }
    if (record.state === 'updating') {
      throw new ConflictError(
        `MCP server '${name}' is being changed; try again later`,
      );
    }
    return record;
  }

  /**
   * Unregisters the toolgroup, then removes the record; keeps the record when
   * Llama Stack fails. With a condition, the server must match it.
   */
  async delete(name: string, condition?: ServerCondition): Promise<void> {
    const record = await this.writableRecord(
      name,
      condition,
      'delete',
      'deleted',
    );

    // Marked first, so that a crash after Llama Stack answered leaves a record
    // that says what was under way.
    const previousState =
      record.state === 'deleting' ? 'registered' : record.state;
    await this.store.transition(record.id, record.state, 'deleting');
    try {
      await this.upstream.unregister(name);
    } catch (error) {
      await this.store.transition(record.id, 'deleting', previousState);
      throw this.toResponseError(error, 'unregister', name);
    }
    await this.store.remove(record.id);
    await this.store.removeCheck(name);
    await this.userSettings.removeForServer(name);
  }

  /**
   * Without toolgroup sync, a server is `stored`, unless its register is still
   * under way.
   */
  private present(server: McpServer): McpServer {
    const underWay = server.source === 'api' && server.status === 'pending';
    return this.upstream.active || underWay
      ? server
      : { ...server, status: 'stored', statusMessage: undefined };
  }

  private async releaseClaim(record: McpServerRecord): Promise<void> {
    try {
      await this.store.remove(record.id);
    } catch (error) {
      // The record stays `pending`, which marks it as never confirmed by Llama
      // Stack.
      this.logger.error(
        `Could not roll back the claim of MCP server '${record.name}'`,
        toError(error),
      );
    }
  }

  private logFailure(operation: string, name: string, error: unknown) {
    this.logger.warn(
      `Could not ${operation} MCP server '${name}' in ${this.upstream.name}`,
      toError(error),
    );
  }

  /**
   * Fixed texts only: Llama Stack's own answer goes to the log, never to the
   * caller.
   */
  private toResponseError(
    error: unknown,
    operation: Operation,
    name: string,
  ): Error {
    if (!(error instanceof UpstreamError)) {
      return error as Error;
    }
    this.logFailure(operation, name, error);
    const { name: upstream, noun } = this.upstream;
    const outcome =
      operation === 'list tools'
        ? `the tools of MCP server '${name}' were not listed`
        : `MCP server '${name}' was not ${operation === 'update' ? 'updated' : `${operation}ed`}`;
    // An unregister that fails keeps the record, so it can be retried: 503
    // rather than 502.
    const retryable = operation === 'unregister';
    const refused = (message: string) =>
      retryable
        ? new ServiceUnavailableError(`${message}; ${outcome}, try again later`)
        : new BadGatewayError(`${message}; ${outcome}`);
    switch (error.failure) {
      case 'conflict':
        return new ConflictError(
          `${this.upstream.conflictText(name)}; ${outcome}`,
        );
      case 'unsupported':
        return retryable
          ? new ServiceUnavailableError(
              `${this.upstream.unsupportedText}; ${outcome}`,
            )
          : new BadGatewayError(`${this.upstream.unsupportedText}; ${outcome}`);
      case 'unauthorized':
        return refused(`${upstream} refused the plugin's credentials`);
      case 'rejected':
        return retryable
          ? refused(`${upstream} refused to unregister the ${noun}`)
          : refused(
              `${upstream} rejected the ${operation === 'list tools' ? 'request' : 'registration'}`,
            );
      default:
        return new ServiceUnavailableError(
          `${upstream} is unavailable; ${outcome}${retryable ? ', try again later' : ''}`,
        );
    }
  }
}

/**
 * Whether a check lets a registration with `check: true` go on. A server that
 * wants a token the user supplies at query time (authorization_headers) cannot
 * authorize the plugin's check, so asking for authorization is what it should
 * do.
 */
function passes(check: CheckResult, spec: McpServerSpec): boolean {
  const suppliesAuthorization =
    Object.keys(spec.authorizationHeaders ?? {}).length > 0;
  return (
    check.status === 'ok' ||
    (check.status === 'auth_required' && suppliesAuthorization)
  );
}

function fieldsOf(record: McpServerRecord): McpServerFields {
  return {
    url: record.url,
    providerId: record.providerId,
    authorizationHeaders: record.authorizationHeaders,
    headers: record.headers,
    timeout: record.timeout,
  };
}

/**
 * `statuses`: the last sync of each config server, as the reconciler recorded
 * it.
 */
function toConfigServer(
  server: McpServerSpec,
  statuses: Map<string, string | undefined>,
): McpServer {
  const message = statuses.get(server.name);
  return {
    ...server,
    source: 'config',
    ...(statuses.has(server.name) ? statusOf(message) : { status: 'pending' }),
  };
}

function toServer(record: McpServerRecord): McpServer {
  return {
    name: record.name,
    url: record.url,
    providerId: record.providerId,
    authorizationHeaders: record.authorizationHeaders,
    headers: record.headers,
    timeout: record.timeout,
    createdBy: record.createdBy,
    createdAt: record.createdAt,
    lastCheck: record.lastCheck,
    source: 'api',
    ...(record.state === 'registered'
      ? statusOf(record.statusMessage)
      : { status: 'pending' }),
  };
}

function statusOf(
  message: string | undefined,
): Pick<McpServer, 'status' | 'statusMessage'> {
  return message
    ? { status: 'error', statusMessage: message }
    : { status: 'registered' };
}

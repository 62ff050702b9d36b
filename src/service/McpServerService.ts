import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, InputError, NotAllowedError, NotFoundError, ServiceUnavailableError } from '@backstage/errors';
import { McpServerRecord, McpServerStore } from '../database/McpServerStore';
import { BadGatewayError } from '../errors';
import { LlamaStackError, ToolgroupsApi } from '../llamaStack/LlamaStackClient';
import { ToolgroupSync } from '../llamaStack/ToolgroupSync';
import { ServerCondition } from '../rules';
import { McpServer, McpServerSpec } from '../types';

export interface McpServerServiceOptions {
  store: McpServerStore;
  llamaStack: ToolgroupsApi;
  sync: ToolgroupSync;
  staticServers: McpServerSpec[];
  logger: LoggerService;
}

/**
 * The use cases of the plugin and their order of work. The one place that knows both the config
 * servers and the stored ones, and keeps the store and Llama Stack in line.
 */
export class McpServerService {
  private readonly store: McpServerStore;
  private readonly llamaStack: ToolgroupsApi;
  private readonly sync: ToolgroupSync;
  private readonly staticServers: McpServerSpec[];
  private readonly staticNames: Set<string>;
  private readonly logger: LoggerService;

  constructor(options: McpServerServiceOptions) {
    this.store = options.store;
    this.llamaStack = options.llamaStack;
    this.sync = options.sync;
    this.staticServers = options.staticServers;
    this.staticNames = new Set(options.staticServers.map(s => s.name));
    this.logger = options.logger;
  }

  /** Claims the name durably, registers the toolgroup, and rolls the claim back if Llama Stack fails. */
  async register(spec: McpServerSpec, createdBy: string): Promise<McpServer> {
    const record = this.staticNames.has(spec.name) ? undefined : await this.store.claim(spec, createdBy);
    if (!record) {
      throw new ConflictError(`MCP server '${spec.name}' already exists`);
    }

    try {
      await this.whenSynced(() =>
        this.llamaStack.registerToolgroup({
          toolgroupId: spec.name,
          providerId: spec.providerId,
          mcpEndpointUri: spec.url,
        }),
      );
    } catch (error) {
      await this.releaseClaim(record);
      throw this.toResponseError(error, 'register', spec.name);
    }

    if (!(await this.store.transition(record.id, 'pending', 'registered'))) {
      // A delete removed the claim while Llama Stack was registering: undo our half too.
      await this.whenSynced(() => this.llamaStack.unregisterToolgroup(spec.name)).catch(error =>
        this.logFailure('roll back', spec.name, error),
      );
      throw new ConflictError(`MCP server '${spec.name}' was deleted while it was being registered`);
    }
    return this.present(toServer({ ...record, state: 'registered' }));
  }

  /**
   * Config servers first, in config order, then stored servers in registration order; with a
   * condition, only the servers it matches (stored ones filtered by the database).
   */
  async list(condition?: ServerCondition): Promise<McpServer[]> {
    const [configServers, records] = await Promise.all([
      this.visibleConfigServers(condition),
      this.store.list(condition?.filter, { excludeNames: [...this.staticNames] }),
    ]);
    return [...configServers, ...records.map(toServer)].map(server => this.present(server));
  }

  /**
   * One page of the list, in the same order. The cursor names the last position shown: an index among
   * the config servers, or the id of a stored server, so inserts never shift a page.
   */
  async listPage(
    condition: ServerCondition | undefined,
    limit: number,
    cursor: string | undefined,
  ): Promise<{ servers: McpServer[]; nextCursor?: string }> {
    const position = decodeCursor(cursor);
    const configServers = position.afterId === undefined ? await this.visibleConfigServers(condition) : [];
    const configPage = configServers.slice(position.configIndex ?? 0, (position.configIndex ?? 0) + limit);
    const storedWanted = limit - configPage.length;
    // One more than wanted tells whether another page follows.
    const records = await this.store.list(condition?.filter, {
      afterId: position.afterId,
      limit: storedWanted + 1,
      excludeNames: [...this.staticNames],
    });
    const servers = [...configPage, ...records.slice(0, storedWanted).map(toServer)].map(server =>
      this.present(server),
    );

    let nextCursor: string | undefined;
    const configShownUpTo = (position.configIndex ?? 0) + configPage.length;
    if (position.afterId === undefined && configShownUpTo < configServers.length) {
      nextCursor = encodeCursor({ configIndex: configShownUpTo });
    } else if (records.length > storedWanted) {
      const lastShown = records[storedWanted - 1];
      nextCursor = encodeCursor({ afterId: lastShown ? lastShown.id : position.afterId ?? 0 });
    }
    return { servers, nextCursor };
  }

  private async visibleConfigServers(condition?: ServerCondition): Promise<McpServer[]> {
    if (this.staticServers.length === 0) {
      return [];
    }
    const configStatuses = await this.store.listConfigStatuses();
    const configServers = this.staticServers.map(server => toConfigServer(server, configStatuses));
    return condition ? configServers.filter(server => condition.matches(server)) : configServers;
  }

  /** One server by name, from config or the database. */
  async find(name: string): Promise<McpServer | undefined> {
    const configServer = this.staticServers.find(server => server.name === name);
    if (configServer) {
      return this.present(toConfigServer(configServer, await this.store.listConfigStatuses()));
    }
    const record = await this.store.get(name);
    return record && this.present(toServer(record));
  }

  /**
   * Unregisters the toolgroup, then removes the record; keeps the record when Llama Stack fails.
   * With a condition, the server must match it.
   */
  async delete(name: string, condition?: ServerCondition): Promise<void> {
    const configServer = this.staticServers.find(candidate => candidate.name === name);
    const record = configServer ? undefined : await this.store.get(name);
    const server = configServer ? toConfigServer(configServer, new Map()) : record && toServer(record);
    if (!server) {
      throw new NotFoundError(`MCP server '${name}' is not registered`);
    }
    if (condition && !condition.matches(server)) {
      throw new NotAllowedError(`Permission 'lightspeed.mcp-server.delete' is not granted for MCP server '${name}'`);
    }
    if (!record) {
      throw new NotAllowedError(`MCP server '${name}' is defined in app-config and cannot be deleted through the API`);
    }

    // Marked first, so that a crash after Llama Stack answered leaves a record that says what was under way.
    const previousState = record.state === 'deleting' ? 'registered' : record.state;
    await this.store.transition(record.id, record.state, 'deleting');
    try {
      await this.whenSynced(() => this.llamaStack.unregisterToolgroup(name));
    } catch (error) {
      await this.store.transition(record.id, 'deleting', previousState);
      throw this.toResponseError(error, 'unregister', name);
    }
    await this.store.remove(record.id);
  }

  /**
   * Runs a toolgroups call when toolgroups are synced. In `auto` mode, a Llama Stack found to have no
   * toolgroups API turns sync off and the operation goes on without it.
   */
  private async whenSynced(call: () => Promise<unknown>): Promise<void> {
    if (!(await this.sync.check())) {
      return;
    }
    try {
      await call();
    } catch (error) {
      if (!(error instanceof LlamaStackError && error.failure === 'no-toolgroups-api' && this.sync.apiMissing())) {
        throw error;
      }
    }
  }

  /** Without toolgroup sync, a server is `stored`, unless its register is still under way. */
  private present(server: McpServer): McpServer {
    const underWay = server.source === 'api' && server.status === 'pending';
    return this.sync.active || underWay ? server : { ...server, status: 'stored', statusMessage: undefined };
  }

  private async releaseClaim(record: McpServerRecord): Promise<void> {
    try {
      await this.store.remove(record.id);
    } catch (error) {
      // The record stays `pending`, which marks it as never confirmed by Llama Stack.
      this.logger.error(`Could not roll back the claim of MCP server '${record.name}': ${describe(error)}`);
    }
  }

  private logFailure(operation: string, name: string, error: unknown) {
    this.logger.warn(`Could not ${operation} MCP server '${name}' in Llama Stack: ${describe(error)}`);
  }

  /** Fixed texts only: Llama Stack's own answer goes to the log, never to the caller. */
  private toResponseError(error: unknown, operation: 'register' | 'unregister', name: string): Error {
    if (!(error instanceof LlamaStackError)) {
      return error as Error;
    }
    this.logFailure(operation, name, error);
    const outcome = `MCP server '${name}' was not ${operation}ed`;
    switch (error.failure) {
      case 'conflict':
        return new ConflictError(`Llama Stack already holds a different toolgroup named '${name}'; ${outcome}`);
      case 'no-toolgroups-api': {
        const message =
          'Llama Stack has no toolgroups API (Llama Stack 0.7 and later removed it; this plugin needs 0.2 - 0.6); ' +
          outcome;
        return operation === 'register' ? new BadGatewayError(message) : new ServiceUnavailableError(message);
      }
      case 'rejected':
        return operation === 'register'
          ? new BadGatewayError(`Llama Stack rejected the registration; ${outcome}`)
          : new ServiceUnavailableError(`Llama Stack refused to unregister the toolgroup; ${outcome}, try again later`);
      default:
        return new ServiceUnavailableError(
          `Llama Stack is unavailable; ${outcome}${operation === 'unregister' ? ', try again later' : ''}`,
        );
    }
  }
}

/** `statuses`: the last sync of each config server, as the reconciler recorded it. */
function toConfigServer(server: McpServerSpec, statuses: Map<string, string | undefined>): McpServer {
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
    source: 'api',
    ...(record.state === 'registered' ? statusOf(record.statusMessage) : { status: 'pending' }),
  };
}

function statusOf(message: string | undefined): Pick<McpServer, 'status' | 'statusMessage'> {
  return message ? { status: 'error', statusMessage: message } : { status: 'registered' };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface CursorPosition {
  /** Next config server to show. */
  configIndex?: number;
  /** Last stored server shown. */
  afterId?: number;
}

function encodeCursor(position: CursorPosition): string {
  const text = position.afterId !== undefined ? `a${position.afterId}` : `c${position.configIndex}`;
  return Buffer.from(text).toString('base64url');
}

function decodeCursor(cursor: string | undefined): CursorPosition {
  if (cursor === undefined) {
    return {};
  }
  const match = /^([ac])(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) {
    throw new InputError("Invalid 'cursor': use the next_cursor of a previous page");
  }
  const value = Number(match[2]);
  return match[1] === 'a' ? { afterId: value } : { configIndex: value };
}

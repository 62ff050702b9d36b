import { McpServerFields, McpServerSpec } from '../../mcpServers/types';
import {
  callUpstream,
  classify,
  describeAnswer,
  isSuccess,
  UpstreamResponse,
} from '../http';
import {
  HeldServer,
  Upstream,
  UpstreamConnection,
  UpstreamError,
  UpstreamFailure,
} from '../Upstream';

const ROUTE = '/v1/mcp-servers';

const STATUS_MESSAGES: Record<UpstreamFailure, string> = {
  conflict: 'lightspeed-stack holds a different MCP server with this name',
  rejected: 'lightspeed-stack rejected the registration',
  unavailable:
    'lightspeed-stack was unavailable at the last attempt; it will be retried',
  unauthorized:
    "lightspeed-stack refused the plugin's token (lightspeedMcp.lightspeedStack.token)",
  unsupported: 'lightspeed-stack has no MCP servers API',
};

interface ListedServer {
  name: string;
  url: string;
  provider_id?: string;
  source?: 'config' | 'api';
}

/**
 * Servers in lightspeed-stack (LCS) through its runtime API
 * `/v1/mcp-servers`, the API this plugin reproduces. LCS keeps them in memory
 * only and sends each with every question to Llama Stack / OGX; the
 * reconciler puts them back after a restart. Servers from LCS's own config
 * are never changed.
 */
export class LightspeedStackUpstream implements Upstream {
  readonly name = 'lightspeed-stack';
  readonly noun = 'MCP server';
  readonly active = true;
  readonly unsupportedText =
    'lightspeed-stack has no MCP servers API (/v1/mcp-servers)';

  constructor(private readonly connection: UpstreamConnection) {}

  async syncing(): Promise<boolean> {
    return true;
  }

  /** LCS uses every field, unlike a toolgroup: all of them go. */
  async register(server: McpServerSpec): Promise<void> {
    const deadline = this.deadline();
    const operation = `POST ${ROUTE}`;
    const response = await this.call(deadline, 'POST', ROUTE, {
      name: server.name,
      url: server.url,
      provider_id: server.providerId,
      ...(server.authorizationHeaders && {
        authorization_headers: server.authorizationHeaders,
      }),
      ...(server.headers && { headers: server.headers }),
      ...(server.timeout !== undefined && { timeout: server.timeout }),
    });
    if (isSuccess(response)) {
      return;
    }
    if (response.status === 409) {
      throw this.failure('conflict', operation, response);
    }
    throw await this.failureOf(deadline, operation, response);
  }

  /**
   * Both delete dialects: PR #1330 answers 404 for an unknown name, later
   * versions 200 with `deleted: false`. A 403 is either a server of LCS's own
   * config (not ours: absent) or a refused token; the list tells which.
   */
  async unregister(name: string): Promise<'unregistered' | 'absent'> {
    const deadline = this.deadline();
    const path = `${ROUTE}/${encodeURIComponent(name)}`;
    const operation = `DELETE ${path}`;
    const response = await this.call(deadline, 'DELETE', path);
    if (isSuccess(response)) {
      return parseJson(response.text)?.deleted === false
        ? 'absent'
        : 'unregistered';
    }
    if (response.status === 404 || response.status === 403) {
      // Throws when the list fails too: no API, or a refused token.
      const held = await this.listWithin(deadline);
      if (response.status === 404 || held.get(name)?.source === 'config') {
        return 'absent';
      }
    }
    throw await this.failureOf(deadline, operation, response);
  }

  list(): Promise<Map<string, HeldServer>> {
    return this.listWithin(this.deadline());
  }

  differs(previous: McpServerFields, next: McpServerFields): boolean {
    return (
      previous.url !== next.url ||
      previous.providerId !== next.providerId ||
      previous.timeout !== next.timeout ||
      JSON.stringify(previous.authorizationHeaders) !==
        JSON.stringify(next.authorizationHeaders) ||
      JSON.stringify(previous.headers) !== JSON.stringify(next.headers)
    );
  }

  noToolsText(name: string): string {
    return (
      'lightspeed-stack does not list the tools of its MCP servers; ' +
      `POST /v1/mcp-servers/${encodeURIComponent(name)}/check lists the tools of the server itself`
    );
  }

  statusMessage(failure: UpstreamFailure): string {
    return STATUS_MESSAGES[failure];
  }

  conflictText(name: string): string {
    return `lightspeed-stack already holds an MCP server named '${name}'`;
  }

  describe(): string {
    return 'lightspeed-stack';
  }

  private async listWithin(deadline: number): Promise<Map<string, HeldServer>> {
    const operation = `GET ${ROUTE}`;
    const response = await this.call(deadline, 'GET', ROUTE);
    if (!isSuccess(response)) {
      throw this.failure(failureOf(response.status), operation, response);
    }
    const servers = parseJson(response.text)?.servers;
    if (!Array.isArray(servers)) {
      throw new UpstreamError(
        'rejected',
        `lightspeed-stack at ${this.connection.baseUrl} answered ${operation} without a list of servers`,
      );
    }
    return new Map(
      (servers as ListedServer[]).map(server => [
        server.name,
        {
          url: server.url,
          providerId: server.provider_id,
          source: server.source,
        },
      ]),
    );
  }

  /**
   * A 404 means "no such server" only where the list route exists; without
   * it this LCS has no runtime API at all.
   */
  private async failureOf(
    deadline: number,
    operation: string,
    response: UpstreamResponse,
  ): Promise<UpstreamError> {
    if (response.status === 404) {
      await this.listWithin(deadline);
    }
    return this.failure(failureOf(response.status), operation, response);
  }

  private failure(
    failure: UpstreamFailure,
    operation: string,
    response: UpstreamResponse,
  ): UpstreamError {
    return new UpstreamError(
      failure,
      describeAnswer(
        `lightspeed-stack at ${this.connection.baseUrl}`,
        operation,
        response,
      ),
    );
  }

  private deadline(): number {
    return Date.now() + this.connection.timeoutMs;
  }

  private call(
    deadline: number,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<UpstreamResponse> {
    return callUpstream(this.connection, {
      deadline,
      method,
      path,
      body,
      noAnswer: message => new UpstreamError('unavailable', message),
    });
  }
}

function failureOf(status: number): UpstreamFailure {
  if (status === 401 || status === 403) {
    return 'unauthorized';
  }
  return status === 404 ? 'unsupported' : classify(status);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

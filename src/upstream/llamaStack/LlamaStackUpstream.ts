import {
  McpServerFields,
  McpServerSpec,
  McpTool,
} from '../../mcpServers/types';
import {
  HeldServer,
  Upstream,
  UpstreamError,
  UpstreamFailure,
} from '../Upstream';
import {
  LlamaStackError,
  LlamaStackFailure,
  ToolgroupsApi,
} from './LlamaStackClient';
import { ToolgroupSync } from './ToolgroupSync';

const FAILURES: Record<LlamaStackFailure, UpstreamFailure> = {
  conflict: 'conflict',
  rejected: 'rejected',
  unavailable: 'unavailable',
  'no-toolgroups-api': 'unsupported',
};

const STATUS_MESSAGES: Record<UpstreamFailure, string> = {
  conflict: 'Llama Stack holds a different toolgroup with this name',
  rejected: 'Llama Stack rejected the registration',
  unavailable:
    'Llama Stack was unavailable at the last attempt; it will be retried',
  unauthorized:
    "Llama Stack refused the plugin's token (lightspeedMcp.llamaStack.token)",
  unsupported: 'Llama Stack has no toolgroups API',
};

/**
 * Servers as Llama Stack 0.2 - 0.6 toolgroups, in the toolgroups mode of
 * ToolgroupSync: in `auto` mode, a Llama Stack found to have no toolgroups API
 * turns sync off and the operation goes on without it.
 */
export class LlamaStackUpstream implements Upstream {
  readonly name = 'Llama Stack';
  readonly noun = 'toolgroup';
  readonly unsupportedText =
    'Llama Stack has no toolgroups API (Llama Stack 0.7 and later removed it; ' +
    'this plugin needs 0.2 - 0.6)';

  constructor(
    private readonly client: ToolgroupsApi,
    private readonly sync: ToolgroupSync,
  ) {}

  get active(): boolean {
    return this.sync.active;
  }

  syncing(force = false): Promise<boolean> {
    return this.sync.check(force);
  }

  async register(server: McpServerSpec): Promise<void> {
    await this.whenSynced(() =>
      this.client.registerToolgroup({
        toolgroupId: server.name,
        providerId: server.providerId,
        mcpEndpointUri: server.url,
      }),
    );
  }

  async unregister(name: string): Promise<'unregistered' | 'absent'> {
    const result = await this.whenSynced(() =>
      this.client.unregisterToolgroup(name),
    );
    return result ?? 'absent';
  }

  async list(): Promise<Map<string, HeldServer> | undefined> {
    const toolgroups = await this.whenSynced(() =>
      this.client.listToolgroups(),
    );
    if (!toolgroups) {
      return undefined;
    }
    return new Map(
      toolgroups.map(toolgroup => [
        toolgroup.identifier,
        {
          url: toolgroup.mcp_endpoint?.uri ?? '',
          providerId: toolgroup.provider_id,
        },
      ]),
    );
  }

  async listTools(name: string): Promise<McpTool[] | 'absent' | undefined> {
    const tools = await this.whenSynced(() => this.client.listTools(name));
    if (tools === undefined || tools === 'absent') {
      return tools;
    }
    return tools.map(tool =>
      tool.description
        ? { name: tool.name, description: tool.description }
        : { name: tool.name },
    );
  }

  /** A toolgroup is its id, provider and URL: nothing else reaches Llama Stack. */
  differs(previous: McpServerFields, next: McpServerFields): boolean {
    return previous.url !== next.url || previous.providerId !== next.providerId;
  }

  noToolsText(name: string): string {
    return (
      `Llama Stack does not hold toolgroups (toolgroups mode ${this.sync.mode}, ` +
      'or Llama Stack 0.7 and later); ' +
      `POST /v1/mcp-servers/${encodeURIComponent(name)}/check lists the tools of the server itself`
    );
  }

  statusMessage(failure: UpstreamFailure): string {
    return STATUS_MESSAGES[failure];
  }

  conflictText(name: string): string {
    return `Llama Stack already holds a different toolgroup named '${name}'`;
  }

  describe(): string {
    return `Llama Stack toolgroups (toolgroups mode ${this.sync.mode})`;
  }

  /** Runs a toolgroups call when syncing; undefined when it did not run. */
  private async whenSynced<T>(call: () => Promise<T>): Promise<T | undefined> {
    if (!(await this.sync.check())) {
      return undefined;
    }
    try {
      return await translated(call);
    } catch (error) {
      if (
        error instanceof UpstreamError &&
        error.failure === 'unsupported' &&
        this.sync.apiMissing()
      ) {
        return undefined;
      }
      throw error;
    }
  }
}

async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LlamaStackError) {
      throw new UpstreamError(FAILURES[error.failure], error.message);
    }
    throw error;
  }
}

import { Config, readDurationFromConfig } from '@backstage/config';
import { durationToMilliseconds, HumanDuration } from '@backstage/types';
import { McpServerSpec } from '../mcpServers/types';
import { UpstreamConnection } from '../upstream/Upstream';
import {
  TOOLGROUPS_MODES,
  ToolgroupsMode,
} from '../upstream/llamaStack/ToolgroupSync';
import { UrlPolicy } from '../mcpClient/urlPolicy';
import { parseStaticServer } from '../mcpServers/validation';
import { TokenCipher } from '../userSettings/TokenCipher';

export const DEFAULT_PROVIDER_ID = 'model-context-protocol';
const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export interface LlamaStackConfig extends UpstreamConnection {
  toolgroups: ToolgroupsMode;
}

/** Exactly one is set: where servers sync to. */
export interface PluginConfig {
  llamaStack?: LlamaStackConfig;
  /** lightspeed-stack's runtime MCP servers API (RHDH). */
  lightspeedStack?: UpstreamConnection;
  defaultProviderId: string;
  staticServers: McpServerSpec[];
  /** The org token of each app-config server that has one, by name. */
  orgTokens: Map<string, string>;
  /**
   * Encrypts personal tokens; without `tokenEncryption.keys`, tokens are
   * refused.
   */
  tokenCipher?: TokenCipher;
  /**
   * How often the reconciler brings Llama Stack in line with the database and
   * the config.
   */
  reconcileFrequency: HumanDuration;
  /**
   * How long one reconcile run may take; also how long a replica that died
   * mid-run blocks the next.
   */
  reconcileTimeout: HumanDuration;
  /**
   * Which MCP server addresses the plugin connects to, and accepts at
   * registration.
   */
  urlPolicy: UrlPolicy;
  /** Time limit of one connection check of an MCP server. */
  checkTimeoutMs: number;
  /**
   * Whether the register and unregister actions are offered to the actions
   * registry (AI agents); the read actions always are.
   */
  actionsAllowWrites: boolean;
}

/**
 * Reads and validates `lightspeedMcp`; throws a message naming the bad key,
 * which stops the plugin.
 */
export function readPluginConfig(rootConfig: Config): PluginConfig {
  const config = rootConfig.getConfig('lightspeedMcp');
  const defaultProviderId =
    config.getOptionalString('defaultProviderId') ?? DEFAULT_PROVIDER_ID;
  return {
    ...readUpstream(config),
    defaultProviderId,
    ...readStaticServers(config, defaultProviderId),
    tokenCipher: readTokenCipher(config),
    reconcileFrequency: readOptionalDuration(config, 'reconcile.frequency') ?? {
      minutes: 1,
    },
    reconcileTimeout: readOptionalDuration(config, 'reconcile.timeout') ?? {
      minutes: 5,
    },
    urlPolicy: new UrlPolicy({
      allow: config.getOptionalStringArray('urlPolicy.allow'),
      deny: config.getOptionalStringArray('urlPolicy.deny'),
    }),
    checkTimeoutMs:
      readPositiveMilliseconds(config, 'check.timeout') ??
      DEFAULT_CHECK_TIMEOUT_MS,
    actionsAllowWrites:
      config.getOptionalBoolean('actions.allowWrites') ?? false,
  };
}

/** `path`: where `config` sits, for the error message. */
function readPositiveMilliseconds(
  config: Config,
  key: string,
  path = 'lightspeedMcp',
): number | undefined {
  const duration = readOptionalDuration(config, key);
  if (!duration) {
    return undefined;
  }
  const milliseconds = durationToMilliseconds(duration);
  if (!(milliseconds > 0)) {
    throw new Error(`${path}.${key} must be a positive duration`);
  }
  return milliseconds;
}

function readOptionalDuration(
  config: Config,
  key: string,
): HumanDuration | undefined {
  return config.has(key) ? readDurationFromConfig(config, { key }) : undefined;
}

/** One upstream, named by its key; both or neither is a configuration error. */
function readUpstream(
  config: Config,
): Pick<PluginConfig, 'llamaStack' | 'lightspeedStack'> {
  const hasLlamaStack = config.has('llamaStack');
  const hasLightspeedStack = config.has('lightspeedStack');
  if (hasLlamaStack && hasLightspeedStack) {
    throw new Error(
      'lightspeedMcp.llamaStack and lightspeedMcp.lightspeedStack are both set; ' +
        'set lightspeedMcp.lightspeedStack to sync MCP servers to lightspeed-stack (RHDH), ' +
        'or lightspeedMcp.llamaStack for Llama Stack toolgroups, not both',
    );
  }
  if (hasLightspeedStack) {
    return {
      lightspeedStack: readConnection(
        config.getConfig('lightspeedStack'),
        'lightspeedMcp.lightspeedStack',
      ),
    };
  }
  if (!hasLlamaStack) {
    throw new Error(
      'Neither lightspeedMcp.lightspeedStack nor lightspeedMcp.llamaStack is set; ' +
        'set lightspeedMcp.lightspeedStack.baseUrl (lightspeed-stack, as in RHDH) ' +
        'or lightspeedMcp.llamaStack.baseUrl (Llama Stack toolgroups)',
    );
  }
  const llamaStack = config.getConfig('llamaStack');
  const toolgroups = llamaStack.getOptionalString('toolgroups') ?? 'auto';
  if (!(TOOLGROUPS_MODES as readonly string[]).includes(toolgroups)) {
    throw new Error(
      `lightspeedMcp.llamaStack.toolgroups must be one of ${TOOLGROUPS_MODES.join(', ')}`,
    );
  }
  return {
    llamaStack: {
      ...readConnection(llamaStack, 'lightspeedMcp.llamaStack'),
      toolgroups: toolgroups as ToolgroupsMode,
    },
  };
}

/** `path`: where `config` sits, for error messages. */
function readConnection(config: Config, path: string): UpstreamConnection {
  const baseUrl = config.getString('baseUrl');
  let parsed: URL | undefined;
  try {
    parsed = new URL(baseUrl);
  } catch {
    parsed = undefined;
  }
  if (
    !parsed ||
    (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
  ) {
    throw new Error(
      `${path}.baseUrl must be an absolute http:// or https:// URL`,
    );
  }
  return {
    baseUrl: baseUrl.replace(/\/+$/, ''),
    token: config.getOptionalString('token') || undefined,
    timeoutMs:
      readPositiveMilliseconds(config, 'timeout', path) ??
      DEFAULT_UPSTREAM_TIMEOUT_MS,
  };
}

function readTokenCipher(config: Config): TokenCipher | undefined {
  const keys = config.getOptionalConfigArray('tokenEncryption.keys') ?? [];
  return keys.length > 0
    ? new TokenCipher(keys.map(key => key.getString('secret')))
    : undefined;
}

function readStaticServers(
  config: Config,
  defaultProviderId: string,
): Pick<PluginConfig, 'staticServers' | 'orgTokens'> {
  const entries = config.getOptionalConfigArray('mcpServers') ?? [];
  const servers: McpServerSpec[] = [];
  const orgTokens = new Map<string, string>();
  const seen = new Map<string, number>();
  entries.forEach((entry, index) => {
    const location = `lightspeedMcp.mcpServers[${index}]`;
    const { spec: server, token } = parseStaticServer(
      entry.get(),
      defaultProviderId,
      location,
    );
    const earlier = seen.get(server.name);
    if (earlier !== undefined) {
      throw new Error(
        `Invalid MCP server at ${location}: name '${server.name}' is already used by lightspeedMcp.mcpServers[${earlier}]`,
      );
    }
    seen.set(server.name, index);
    servers.push(server);
    if (token) {
      orgTokens.set(server.name, token);
    }
  });
  return { staticServers: servers, orgTokens };
}

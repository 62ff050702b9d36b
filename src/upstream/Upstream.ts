import { McpServerFields, McpServerSpec, McpTool } from '../mcpServers/types';

/**
 * What went wrong in a call to the upstream, in the few kinds the plugin
 * answers differently:
 * - `conflict`: the upstream holds another server under that name;
 * - `rejected`: it refused the request, which will not succeed by retrying;
 * - `unavailable`: no connection, no answer in time, 429 or 5xx: retry later;
 * - `unauthorized`: it refused the plugin's own credentials (a configuration
 *   error of the deployment);
 * - `unsupported`: it lacks the API altogether (Llama Stack 0.7 and later).
 */
export type UpstreamFailure =
  'conflict' | 'rejected' | 'unavailable' | 'unauthorized' | 'unsupported';

/** Its message is for the log only: it can hold the upstream's own text. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Where an HTTP upstream is, as configured. */
export interface UpstreamConnection {
  /** Without a trailing slash. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Time limit of one operation. */
  timeoutMs: number;
}

/** A server as the upstream lists it. */
export interface HeldServer {
  url: string;
  providerId?: string;
  /** `config`: from the upstream's own configuration; never ours to change. */
  source?: 'config' | 'api';
}

/**
 * Where servers go to reach the model: Llama Stack's toolgroups, or
 * lightspeed-stack's runtime API. The use cases and the reconciler know only
 * this; each implementation maps every upstream answer to an UpstreamError.
 */
export interface Upstream {
  /** Its name in messages and logs, e.g. `Llama Stack`. */
  readonly name: string;
  /** What it calls a server in messages, e.g. `toolgroup`. */
  readonly noun: string;
  /**
   * Whether servers are synced, as last known and without a call: false lists
   * them as `stored`.
   */
  readonly active: boolean;
  /** Whether to sync now; may ask the upstream (`force`: always ask). */
  syncing(force?: boolean): Promise<boolean>;
  /** Does nothing when not syncing. */
  register(server: McpServerSpec): Promise<void>;
  /**
   * `absent`: it did not hold the server, or holds one that is not ours to
   * remove (from its own configuration). Does nothing when not syncing.
   */
  unregister(name: string): Promise<'unregistered' | 'absent'>;
  /** What it holds, by name; undefined when it turned out not to sync. */
  list(): Promise<Map<string, HeldServer> | undefined>;
  /**
   * The tools it lists for one server: `absent` when it holds no such one,
   * undefined when it holds none at all now (not syncing).
   */
  listTools?(name: string): Promise<McpTool[] | 'absent' | undefined>;
  /** Why it lists no tools, for an error answer (with a way forward). */
  noToolsText(name: string): string;
  /** Whether a change from `previous` to `next` must reach the upstream. */
  differs(previous: McpServerFields, next: McpServerFields): boolean;
  /** The fixed `status_message` of a failed sync. */
  statusMessage(failure: UpstreamFailure): string;
  /** The fixed text of a conflict over `name`, for an error answer. */
  conflictText(name: string): string;
  /** The fixed text of an `unsupported` failure, for an error answer. */
  readonly unsupportedText: string;
  /** For the startup log line. */
  describe(): string;
}

/**
 * How the value of an authorization header reaches the MCP server at query time
 * (never stored here).
 */
export const AUTHORIZATION_KINDS = ['client', 'kubernetes', 'oauth'] as const;
export type AuthorizationKind = (typeof AUTHORIZATION_KINDS)[number];

/** What a user (API) or an admin (app-config) says about one MCP server. */
export interface McpServerSpec {
  name: string;
  url: string;
  providerId: string;
  authorizationHeaders?: Record<string, AuthorizationKind>;
  headers?: string[];
  /** seconds */
  timeout?: number;
}

export type McpServerSource = 'config' | 'api';

/**
 * Where a server stands with Llama Stack: `registered` (confirmed), `pending`
 * (in progress or waiting for the reconciler), `error` (the last attempt
 * failed; see the status message), or `stored` when toolgroups are not synced
 * (Llama Stack 0.7+, or sync disabled).
 */
export type McpServerStatus = 'registered' | 'pending' | 'error' | 'stored';

/** What can change of a server after registration (PATCH): all but its name. */
export type McpServerFields = Omit<McpServerSpec, 'name'>;

/**
 * A change of a server: a field given as undefined is removed, one left out is
 * kept.
 */
export type McpServerPatch = Partial<McpServerFields>;

/**
 * The outcome of connecting to an MCP server: `ok` (initialize and tools/list
 * answered), `auth_required` (it answered 401 or 403), `unreachable` (no
 * connection, or no answer in time), or `error` (anything else, such as a
 * refused address or a broken handshake).
 */
export type CheckStatus = 'ok' | 'unreachable' | 'auth_required' | 'error';

export interface McpTool {
  name: string;
  description?: string;
}

export interface CheckResult {
  status: CheckStatus;
  /**
   * null unless the check succeeded: an unreachable server has an unknown
   * number of tools, not zero.
   */
  toolCount: number | null;
  tools: McpTool[];
  /** ISO 8601 */
  checkedAt: string;
  /** Fixed text of the plugin. */
  message: string;
}

/** A check as list entries show it: the tools themselves are left out. */
export type LastCheck = Omit<CheckResult, 'tools'>;

/** A server as the list shows it: config servers have no creator. */
export interface McpServer extends McpServerSpec {
  source: McpServerSource;
  status: McpServerStatus;
  /** Fixed text of the plugin, set when status is `error`. */
  statusMessage?: string;
  createdBy?: string;
  createdAt?: string;
  /** The last connection check of its current URL, if any. */
  lastCheck?: LastCheck;
}

/**
 * One condition on stored servers, as the permission rules produce it; nested
 * with allOf/anyOf/not.
 */
export type McpServerFilter =
  /** Registered by one of these entity refs (case-insensitive). */
  | { property: 'created_by'; values: string[] }
  /** Stored servers are all `api`. */
  | { property: 'source'; value: McpServerSource }
  | { property: 'name_prefix'; value: string };

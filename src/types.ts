/** How the value of an authorization header reaches the MCP server at query time (never stored here). */
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
 * Where a server stands with Llama Stack: `registered` (confirmed), `pending` (in progress or waiting
 * for the reconciler), `error` (the last attempt failed; see the status message), or `stored` when
 * toolgroups are not synced (Llama Stack 0.7+, or sync disabled).
 */
export type McpServerStatus = 'registered' | 'pending' | 'error' | 'stored';

/** A server as the list shows it: config servers have no creator. */
export interface McpServer extends McpServerSpec {
  source: McpServerSource;
  status: McpServerStatus;
  /** Fixed text of the plugin, set when status is `error`. */
  statusMessage?: string;
  createdBy?: string;
  createdAt?: string;
}

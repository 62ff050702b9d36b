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

/** A server as the list shows it: config servers have no creator. */
export interface McpServer extends McpServerSpec {
  source: McpServerSource;
  createdBy?: string;
  createdAt?: string;
}

import {
  CheckResult,
  CheckStatus,
  LastCheck,
  McpServer,
} from '../mcpServers/types';

/** A check on the wire; `tools` only in the answer of a check itself. */
export interface WireCheck {
  status: CheckStatus;
  tool_count: number | null;
  tools?: CheckResult['tools'];
  checked_at: string;
  message: string;
}

/**
 * A server on the wire: lightspeed-stack's snake_case fields, plus the plugin's
 * own.
 */
export interface WireMcpServer {
  name: string;
  url: string;
  provider_id: string;
  source: McpServer['source'];
  status: McpServer['status'];
  status_message?: string;
  authorization_headers?: McpServer['authorizationHeaders'];
  headers?: string[];
  timeout?: number;
  created_by?: string;
  created_at?: string;
  last_check?: WireCheck;
}

export function toWire(server: McpServer): WireMcpServer {
  // Plain assignments: this runs once per server of a list, up to tens of
  // thousands per request.
  const wire: WireMcpServer = {
    name: server.name,
    url: server.url,
    provider_id: server.providerId,
    source: server.source,
    status: server.status,
  };
  if (server.statusMessage) {
    wire.status_message = server.statusMessage;
  }
  if (server.authorizationHeaders) {
    wire.authorization_headers = server.authorizationHeaders;
  }
  if (server.headers) {
    wire.headers = server.headers;
  }
  if (server.timeout !== undefined) {
    wire.timeout = server.timeout;
  }
  if (server.createdBy) {
    wire.created_by = server.createdBy;
  }
  if (server.createdAt) {
    wire.created_at = server.createdAt;
  }
  if (server.lastCheck) {
    wire.last_check = checkToWire(server.lastCheck);
  }
  return wire;
}

export function checkToWire(check: LastCheck | CheckResult): WireCheck {
  return {
    status: check.status,
    tool_count: check.toolCount,
    ...('tools' in check && { tools: check.tools }),
    checked_at: check.checkedAt,
    message: check.message,
  };
}

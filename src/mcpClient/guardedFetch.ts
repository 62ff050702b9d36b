import { isIP } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { resolveHost, UrlPolicy } from './urlPolicy';

/**
 * The URL policy refused a connection; its message is a fixed text naming the
 * host, never its address.
 */
export class UrlPolicyRefusal extends Error {
  override name = 'UrlPolicyRefusal';
}

export interface GuardedFetch {
  /** `fetch`, with every connection checked against the URL policy. */
  fetch: typeof globalThis.fetch;
  /** HTTP statuses of the answers received, in order. */
  readonly statuses: number[];
  /** Set when the policy refused a connection. */
  readonly refusal?: UrlPolicyRefusal;
  /** Closes every connection, hung ones included. */
  close(): Promise<void>;
}

/**
 * A fetch for talking to one MCP server. The policy is applied where the socket
 * is opened: the host name is resolved once, every address it resolves to is
 * checked, and the socket goes to a checked address. So a redirect (followed or
 * not by the caller) and a DNS answer that changes between a check and the
 * connection cannot reach a refused address.
 */
export function createGuardedFetch(
  policy: UrlPolicy,
  connectTimeoutMs: number,
): GuardedFetch {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  const state: { statuses: number[]; refusal?: UrlPolicyRefusal } = {
    statuses: [],
  };

  const agent = new Agent({
    connect(options, callback) {
      const hostname = unbracketed(options.hostname);
      resolveHost(hostname)
        .then(addresses => {
          const reason = addresses
            .map(address => policy.refusalFor(hostname, address))
            .find(Boolean);
          if (reason) {
            state.refusal = new UrlPolicyRefusal(
              `The URL policy refuses a connection to ${hostname}: ${reason}`,
            );
            throw state.refusal;
          }
          // The certificate is still checked against the host name: servername
          // stays the name.
          connect(
            {
              ...options,
              hostname: addresses[0],
              servername:
                options.servername ?? (isIP(hostname) ? undefined : hostname),
            },
            callback,
          );
        })
        .catch(error => callback(error, null));
    },
  });

  const guarded = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await undiciFetch(input as string, {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    });
    state.statuses.push(response.status);
    return response as unknown as Response;
  };

  return {
    fetch: guarded as typeof globalThis.fetch,
    get statuses() {
      return state.statuses;
    },
    get refusal() {
      return state.refusal;
    },
    close: () => agent.destroy(),
  };
}

function unbracketed(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']')
    ? hostname.slice(1, -1)
    : hostname;
}

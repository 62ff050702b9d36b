import { UpstreamConnection } from './Upstream';

/** An answer of an upstream, its body as text (for the log, if it failed). */
export interface UpstreamResponse {
  status: number;
  text: string;
}

const LOGGED_BODY_LIMIT = 500;

/** One call to an upstream. */
export interface UpstreamCall {
  /** Calls of one operation share it: none waits past the timeout. */
  deadline: number;
  method: string;
  path: string;
  body?: unknown;
  /** The error to throw when no answer came: refused, reset, or too late. */
  noAnswer(message: string): Error;
}

export async function callUpstream(
  connection: UpstreamConnection,
  { deadline, method, path, body, noAnswer }: UpstreamCall,
): Promise<UpstreamResponse> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  if (connection.token) {
    headers.authorization = `Bearer ${connection.token}`;
  }
  const send = async () => {
    const response = await fetch(`${connection.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // A redirect would replay the call somewhere the admin did not
      // configure.
      redirect: 'manual',
      signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
    });
    return { status: response.status, text: await response.text() };
  };
  try {
    try {
      return await send();
    } catch (error) {
      // A kept-alive connection the upstream closed (it restarted) fails
      // once; an idempotent call is safe to send again on a new one.
      if (IDEMPOTENT.has(method) && causeCode(error) === 'UND_ERR_SOCKET') {
        return await send();
      }
      throw error;
    }
  } catch (error) {
    throw noAnswer(
      `${method} ${connection.baseUrl}${path} failed: ${describeFetchError(error, connection.timeoutMs)}`,
    );
  }
}

const IDEMPOTENT = new Set(['GET', 'DELETE']);

export function isSuccess(response: UpstreamResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

/** Worth retrying later, or not. */
export function classify(status: number): 'unavailable' | 'rejected' {
  return status >= 500 || status === 429 || status === 408
    ? 'unavailable'
    : 'rejected';
}

/** For the log: what was answered, cut short. */
export function describeAnswer(
  upstream: string,
  operation: string,
  response: UpstreamResponse,
): string {
  const body =
    response.text.length > LOGGED_BODY_LIMIT
      ? `${response.text.slice(0, LOGGED_BODY_LIMIT)}...`
      : response.text;
  return `${upstream} answered ${response.status} to ${operation}: ${body}`;
}

function causeCode(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } } | undefined)?.cause?.code;
}

// Duck-typed: fetch's errors may come from another realm (as under jest).
function describeFetchError(error: unknown, timeoutMs: number): string {
  const { name, message, cause } = (error ?? {}) as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (name === 'TimeoutError' || name === 'AbortError') {
    return `no answer within ${timeoutMs} ms`;
  }
  return cause?.code ?? cause?.message ?? message ?? String(error);
}

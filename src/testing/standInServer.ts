import http from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * What the stand-ins for upstream servers (Llama Stack, lightspeed-stack)
 * share: an HTTP server on loopback that can be stopped (connection refused)
 * and started again on the same port, records every call, checks an optional
 * bearer token and fails on demand (any status, slow, hanging).
 *
 * A subclass decides what the routes answer and what its error bodies look
 * like; the order of work for each call is fixed here: read the JSON body,
 * record the call, answer an unreadable body (if the subclass wants to), apply
 * a fault, check the token, route.
 */

export interface StandInCall {
  method: string;
  /** Path and query, as received (still URL-encoded). */
  path: string;
  body?: unknown;
  authorization?: string;
}

/** What a fault does to a call it hits. */
export type StandInFault =
  | { status: number; message?: string }
  | { delayMs: number }
  /** Never answers (until the stand-in stops). */
  | { hang: true };

export interface FaultOptions {
  /** Hit only calls of this method; default every method. */
  method?: 'GET' | 'POST' | 'DELETE';
  /** Hit this many calls, then stop; default every call until clearFaults(). */
  times?: number;
}

export interface StandInServerOptions {
  /** Default: 0, any free port. */
  port?: number;
  /** Every call must carry `Authorization: Bearer <token>`. */
  token?: string;
}

const MAX_BODY_BYTES = 1024 * 1024;

export abstract class StandInServer {
  /** Every call received, in order. */
  readonly calls: StandInCall[] = [];
  /**
   * Request bodies the real server would refuse; a correct client leaves this
   * empty.
   */
  readonly schemaViolations: string[] = [];

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly token: string | undefined;
  private faults: Array<{
    fault: StandInFault;
    options: FaultOptions;
    left: number;
  }> = [];
  private port: number;

  protected constructor(options: StandInServerOptions) {
    this.port = options.port ?? 0;
    this.token = options.token;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', socket => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /**
   * Base URL, as `lightspeedMcp.llamaStack.baseUrl` or
   * `lightspeedMcp.lightspeedStack.baseUrl` wants it.
   */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The calls that change something (every method but GET), as `METHOD path`. */
  writeCalls(): string[] {
    return this.calls
      .filter(c => c.method !== 'GET')
      .map(c => `${c.method} ${c.path}`);
  }

  inject(fault: StandInFault, options: FaultOptions = {}): void {
    this.faults.push({ fault, options, left: options.times ?? Infinity });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Refuses connections from now on, as a server that is down. */
  async stop(): Promise<void> {
    const closed = new Promise<void>(resolve =>
      this.server.close(() => resolve()),
    );
    for (const socket of this.sockets) {
      socket.destroy();
    }
    await closed;
  }

  /** Listens again on the same port after stop(). */
  async restart(): Promise<void> {
    await this.listen();
  }

  /** Whether it accepts connections (started and not stopped). */
  protected get listening(): boolean {
    return this.server.listening;
  }

  protected listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Answers a call that passed faults and the token check. */
  protected abstract route(
    method: string,
    url: URL,
    body: unknown,
    res: http.ServerResponse,
    req: http.IncomingMessage,
  ): void;

  /** Answers with the server's error body; used for injected faults. */
  protected abstract sendError(
    res: http.ServerResponse,
    status: number,
    text: string,
  ): void;

  /**
   * A body that is not JSON (or too large). Return true when answered; false
   * goes on as if there were no body.
   */
  protected abstract answerUnreadableBody(
    method: string,
    url: URL,
    res: http.ServerResponse,
    req: http.IncomingMessage,
  ): boolean;

  /** The token is missing or wrong. Default: 401 with sendError(). */
  protected answerUnauthorized(
    res: http.ServerResponse,
    _authorization: string | undefined,
  ): void {
    this.sendError(res, 401, 'Invalid or missing API token');
  }

  private takeFault(method: string): StandInFault | undefined {
    const entry = this.faults.find(
      f => f.left > 0 && (!f.options.method || f.options.method === method),
    );
    if (entry) {
      entry.left -= 1;
    }
    return entry?.fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const authorization = req.headers.authorization;
    let body: unknown;
    let readable = true;
    try {
      body = await readJsonBody(req);
    } catch {
      readable = false;
    }
    this.calls.push(
      readable
        ? { method, path: target, body, authorization }
        : { method, path: target, authorization },
    );
    if (
      !readable &&
      this.answerUnreadableBody(method, parseTarget(target), res, req)
    ) {
      return;
    }

    const fault = this.takeFault(method);
    if (fault && 'hang' in fault) {
      return;
    }
    if (fault && 'delayMs' in fault) {
      // unref: a delayed answer must not keep a finished test run alive.
      await new Promise(resolve => setTimeout(resolve, fault.delayMs).unref());
    }
    if (fault && 'status' in fault) {
      this.sendError(
        res,
        fault.status,
        fault.message ?? `Injected failure ${fault.status}`,
      );
      return;
    }
    if (this.token && authorization !== `Bearer ${this.token}`) {
      this.answerUnauthorized(res, authorization);
      return;
    }
    this.route(method, parseTarget(target), body, res, req);
  }
}

function parseTarget(target: string): URL {
  return new URL(target, 'http://stand-in');
}

/** Answers with a JSON body. */
export function send(res: http.ServerResponse, status: number, body: unknown) {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify(body));
}

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new Error('body too large');
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

import {
  callUpstream,
  classify,
  describeAnswer,
  isSuccess,
  UpstreamResponse,
} from '../http';
import { UpstreamConnection } from '../Upstream';

/**
 * What went wrong in a call to Llama Stack, in the few kinds the plugin answers
 * differently:
 * - `conflict`: Llama Stack holds a different toolgroup with that id (it
 *   answers 400 "already exists");
 * - `rejected`: any other 4xx: the request will not succeed by retrying it;
 * - `unavailable`: refused connection, timeout, 429 or 5xx: worth retrying
 *   later;
 * - `no-toolgroups-api`: this Llama Stack has no toolgroups API at all (0.7 and
 *   later answer 404).
 */
export type LlamaStackFailure =
  'conflict' | 'rejected' | 'unavailable' | 'no-toolgroups-api';

/**
 * Its message is for the log only: it can hold Llama Stack's own error text.
 */
export class LlamaStackError extends Error {
  override name = 'LlamaStackError';
  constructor(
    readonly failure: LlamaStackFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface Toolgroup {
  identifier: string;
  provider_id: string;
  mcp_endpoint?: { uri: string } | null;
}

export interface RegisterToolgroupRequest {
  toolgroupId: string;
  providerId: string;
  mcpEndpointUri: string;
}

export interface ToolDef {
  name: string;
  description?: string | null;
}

/**
 * The toolgroups API of Llama Stack 0.2 - 0.6, as far as the plugin uses it.
 */
export interface ToolgroupsApi {
  registerToolgroup(request: RegisterToolgroupRequest): Promise<void>;
  /** Resolves `absent` when Llama Stack has the API but not the toolgroup. */
  unregisterToolgroup(toolgroupId: string): Promise<'unregistered' | 'absent'>;
  listToolgroups(): Promise<Toolgroup[]>;
  /**
   * The tools of one toolgroup; `absent` when Llama Stack has the API but not
   * the toolgroup.
   */
  listTools(toolgroupId: string): Promise<ToolDef[] | 'absent'>;
  /**
   * Whether Llama Stack has the toolgroups API at all (0.7 and later do not).
   */
  probeToolgroupsApi(): Promise<boolean>;
}

export class LlamaStackClient implements ToolgroupsApi {
  constructor(private readonly config: UpstreamConnection) {}

  async registerToolgroup(request: RegisterToolgroupRequest): Promise<void> {
    const deadline = this.deadline();
    const response = await this.call(deadline, 'POST', '/v1/toolgroups', {
      toolgroup_id: request.toolgroupId,
      provider_id: request.providerId,
      mcp_endpoint: { uri: request.mcpEndpointUri },
    });
    if (isSuccess(response)) {
      return;
    }
    if (response.status === 400 && /already exists/i.test(response.text)) {
      throw this.failure('conflict', 'POST /v1/toolgroups', response);
    }
    throw await this.failureOf(deadline, 'POST /v1/toolgroups', response);
  }

  async unregisterToolgroup(
    toolgroupId: string,
  ): Promise<'unregistered' | 'absent'> {
    const route = `/v1/toolgroups/${encodeURIComponent(toolgroupId)}`;
    const deadline = this.deadline();
    const response = await this.call(deadline, 'DELETE', route);
    if (isSuccess(response)) {
      return 'unregistered';
    }
    if (response.status === 404 && (await this.hasToolgroupsApi(deadline))) {
      return 'absent';
    }
    throw await this.failureOf(deadline, `DELETE ${route}`, response);
  }

  async listToolgroups(): Promise<Toolgroup[]> {
    const deadline = this.deadline();
    return this.listFrom<Toolgroup>(
      deadline,
      'GET /v1/toolgroups',
      await this.call(deadline, 'GET', '/v1/toolgroups'),
    );
  }

  async listTools(toolgroupId: string): Promise<ToolDef[] | 'absent'> {
    const route = `/v1/tools?toolgroup_id=${encodeURIComponent(toolgroupId)}`;
    const deadline = this.deadline();
    const response = await this.call(deadline, 'GET', route);
    // Llama Stack 0.2 answers an unknown toolgroup with 400 "... not found",
    // later versions with 404.
    const notFound =
      response.status === 404 ||
      (response.status === 400 && /not found/i.test(response.text));
    if (notFound && (await this.hasToolgroupsApi(deadline))) {
      return 'absent';
    }
    return this.listFrom<ToolDef>(deadline, `GET ${route}`, response);
  }

  /** The `data` of an answer `{"data": [...]}`. */
  private async listFrom<T>(
    deadline: number,
    operation: string,
    response: UpstreamResponse,
  ): Promise<T[]> {
    if (!isSuccess(response)) {
      throw await this.failureOf(deadline, operation, response);
    }
    try {
      const data = JSON.parse(response.text)?.data;
      if (Array.isArray(data)) {
        return data;
      }
    } catch {
      // fall through: same answer as a body without `data`
    }
    throw this.failure('rejected', operation, {
      ...response,
      text: 'answer is not {"data": [...]}',
    });
  }

  probeToolgroupsApi(): Promise<boolean> {
    return this.hasToolgroupsApi(this.deadline());
  }

  /**
   * A 404 from a toolgroup route means "no such toolgroup" only when the list
   * route exists; Llama Stack 0.7+ answers 404 everywhere, and taking that for
   * "already gone" would report a false success.
   */
  private async hasToolgroupsApi(deadline: number): Promise<boolean> {
    const response = await this.call(deadline, 'GET', '/v1/toolgroups');
    if (isSuccess(response)) {
      return true;
    }
    if (response.status === 404) {
      return false;
    }
    throw this.failure(
      classify(response.status),
      'GET /v1/toolgroups',
      response,
    );
  }

  private async failureOf(
    deadline: number,
    operation: string,
    response: UpstreamResponse,
  ): Promise<LlamaStackError> {
    if (response.status === 404 && !(await this.hasToolgroupsApi(deadline))) {
      return new LlamaStackError(
        'no-toolgroups-api',
        `Llama Stack at ${this.config.baseUrl} has no toolgroups API: it answered 404 to ${operation} and to ` +
          'GET /v1/toolgroups. Llama Stack 0.7 and later removed that API; use Llama Stack 0.2 - 0.6.',
      );
    }
    return this.failure(classify(response.status), operation, response);
  }

  private failure(
    kind: LlamaStackFailure,
    operation: string,
    response: UpstreamResponse,
  ): LlamaStackError {
    return new LlamaStackError(
      kind,
      describeAnswer(
        `Llama Stack at ${this.config.baseUrl}`,
        operation,
        response,
      ),
    );
  }

  /**
   * One operation may take two calls (a 404 is checked against GET
   * /v1/toolgroups); both share one time limit, so no operation waits longer
   * than the configured timeout.
   */
  private deadline(): number {
    return Date.now() + this.config.timeoutMs;
  }

  private call(
    deadline: number,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<UpstreamResponse> {
    return callUpstream(this.config, {
      deadline,
      method,
      path,
      body,
      noAnswer: message => new LlamaStackError('unavailable', message),
    });
  }
}

import { LoggerService } from '@backstage/backend-plugin-api';
import { ToolgroupsApi } from './LlamaStackClient';

/**
 * `lightspeedMcp.llamaStack.toolgroups`: whether servers are registered as
 * Llama Stack toolgroups.
 * - `enabled`: always (Llama Stack 0.2 - 0.6); a missing API is an error;
 * - `disabled`: never; registration and deletion only change the plugin
 *   database;
 * - `auto`: when Llama Stack has the toolgroups API, found by probing it.
 */
export const TOOLGROUPS_MODES = ['auto', 'enabled', 'disabled'] as const;
export type ToolgroupsMode = (typeof TOOLGROUPS_MODES)[number];

/**
 * How long an `auto` probe result is trusted before a register or delete probes
 * again.
 */
const PROBE_TTL_MS = 60_000;

/**
 * Knows whether toolgroups are synced now, probing Llama Stack in `auto` mode.
 */
export class ToolgroupSync {
  private hasApi: boolean | undefined;
  private probedAt = 0;

  constructor(
    readonly mode: ToolgroupsMode,
    private readonly llamaStack: Pick<ToolgroupsApi, 'probeToolgroupsApi'>,
    private readonly logger: LoggerService,
  ) {}

  /**
   * As last known, without calling Llama Stack: used where Llama Stack must not
   * be waited for.
   */
  get active(): boolean {
    return (
      this.mode === 'enabled' || (this.mode === 'auto' && this.hasApi !== false)
    );
  }

  /**
   * Whether to sync now. In `auto` mode probes when the last probe is older
   * than a minute (or when `force`d); a Llama Stack that does not answer keeps
   * the last answer.
   */
  async check(force = false): Promise<boolean> {
    if (
      this.mode === 'auto' &&
      (force || Date.now() - this.probedAt > PROBE_TTL_MS)
    ) {
      try {
        this.record(await this.llamaStack.probeToolgroupsApi());
      } catch {
        // Unreachable: the register or reconcile that follows reports it.
      }
    }
    return this.active;
  }

  /**
   * A toolgroups call answered that there is no such API. In `auto` mode sync
   * stops and the caller goes on without it (true); otherwise it is an error
   * (false).
   */
  apiMissing(): boolean {
    if (this.mode !== 'auto') {
      return false;
    }
    this.record(false);
    return true;
  }

  private record(hasApi: boolean) {
    this.probedAt = Date.now();
    if (hasApi !== this.hasApi) {
      this.logger.info(
        hasApi
          ? 'Llama Stack has the toolgroups API: MCP servers are registered as toolgroups (toolgroups mode auto)'
          : 'Llama Stack has no toolgroups API (Llama Stack 0.7 and later removed it): MCP servers are stored ' +
              'without toolgroup sync and served to chat backends through GET /v1/mcp-tools (toolgroups mode auto)',
      );
    }
    this.hasApi = hasApi;
  }
}

import { LoggerService } from '@backstage/backend-plugin-api';
import { toError } from '@backstage/errors';
import { McpServerRecord, McpServerStore } from '../database/McpServerStore';
import {
  LlamaStackError,
  LlamaStackFailure,
  Toolgroup,
  ToolgroupsApi,
} from '../upstream/llamaStack/LlamaStackClient';
import { ToolgroupSync } from '../upstream/llamaStack/ToolgroupSync';
import { McpServerSpec } from './types';

/**
 * The fixed texts of `status_message`; Llama Stack's own answer goes to the log
 * only.
 */
const SYNC_FAILURE_MESSAGES: Record<LlamaStackFailure, string> = {
  conflict: 'Llama Stack holds a different toolgroup with this name',
  rejected: 'Llama Stack rejected the registration',
  unavailable:
    'Llama Stack was unavailable at the last attempt; it will be retried',
  'no-toolgroups-api': 'Llama Stack has no toolgroups API',
};

export interface ReconcilerOptions {
  store: McpServerStore;
  llamaStack: ToolgroupsApi;
  sync: ToolgroupSync;
  staticServers: McpServerSpec[];
  logger: LoggerService;
  /**
   * A `pending` or `deleting` record older than this was left by a crash: no
   * request takes longer.
   */
  staleAfterMs: number;
  /** Calls to Llama Stack under way at once. */
  parallelism: number;
}

interface Counts {
  checked: number;
  registered: number;
  completed: number;
  rolledBack: number;
  deleted: number;
  failed: number;
}

/**
 * Brings Llama Stack in line with the database and app-config, which are the
 * truth: registers what it misses (it restarted empty, or was down), finishes
 * or rolls back what a crash interrupted, and never removes a toolgroup the
 * plugin did not create. Runs on one replica at a time (scheduler task).
 */
export class Reconciler {
  private readonly staticNames: Set<string>;
  private llamaStackWasUnavailable = false;

  constructor(private readonly options: ReconcilerOptions) {
    this.staticNames = new Set(
      options.staticServers.map(server => server.name),
    );
  }

  async run(): Promise<void> {
    const { store, llamaStack, logger, staticServers, sync } = this.options;
    const started = Date.now();
    const staleBefore = started - this.options.staleAfterMs;
    let held: Map<string, Toolgroup>;
    try {
      if (!(await sync.check(true))) {
        await this.settleWithoutSync(staleBefore, started);
        return;
      }
      held = new Map(
        (await llamaStack.listToolgroups()).map(toolgroup => [
          toolgroup.identifier,
          toolgroup,
        ]),
      );
    } catch (error) {
      if (
        error instanceof LlamaStackError &&
        error.failure === 'no-toolgroups-api' &&
        sync.apiMissing()
      ) {
        await this.settleWithoutSync(staleBefore, started);
        return;
      }
      if (!this.llamaStackWasUnavailable) {
        this.llamaStackWasUnavailable = true;
        logger.warn(
          `Could not reach Llama Stack to sync MCP servers (${staticServers.length} from app-config); ` +
            'they will be registered once it answers',
          toError(error),
        );
      }
      logger.info(
        'Reconcile of MCP servers skipped: Llama Stack is unavailable',
      );
      return;
    }
    if (this.llamaStackWasUnavailable) {
      this.llamaStackWasUnavailable = false;
      logger.info('Llama Stack answers again; syncing MCP servers');
    }

    const counts: Counts = {
      checked: 0,
      registered: 0,
      completed: 0,
      rolledBack: 0,
      deleted: 0,
      failed: 0,
    };
    const [records, configStatuses] = await Promise.all([
      store.list(),
      store.listConfigStatuses(),
    ]);
    const jobs = [
      ...staticServers.map(server => ({
        name: server.name,
        run: () => this.syncConfigServer(server, held, configStatuses, counts),
      })),
      ...records
        // A config server shadows a stored one of the same name.
        .filter(record => !this.staticNames.has(record.name))
        .map(record => ({
          name: record.name,
          run: () => this.syncRecord(record, held, staleBefore, counts),
        })),
    ];
    await runLimited(jobs, this.options.parallelism, async job => {
      counts.checked += 1;
      try {
        await job.run();
      } catch (error) {
        counts.failed += 1;
        logger.warn(
          `Reconcile of MCP server '${job.name}' failed`,
          toError(error),
        );
      }
    });

    logger.info(
      `Reconciled MCP servers with Llama Stack in ${Date.now() - started} ms: ${counts.checked} checked, ` +
        `${counts.registered} registered, ${counts.completed} interrupted registrations or updates completed, ` +
        `${counts.rolledBack} rolled back, ${counts.deleted} interrupted deletions finished, ${counts.failed} failed`,
      { ...counts },
    );
  }

  /**
   * Without toolgroup sync there is nothing to ask Llama Stack: interrupted
   * operations just finish.
   */
  private async settleWithoutSync(staleBefore: number, started: number) {
    const { store, logger, sync } = this.options;
    let completed = 0;
    let deleted = 0;
    for (const record of await store.list()) {
      if (Date.parse(record.stateChangedAt) >= staleBefore) {
        continue;
      }
      if (
        record.state === 'pending' &&
        (await store.transition(record.id, 'pending', 'registered'))
      ) {
        completed += 1;
      } else if (
        record.state === 'updating' &&
        (await store.settleUpdate(record.id, 'commit'))
      ) {
        completed += 1;
      } else if (
        record.state === 'deleting' &&
        (await store.remove(record.id))
      ) {
        deleted += 1;
      }
    }
    logger.info(
      `Reconciled MCP servers without toolgroup sync (toolgroups mode ${sync.mode}) in ${Date.now() - started} ms: ` +
        `${completed} interrupted registrations or updates completed, ${deleted} interrupted deletions finished`,
    );
  }

  private async syncConfigServer(
    server: McpServerSpec,
    held: Map<string, Toolgroup>,
    statuses: Map<string, string | undefined>,
    counts: Counts,
  ) {
    const toolgroup = held.get(server.name);
    let message: string | undefined;
    if (toolgroup) {
      // Left alone when different: it may belong to someone else
      // (lightspeed-stack registers its own).
      message =
        endpointOf(toolgroup) === server.url
          ? undefined
          : SYNC_FAILURE_MESSAGES.conflict;
    } else {
      message = await this.register(server, counts);
    }
    if (!statuses.has(server.name) || statuses.get(server.name) !== message) {
      await this.options.store.setConfigStatus(server.name, message);
    }
  }

  private async syncRecord(
    record: McpServerRecord,
    held: Map<string, Toolgroup>,
    staleBefore: number,
    counts: Counts,
  ) {
    const { store, llamaStack } = this.options;
    const toolgroup = held.get(record.name);
    const ours =
      toolgroup !== undefined && endpointOf(toolgroup) === record.url;
    const stale = Date.parse(record.stateChangedAt) < staleBefore;

    if (record.state === 'registered') {
      let message: string | undefined;
      if (toolgroup && !ours) {
        message = SYNC_FAILURE_MESSAGES.conflict;
      } else if (!toolgroup) {
        message = await this.register(record, counts);
      }
      if (message !== record.statusMessage) {
        await store.setStatusMessage(record.id, message);
      }
      if (
        !toolgroup &&
        !message &&
        (await store.get(record.name))?.id !== record.id
      ) {
        // Deleted while we registered it: take our toolgroup back out.
        await llamaStack.unregisterToolgroup(record.name);
      }
    } else if (record.state === 'pending' && stale) {
      // A register that never answered: complete it if Llama Stack got it,
      // otherwise roll it back.
      if (ours) {
        await store.transition(record.id, 'pending', 'registered');
        counts.completed += 1;
      } else {
        await store.remove(record.id);
        counts.rolledBack += 1;
      }
    } else if (record.state === 'updating' && stale) {
      // An update that never answered: keep it if Llama Stack got the new
      // toolgroup, otherwise put the old fields back and sync them like any
      // registered server.
      if (ours) {
        await store.settleUpdate(record.id, 'commit');
        counts.completed += 1;
        return;
      }
      await store.settleUpdate(record.id, 'revert');
      counts.rolledBack += 1;
      const reverted = await store.get(record.name);
      if (reverted?.id === record.id && reverted.state === 'registered') {
        await this.syncRecord(reverted, held, staleBefore, counts);
      }
    } else if (record.state === 'deleting' && stale) {
      // A delete that never answered: finish it, without touching a toolgroup
      // that is not ours.
      if (ours) {
        await llamaStack.unregisterToolgroup(record.name);
      }
      await store.remove(record.id);
      counts.deleted += 1;
    }
  }

  /**
   * Registers the toolgroup; resolves the failure message, or undefined on
   * success.
   */
  private async register(
    server: McpServerSpec,
    counts: Counts,
  ): Promise<string | undefined> {
    try {
      await this.options.llamaStack.registerToolgroup({
        toolgroupId: server.name,
        providerId: server.providerId,
        mcpEndpointUri: server.url,
      });
      counts.registered += 1;
      return undefined;
    } catch (error) {
      if (!(error instanceof LlamaStackError)) {
        throw error;
      }
      counts.failed += 1;
      this.options.logger.warn(
        `Could not register MCP server '${server.name}' in Llama Stack`,
        error,
      );
      return SYNC_FAILURE_MESSAGES[error.failure];
    }
  }
}

function endpointOf(toolgroup: Toolgroup): string | undefined {
  return toolgroup.mcp_endpoint?.uri;
}

/** Runs `work` over the items with at most `limit` under way at once. */
async function runLimited<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      await work(items[next++]);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
}

import { LoggerService } from '@backstage/backend-plugin-api';
import { toError } from '@backstage/errors';
import { McpServerRecord, McpServerStore } from '../database/McpServerStore';
import { HeldServer, Upstream, UpstreamError } from '../upstream/Upstream';
import { McpServerFields, McpServerSpec } from './types';

export interface ReconcilerOptions {
  store: McpServerStore;
  upstream: Upstream;
  staticServers: McpServerSpec[];
  logger: LoggerService;
  /**
   * A `pending`, `updating` or `deleting` record older than this was left by a
   * crash: no request takes longer.
   */
  staleAfterMs: number;
  /** Calls to the upstream under way at once. */
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
 * Brings the upstream in line with the database and app-config, which are the
 * truth: registers what it misses (it restarted empty, or was down), finishes
 * or rolls back what a crash interrupted, and never removes a server the
 * plugin did not create. Runs on one replica at a time (scheduler task).
 */
export class Reconciler {
  private readonly staticNames: Set<string>;
  private upstreamWasUnavailable = false;

  constructor(private readonly options: ReconcilerOptions) {
    this.staticNames = new Set(
      options.staticServers.map(server => server.name),
    );
  }

  async run(): Promise<void> {
    const { store, upstream, logger, staticServers } = this.options;
    const started = Date.now();
    const staleBefore = started - this.options.staleAfterMs;
    // The database before the upstream: a server registered in between is
    // still `pending` here and left to its request, instead of being found
    // registered in the database but missing upstream, and sent twice.
    const [records, configStatuses] = await Promise.all([
      store.list(),
      store.listConfigStatuses(),
    ]);
    let held: Map<string, HeldServer> | undefined;
    try {
      held = (await upstream.syncing(true)) ? await upstream.list() : undefined;
    } catch (error) {
      await this.reportListFailure(error);
      return;
    }
    if (!held) {
      await this.settleWithoutSync(staleBefore, started);
      return;
    }
    if (this.upstreamWasUnavailable) {
      this.upstreamWasUnavailable = false;
      logger.info(`${upstream.name} answers again; syncing MCP servers`);
    }

    const counts: Counts = {
      checked: 0,
      registered: 0,
      completed: 0,
      rolledBack: 0,
      deleted: 0,
      failed: 0,
    };
    const heldNow = held;
    const jobs = [
      ...staticServers.map(server => ({
        name: server.name,
        run: () =>
          this.syncConfigServer(server, heldNow, configStatuses, counts),
      })),
      ...records
        // A config server shadows a stored one of the same name.
        .filter(record => !this.staticNames.has(record.name))
        .map(record => ({
          name: record.name,
          run: () => this.syncRecord(record, heldNow, staleBefore, counts),
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
      `Reconciled MCP servers with ${upstream.name} in ${Date.now() - started} ms: ${counts.checked} checked, ` +
        `${counts.registered} registered, ${counts.completed} interrupted registrations or updates completed, ` +
        `${counts.rolledBack} rolled back, ${counts.deleted} interrupted deletions finished, ${counts.failed} failed`,
      { ...counts },
    );
  }

  /**
   * An upstream that refuses the plugin's credentials is a configuration error
   * that no retry fixes: said once per run, and shown as every server's status.
   * One that is down is said once until it answers again.
   */
  private async reportListFailure(error: unknown) {
    const { upstream, logger, staticServers } = this.options;
    if (error instanceof UpstreamError && error.failure === 'unauthorized') {
      logger.error(
        `${upstream.name} refused the plugin's credentials: MCP servers are not synced ` +
          'until the configuration is fixed',
        error,
      );
      await this.showOnEveryServer(upstream.statusMessage('unauthorized'));
      return;
    }
    if (!this.upstreamWasUnavailable) {
      this.upstreamWasUnavailable = true;
      logger.warn(
        `Could not reach ${upstream.name} to sync MCP servers (${staticServers.length} from app-config); ` +
          'they will be registered once it answers',
        toError(error),
      );
    }
    logger.info(
      `Reconcile of MCP servers skipped: ${upstream.name} is unavailable`,
    );
  }

  /** Sets the status message of every synced server, leaving the rest alone. */
  private async showOnEveryServer(message: string) {
    const { store, staticServers } = this.options;
    const [records, configStatuses] = await Promise.all([
      store.list(),
      store.listConfigStatuses(),
    ]);
    for (const server of staticServers) {
      if (configStatuses.get(server.name) !== message) {
        await store.setConfigStatus(server.name, message);
      }
    }
    for (const record of records) {
      if (record.state === 'registered' && record.statusMessage !== message) {
        await store.setStatusMessage(record.id, message);
      }
    }
  }

  /**
   * Without sync there is nothing to ask the upstream: interrupted operations
   * just finish.
   */
  private async settleWithoutSync(staleBefore: number, started: number) {
    const { store, logger, upstream } = this.options;
    let completed = 0;
    let deleted = 0;
    for (const record of await store.list()) {
      if (Date.parse(record.stateChangedAt) >= staleBefore) {
        continue;
      }
      try {
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
      } catch (error) {
        // One record that cannot be settled must not hold up the others.
        logger.warn(
          `Reconcile of MCP server '${record.name}' failed`,
          toError(error),
        );
      }
    }
    logger.info(
      `Reconciled MCP servers without sync (${upstream.describe()}) in ${Date.now() - started} ms: ` +
        `${completed} interrupted registrations or updates completed, ${deleted} interrupted deletions finished`,
    );
  }

  private async syncConfigServer(
    server: McpServerSpec,
    held: Map<string, HeldServer>,
    statuses: Map<string, string | undefined>,
    counts: Counts,
  ) {
    const found = held.get(server.name);
    let message: string | undefined;
    if (found) {
      // Left alone when different: it may belong to someone else (the
      // upstream's own configuration, or another client).
      message = matches(found, server)
        ? undefined
        : this.options.upstream.statusMessage('conflict');
    } else {
      message = await this.register(server, counts);
    }
    if (!statuses.has(server.name) || statuses.get(server.name) !== message) {
      await this.options.store.setConfigStatus(server.name, message);
    }
  }

  private async syncRecord(
    record: McpServerRecord,
    held: Map<string, HeldServer>,
    staleBefore: number,
    counts: Counts,
  ) {
    const { store, upstream } = this.options;
    const found = held.get(record.name);
    const same = found !== undefined && matches(found, record);
    // Only what the plugin registered is the plugin's to finish or remove.
    const ours = same && found.source !== 'config';
    const stale = Date.parse(record.stateChangedAt) < staleBefore;

    if (record.state === 'registered') {
      let message: string | undefined;
      if (found && !same) {
        message = upstream.statusMessage('conflict');
      } else if (!found) {
        message = await this.register(record, counts);
      }
      if (message !== record.statusMessage) {
        await store.setStatusMessage(record.id, message);
      }
      if (
        !found &&
        !message &&
        (await store.get(record.name))?.id !== record.id
      ) {
        // Deleted while we registered it: take ours back out.
        await upstream.unregister(record.name);
      }
    } else if (record.state === 'pending' && stale) {
      // A register that never answered: complete it if the upstream got it,
      // otherwise roll it back.
      if (ours) {
        await store.transition(record.id, 'pending', 'registered');
        counts.completed += 1;
      } else {
        await store.remove(record.id);
        counts.rolledBack += 1;
      }
    } else if (record.state === 'updating' && stale) {
      await this.settleUpdate(record, ours, held, staleBefore, counts);
    } else if (record.state === 'deleting' && stale) {
      // A delete that never answered: finish it, without touching a server
      // that is not ours.
      if (ours) {
        await upstream.unregister(record.name);
      }
      await store.remove(record.id);
      counts.deleted += 1;
    }
  }

  /**
   * An update that never answered: keep it if the upstream got the new
   * server, otherwise put the old fields back and sync them like any
   * registered server.
   */
  private async settleUpdate(
    record: McpServerRecord,
    ours: boolean,
    held: Map<string, HeldServer>,
    staleBefore: number,
    counts: Counts,
  ) {
    const { store, upstream } = this.options;
    if (ours) {
      await store.settleUpdate(record.id, 'commit');
      counts.completed += 1;
      if (
        record.previous &&
        cannotTellApart(upstream, record.previous, record)
      ) {
        // The upstream lists only URL and provider: whether it holds the old
        // or the new headers and timeout is unknown, so send the new ones.
        await upstream.unregister(record.name);
        await upstream.register(record);
      }
      return;
    }
    await store.settleUpdate(record.id, 'revert');
    counts.rolledBack += 1;
    const reverted = await store.get(record.name);
    if (reverted?.id === record.id && reverted.state === 'registered') {
      await this.syncRecord(reverted, held, staleBefore, counts);
    }
  }

  /** Registers the server; resolves the failure message, or undefined. */
  private async register(
    server: McpServerSpec,
    counts: Counts,
  ): Promise<string | undefined> {
    const { upstream, logger } = this.options;
    try {
      await upstream.register(server);
      counts.registered += 1;
      return undefined;
    } catch (error) {
      if (!(error instanceof UpstreamError)) {
        throw error;
      }
      counts.failed += 1;
      logger.warn(
        `Could not register MCP server '${server.name}' in ${upstream.name}`,
        error,
      );
      return upstream.statusMessage(error.failure);
    }
  }
}

/** Whether the upstream holds this server, as far as its list tells. */
function matches(found: HeldServer, server: McpServerSpec): boolean {
  return (
    found.url === server.url &&
    (found.providerId === undefined || found.providerId === server.providerId)
  );
}

/** A change the upstream needs that its list does not show. */
function cannotTellApart(
  upstream: Upstream,
  previous: McpServerFields,
  next: McpServerFields,
): boolean {
  return (
    upstream.differs(previous, next) &&
    previous.url === next.url &&
    previous.providerId === next.providerId
  );
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

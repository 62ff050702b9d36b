import { McpServerState } from '../database/McpServerStore';
import { InMemoryMcpServerStore } from '../testing/InMemoryMcpServerStore';
import { CapturedLogs } from '../testing/testBackend';
import {
  LlamaStackError,
  LlamaStackFailure,
  RegisterToolgroupRequest,
  ToolDef,
  Toolgroup,
  ToolgroupsApi,
} from '../upstream/llamaStack/LlamaStackClient';
import {
  ToolgroupSync,
  ToolgroupsMode,
} from '../upstream/llamaStack/ToolgroupSync';
import { LlamaStackUpstream } from '../upstream/llamaStack/LlamaStackUpstream';
import { Reconciler } from './Reconciler';
import { McpServerFields, McpServerSpec } from './types';

/*
 * The reconciler's decisions, one branch at a time, on an in-memory store and a
 * fake Llama Stack. src/tests/crash.test.ts reaches them only end to end, with
 * killed processes and PostgreSQL; here each outcome is asserted as a user
 * would see it: records, states, fields, status messages and the toolgroups
 * Llama Stack holds.
 */

const PROVIDER = 'model-context-protocol';
const URL_A = 'https://mcp.example.com/a';
const URL_B = 'https://mcp.example.com/b';
const FOREIGN_URL = 'https://someone-else.example.com/mcp';
/** The fields of an update that moves a server to URL_B. */
const TO_B: McpServerFields = { url: URL_B, providerId: PROVIDER };
const CREATOR = 'user:default/alice';
/**
 * Records in pending, updating or deleting longer than this were left by a
 * crash.
 */
const STALE_AFTER_MS = 1000;
/** How far a test ages a record it wants stale: well past STALE_AFTER_MS. */
const LONG_AGO_MS = 60_000;

/**
 * The fixed status messages users read; the reconciler must store exactly these
 * texts.
 */
const MESSAGES: Record<LlamaStackFailure, string> = {
  conflict: 'Llama Stack holds a different toolgroup with this name',
  rejected: 'Llama Stack rejected the registration',
  unavailable:
    'Llama Stack was unavailable at the last attempt; it will be retried',
  'no-toolgroups-api': 'Llama Stack has no toolgroups API',
};

type Operation = 'list' | 'register' | 'unregister' | 'probe';

/**
 * Llama Stack's toolgroups API as far as the reconciler sees it: answers like
 * the real one (400 "already exists" for a different toolgroup of a known id),
 * can be told to fail, and records the calls it got as `operation [toolgroup
 * [url]]`.
 */
class FakeToolgroups implements ToolgroupsApi {
  readonly toolgroups = new Map<string, Toolgroup>();
  readonly calls: string[] = [];
  /** What probeToolgroupsApi answers: false acts as Llama Stack 0.7+. */
  hasApi = true;
  /**
   * Runs inside a register, before it succeeds: lets a test race the
   * reconciler.
   */
  duringRegister?: (toolgroupId: string) => Promise<void>;
  private readonly failures = new Map<string, LlamaStackFailure | Error>();

  hold(toolgroupId: string, uri: string, providerId = PROVIDER): void {
    this.toolgroups.set(toolgroupId, {
      identifier: toolgroupId,
      provider_id: providerId,
      mcp_endpoint: { uri },
    });
  }

  /** The URL of each toolgroup held, by name. */
  held(): Record<string, string | undefined> {
    return Object.fromEntries(
      [...this.toolgroups.values()].map(t => [
        t.identifier,
        t.mcp_endpoint?.uri,
      ]),
    );
  }

  /** Makes `operation` fail, for one toolgroup or (without one) for all. */
  failOn(
    operation: Operation,
    failure: LlamaStackFailure | Error,
    toolgroupId?: string,
  ): void {
    this.failures.set(`${operation} ${toolgroupId ?? '*'}`, failure);
  }

  /** The calls that change what Llama Stack holds. */
  changes(): string[] {
    return this.calls.filter(call => /^(register|unregister) /.test(call));
  }

  async registerToolgroup(request: RegisterToolgroupRequest): Promise<void> {
    const { toolgroupId, providerId, mcpEndpointUri } = request;
    this.calls.push(`register ${toolgroupId} ${mcpEndpointUri}`);
    this.failIfTold('register', toolgroupId);
    await this.duringRegister?.(toolgroupId);
    const existing = this.toolgroups.get(toolgroupId);
    if (
      existing &&
      (existing.mcp_endpoint?.uri !== mcpEndpointUri ||
        existing.provider_id !== providerId)
    ) {
      throw new LlamaStackError(
        'conflict',
        `toolgroup '${toolgroupId}' already exists`,
      );
    }
    this.hold(toolgroupId, mcpEndpointUri, providerId);
  }

  async unregisterToolgroup(
    toolgroupId: string,
  ): Promise<'unregistered' | 'absent'> {
    this.calls.push(`unregister ${toolgroupId}`);
    this.failIfTold('unregister', toolgroupId);
    return this.toolgroups.delete(toolgroupId) ? 'unregistered' : 'absent';
  }

  async listToolgroups(): Promise<Toolgroup[]> {
    this.calls.push('list');
    this.failIfTold('list');
    return [...this.toolgroups.values()].map(toolgroup =>
      structuredClone(toolgroup),
    );
  }

  async listTools(toolgroupId: string): Promise<ToolDef[] | 'absent'> {
    return this.toolgroups.has(toolgroupId) ? [] : 'absent';
  }

  async probeToolgroupsApi(): Promise<boolean> {
    this.calls.push('probe');
    this.failIfTold('probe');
    return this.hasApi;
  }

  private failIfTold(operation: Operation, toolgroupId?: string) {
    const failure =
      (toolgroupId && this.failures.get(`${operation} ${toolgroupId}`)) ??
      this.failures.get(`${operation} *`);
    if (failure instanceof Error) {
      throw failure;
    }
    if (failure) {
      throw new LlamaStackError(
        failure,
        `Llama Stack failed (${failure}) on ${operation}`,
      );
    }
  }
}

function spec(name: string, url: string): McpServerSpec {
  return { name, url, providerId: PROVIDER };
}

describe('Reconciler', () => {
  let store: InMemoryMcpServerStore;
  let llamaStack: FakeToolgroups;

  beforeEach(() => {
    store = new InMemoryMcpServerStore();
    llamaStack = new FakeToolgroups();
  });

  function reconcile(
    options: { mode?: ToolgroupsMode; staticServers?: McpServerSpec[] } = {},
  ): Promise<void> {
    const logger = new CapturedLogs().logger();
    const sync = new ToolgroupSync(
      options.mode ?? 'enabled',
      llamaStack,
      logger,
    );
    return new Reconciler({
      store,
      upstream: new LlamaStackUpstream(llamaStack, sync),
      staticServers: options.staticServers ?? [],
      logger,
      staleAfterMs: STALE_AFTER_MS,
      parallelism: 4,
    }).run();
  }

  /**
   * Stores a server in `state` through the store's own operations, as the API
   * would leave it; stale ones are aged as if a crash had left them long ago.
   */
  async function stored(
    name: string,
    url: string,
    state: McpServerState,
    options: { stale?: boolean; updatedTo?: McpServerFields } = {},
  ) {
    const record = (await store.claim(spec(name, url), CREATOR))!;
    if (state !== 'pending') {
      await store.transition(record.id, 'pending', 'registered');
    }
    if (state === 'updating') {
      const previous = { url, providerId: PROVIDER };
      await store.update(record.id, options.updatedTo ?? TO_B, previous);
    }
    if (state === 'deleting') {
      await store.transition(record.id, 'registered', 'deleting');
    }
    if (options.stale) {
      store.age(name, LONG_AGO_MS);
    }
    return (await store.get(name))!;
  }

  /** The state of each stored server, by name. */
  async function states(): Promise<Record<string, McpServerState>> {
    return Object.fromEntries(
      (await store.list()).map(record => [record.name, record.state]),
    );
  }

  describe('with toolgroup sync', () => {
    describe('a registered server', () => {
      it('is registered again when Llama Stack lost it, with its message cleared', async () => {
        const record = await stored('alpha', URL_A, 'registered');
        await store.setStatusMessage(record.id, MESSAGES.unavailable);

        await reconcile();

        expect(llamaStack.toolgroups.get('alpha')).toEqual({
          identifier: 'alpha',
          provider_id: PROVIDER,
          mcp_endpoint: { uri: URL_A },
        });
        expect(await store.get('alpha')).toMatchObject({
          state: 'registered',
          url: URL_A,
        });
        expect((await store.get('alpha'))!.statusMessage).toBeUndefined();
      });

      it('keeps its toolgroup, held with its URL, and gets its message cleared', async () => {
        const record = await stored('alpha', URL_A, 'registered');
        await store.setStatusMessage(record.id, MESSAGES.unavailable);
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(llamaStack.changes()).toEqual([]);
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
        expect((await store.get('alpha'))!.statusMessage).toBeUndefined();
      });

      it('leaves a toolgroup with another URL alone and is marked in conflict', async () => {
        await stored('alpha', URL_A, 'registered');
        llamaStack.hold('alpha', FOREIGN_URL);

        await reconcile();

        expect(llamaStack.changes()).toEqual([]);
        expect(llamaStack.held()).toEqual({ alpha: FOREIGN_URL });
        expect(await store.get('alpha')).toMatchObject({
          state: 'registered',
          url: URL_A,
          statusMessage: MESSAGES.conflict,
        });
      });

      it('has its toolgroup taken out again when deleted during the register', async () => {
        await stored('alpha', URL_A, 'registered');
        llamaStack.duringRegister = async name => {
          await store.remove((await store.get(name))!.id);
        };

        await reconcile();

        expect(llamaStack.changes()).toEqual([
          `register alpha ${URL_A}`,
          'unregister alpha',
        ]);
        expect(llamaStack.held()).toEqual({});
        expect(await store.list()).toEqual([]);
      });
    });

    describe('a pending server', () => {
      it('is completed when stale and Llama Stack holds it with its URL', async () => {
        await stored('alpha', URL_A, 'pending', { stale: true });
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(await states()).toEqual({ alpha: 'registered' });
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is rolled back when stale and Llama Stack does not hold it', async () => {
        await stored('alpha', URL_A, 'pending', { stale: true });

        await reconcile();

        expect(await store.get('alpha')).toBeUndefined();
        expect(llamaStack.held()).toEqual({});
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is rolled back without touching a toolgroup of its name with another URL', async () => {
        await stored('alpha', URL_A, 'pending', { stale: true });
        llamaStack.hold('alpha', FOREIGN_URL);

        await reconcile();

        expect(await store.get('alpha')).toBeUndefined();
        expect(llamaStack.held()).toEqual({ alpha: FOREIGN_URL });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is left untouched while it is fresh, whether Llama Stack holds it or not', async () => {
        // A register may still be under way: neither completing nor rolling
        // back is safe yet.
        const held = await stored('alpha', URL_A, 'pending');
        const missing = await stored('beta', URL_B, 'pending');
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(await store.list()).toEqual([held, missing]);
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
        expect(llamaStack.changes()).toEqual([]);
      });
    });

    describe('an updating server', () => {
      it('is committed when stale and Llama Stack holds it with the new URL', async () => {
        await stored('alpha', URL_A, 'updating', {
          stale: true,
          updatedTo: TO_B,
        });
        llamaStack.hold('alpha', URL_B);

        await reconcile();

        const record = (await store.get('alpha'))!;
        expect(record).toMatchObject({ state: 'registered', url: URL_B });
        expect(record.previous).toBeUndefined();
        expect(llamaStack.held()).toEqual({ alpha: URL_B });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is reverted and registered again when Llama Stack holds neither URL', async () => {
        await stored('alpha', URL_A, 'updating', {
          stale: true,
          updatedTo: TO_B,
        });

        await reconcile();

        const record = (await store.get('alpha'))!;
        expect(record).toMatchObject({ state: 'registered', url: URL_A });
        expect(record.previous).toBeUndefined();
        expect(record.statusMessage).toBeUndefined();
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
      });

      it('is reverted, keeping the old toolgroup Llama Stack still holds', async () => {
        await stored('alpha', URL_A, 'updating', {
          stale: true,
          updatedTo: TO_B,
        });
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(await store.get('alpha')).toMatchObject({
          state: 'registered',
          url: URL_A,
        });
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is reverted and marked in conflict when Llama Stack holds another URL', async () => {
        await stored('alpha', URL_A, 'updating', {
          stale: true,
          updatedTo: TO_B,
        });
        llamaStack.hold('alpha', FOREIGN_URL);

        await reconcile();

        expect(await store.get('alpha')).toMatchObject({
          state: 'registered',
          url: URL_A,
          statusMessage: MESSAGES.conflict,
        });
        expect(llamaStack.held()).toEqual({ alpha: FOREIGN_URL });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is left untouched while it is fresh', async () => {
        const record = await stored('alpha', URL_A, 'updating', {
          updatedTo: TO_B,
        });

        await reconcile();

        expect(await store.list()).toEqual([record]);
        expect(llamaStack.held()).toEqual({});
        expect(llamaStack.changes()).toEqual([]);
      });
    });

    describe('a deleting server', () => {
      it('has its toolgroup unregistered and its record removed when it is stale', async () => {
        await stored('alpha', URL_A, 'deleting', { stale: true });
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(await store.get('alpha')).toBeUndefined();
        expect(llamaStack.held()).toEqual({});
      });

      it('is removed without touching a toolgroup of its name with another URL', async () => {
        await stored('alpha', URL_A, 'deleting', { stale: true });
        llamaStack.hold('alpha', FOREIGN_URL);

        await reconcile();

        expect(await store.get('alpha')).toBeUndefined();
        expect(llamaStack.held()).toEqual({ alpha: FOREIGN_URL });
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is removed when Llama Stack no longer holds its toolgroup', async () => {
        await stored('alpha', URL_A, 'deleting', { stale: true });

        await reconcile();

        expect(await store.get('alpha')).toBeUndefined();
        expect(llamaStack.changes()).toEqual([]);
      });

      it('is left untouched while it is fresh', async () => {
        const record = await stored('alpha', URL_A, 'deleting');
        llamaStack.hold('alpha', URL_A);

        await reconcile();

        expect(await store.list()).toEqual([record]);
        expect(llamaStack.held()).toEqual({ alpha: URL_A });
      });

      it('keeps its record when unregistering fails; the others are still synced', async () => {
        // Removing the record first would leave a toolgroup that nothing would
        // ever remove.
        await stored('alpha', URL_A, 'deleting', { stale: true });
        await stored('beta', URL_B, 'registered');
        llamaStack.hold('alpha', URL_A);
        llamaStack.failOn('unregister', 'unavailable', 'alpha');

        await expect(reconcile()).resolves.toBeUndefined();

        expect(await states()).toEqual({
          alpha: 'deleting',
          beta: 'registered',
        });
        expect(llamaStack.held()).toEqual({ alpha: URL_A, beta: URL_B });
      });
    });

    describe('config servers', () => {
      it('are registered when Llama Stack misses them, and recorded as in sync', async () => {
        await reconcile({ staticServers: [spec('docs', URL_A)] });

        expect(llamaStack.held()).toEqual({ docs: URL_A });
        const statuses = await store.listConfigStatuses();
        expect(statuses.has('docs')).toBe(true);
        expect(statuses.get('docs')).toBeUndefined();
      });

      it('are left alone and marked in conflict when Llama Stack holds another URL', async () => {
        llamaStack.hold('docs', FOREIGN_URL);

        await reconcile({ staticServers: [spec('docs', URL_A)] });

        expect(llamaStack.held()).toEqual({ docs: FOREIGN_URL });
        expect(llamaStack.changes()).toEqual([]);
        expect(await store.listConfigStatuses()).toEqual(
          new Map([['docs', MESSAGES.conflict]]),
        );
      });

      it('have their failure status cleared once Llama Stack holds their URL', async () => {
        await store.setConfigStatus('docs', MESSAGES.unavailable);
        llamaStack.hold('docs', URL_A);

        await reconcile({ staticServers: [spec('docs', URL_A)] });

        const statuses = await store.listConfigStatuses();
        expect(statuses.has('docs')).toBe(true);
        expect(statuses.get('docs')).toBeUndefined();
        expect(llamaStack.changes()).toEqual([]);
      });

      it('record the fixed message when their registration fails', async () => {
        llamaStack.failOn('register', 'rejected', 'docs');

        await reconcile({ staticServers: [spec('docs', URL_A)] });

        expect(await store.listConfigStatuses()).toEqual(
          new Map([['docs', MESSAGES.rejected]]),
        );
        expect(llamaStack.held()).toEqual({});
      });

      it('shadow a stored server of their name, which is neither synced nor settled', async () => {
        const registered = await stored('docs', URL_B, 'registered');
        const pending = await stored('tickets', URL_B, 'pending', {
          stale: true,
        });

        await reconcile({
          staticServers: [spec('docs', URL_A), spec('tickets', URL_A)],
        });

        // The stored ones would be marked in conflict, or rolled back, if they
        // were synced.
        expect(await store.list()).toEqual([registered, pending]);
        expect(llamaStack.held()).toEqual({ docs: URL_A, tickets: URL_A });
      });
    });

    describe('when Llama Stack fails', () => {
      it('changes nothing when Llama Stack cannot be reached to list toolgroups', async () => {
        await stored('alpha', URL_A, 'registered');
        await stored('beta', URL_A, 'pending', { stale: true });
        await stored('gamma', URL_A, 'updating', { stale: true });
        await stored('delta', URL_A, 'deleting', { stale: true });
        const before = await store.list();
        llamaStack.failOn('list', 'unavailable');

        await expect(
          reconcile({ staticServers: [spec('docs', URL_A)] }),
        ).resolves.toBeUndefined();

        expect(await store.list()).toEqual(before);
        expect(await store.listConfigStatuses()).toEqual(new Map());
        expect(llamaStack.changes()).toEqual([]);
      });

      it('changes nothing when Llama Stack has no toolgroups API and sync is enabled', async () => {
        // Only `auto` mode falls back to working without sync; `enabled` must
        // not settle silently.
        await stored('alpha', URL_A, 'pending', { stale: true });
        const before = await store.list();
        llamaStack.failOn('list', 'no-toolgroups-api');

        await expect(reconcile({ mode: 'enabled' })).resolves.toBeUndefined();

        expect(await store.list()).toEqual(before);
        expect(llamaStack.changes()).toEqual([]);
      });

      it.each([
        'rejected',
        'unavailable',
        'conflict',
        'no-toolgroups-api',
      ] as const)(
        'stores the fixed message when one registration fails (%s), and the others go on',
        async failure => {
          await stored('alpha', URL_A, 'registered');
          await stored('beta', URL_B, 'registered');
          llamaStack.failOn('register', failure, 'alpha');

          await reconcile({ staticServers: [spec('docs', URL_A)] });

          expect(await store.get('alpha')).toMatchObject({
            state: 'registered',
            statusMessage: MESSAGES[failure],
          });
          expect((await store.get('beta'))!.statusMessage).toBeUndefined();
          expect(llamaStack.held()).toEqual({ beta: URL_B, docs: URL_A });
          expect(await store.listConfigStatuses()).toEqual(
            new Map([['docs', undefined]]),
          );
        },
      );

      it('leaves a server as it was when its sync throws a bug; the others go on', async () => {
        const record = await stored('alpha', URL_A, 'registered');
        await store.setStatusMessage(record.id, MESSAGES.unavailable);
        await stored('beta', URL_B, 'registered');
        llamaStack.failOn('register', new TypeError('a bug'), 'alpha');

        await expect(reconcile()).resolves.toBeUndefined();

        expect((await store.get('alpha'))!.statusMessage).toBe(
          MESSAGES.unavailable,
        );
        expect(llamaStack.held()).toEqual({ beta: URL_B });
      });
    });
  });

  describe('without toolgroup sync', () => {
    /**
     * One server in each state, stale and fresh: SETTLED is where a run must
     * leave them.
     */
    async function storeOneOfEach() {
      await stored('registered', URL_A, 'registered');
      await stored('stale-pending', URL_A, 'pending', { stale: true });
      await stored('stale-updating', URL_A, 'updating', {
        stale: true,
        updatedTo: TO_B,
      });
      await stored('stale-deleting', URL_A, 'deleting', { stale: true });
      await stored('fresh-pending', URL_A, 'pending');
      await stored('fresh-updating', URL_A, 'updating', { updatedTo: TO_B });
      await stored('fresh-deleting', URL_A, 'deleting');
    }

    const SETTLED = {
      registered: 'registered',
      'stale-pending': 'registered',
      'stale-updating': 'registered',
      'fresh-pending': 'pending',
      'fresh-updating': 'updating',
      'fresh-deleting': 'deleting',
    };

    it('settles interrupted operations, calling no Llama Stack, in disabled mode', async () => {
      await storeOneOfEach();

      await reconcile({
        mode: 'disabled',
        staticServers: [spec('docs', URL_A)],
      });

      expect(await states()).toEqual(SETTLED);
      // The update is kept: there is no Llama Stack to disagree with it.
      const updated = (await store.get('stale-updating'))!;
      expect(updated.url).toBe(URL_B);
      expect(updated.previous).toBeUndefined();
      expect(llamaStack.calls).toEqual([]);
      expect(llamaStack.held()).toEqual({});
    });

    it('settles interrupted operations in auto mode when the probe finds no API', async () => {
      await storeOneOfEach();
      llamaStack.hasApi = false;

      await reconcile({ mode: 'auto' });

      expect(await states()).toEqual(SETTLED);
      expect(llamaStack.changes()).toEqual([]);
    });

    it('settles interrupted operations in auto mode when the list finds no API', async () => {
      // The probe did not answer, so sync looked active until the list said
      // otherwise.
      await storeOneOfEach();
      llamaStack.failOn('probe', 'unavailable');
      llamaStack.failOn('list', 'no-toolgroups-api');

      await reconcile({ mode: 'auto' });

      expect(await states()).toEqual(SETTLED);
      expect(llamaStack.changes()).toEqual([]);
    });
  });
});

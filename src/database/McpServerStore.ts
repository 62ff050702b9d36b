import { PermissionCriteria } from '@backstage/plugin-permission-common';
import {
  LastCheck,
  McpServerFields,
  McpServerFilter,
  McpServerSpec,
} from '../mcpServers/types';

/**
 * Where a stored server stands with Llama Stack. A crash between the steps of a
 * register, update or delete leaves `pending`, `updating` or `deleting`, which
 * tells what to finish or roll back.
 */
export type McpServerState = 'pending' | 'registered' | 'updating' | 'deleting';

export interface McpServerRecord extends McpServerSpec {
  /** Increases with registration order. */
  id: number;
  state: McpServerState;
  createdBy: string;
  /** ISO 8601 */
  createdAt: string;
  /** ISO 8601: when the record entered its state. */
  stateChangedAt: string;
  /**
   * Fixed text of the last failed sync with Llama Stack; absent when in sync.
   */
  statusMessage?: string;
  /**
   * While `updating`: the fields before the update, to put back if it fails.
   */
  previous?: McpServerFields;
  /**
   * The last connection check of the current URL, if any (read by get and
   * list).
   */
  lastCheck?: LastCheck;
}

/** A check as it is kept: with the URL it was made against. */
export interface StoredCheck extends LastCheck {
  url: string;
}

export interface ListOptions {
  /** Only records registered after the one with this id. */
  afterId?: number;
  /** At most this many records. */
  limit?: number;
  /**
   * Leave out these names (config servers shadow stored ones of the same name).
   */
  excludeNames?: string[];
}

/**
 * The servers registered through the API; SQL lives behind this interface only.
 */
export interface McpServerStore {
  /**
   * Inserts the server as `pending`; resolves undefined when the name is taken.
   */
  claim(
    server: McpServerSpec,
    createdBy: string,
  ): Promise<McpServerRecord | undefined>;
  /**
   * Moves the record from `from` to `to`; false when no record with that id is
   * in state `from`.
   */
  transition(
    id: number,
    from: McpServerState,
    to: McpServerState,
  ): Promise<boolean>;
  /**
   * Records the outcome of the last sync: a fixed message, or undefined when it
   * succeeded.
   */
  setStatusMessage(id: number, message: string | undefined): Promise<void>;
  /**
   * Replaces the fields of a `registered` record; false when it is not
   * `registered`. With `previous`, the record moves to `updating` and keeps
   * those fields until settleUpdate.
   */
  update(
    id: number,
    fields: McpServerFields,
    previous?: McpServerFields,
  ): Promise<boolean>;
  /**
   * Ends an update: `commit` keeps the new fields, `revert` puts the previous
   * ones back.
   */
  settleUpdate(id: number, outcome: 'commit' | 'revert'): Promise<boolean>;
  /** Removes the record with this id; false when it was already gone. */
  remove(id: number): Promise<boolean>;
  get(name: string): Promise<McpServerRecord | undefined>;
  /**
   * The records matching the filter (all without one), in registration order.
   */
  list(
    filter?: PermissionCriteria<McpServerFilter>,
    options?: ListOptions,
  ): Promise<McpServerRecord[]>;
  /**
   * The sync status of config servers by name: undefined when registered, a
   * fixed message when the last sync failed; names never synced are absent.
   */
  listConfigStatuses(): Promise<Map<string, string | undefined>>;
  setConfigStatus(name: string, message: string | undefined): Promise<void>;
  /**
   * Keeps the last check of a server (config or stored), replacing the one
   * before.
   */
  saveCheck(name: string, check: StoredCheck): Promise<void>;
  /**
   * The last checks of these servers, by name: for config servers, which have
   * no record.
   */
  listChecks(names: string[]): Promise<Map<string, StoredCheck>>;
  removeCheck(name: string): Promise<void>;
}

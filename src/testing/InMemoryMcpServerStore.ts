import { PermissionCriteria } from '@backstage/plugin-permission-common';
import {
  McpServerFields,
  McpServerFilter,
  McpServerSpec,
} from '../mcpServers/types';
import {
  ListOptions,
  McpServerRecord,
  McpServerState,
  McpServerStore,
  StoredCheck,
} from '../database/McpServerStore';

/**
 * A record as kept: without lastCheck, which get and list join in from the
 * checks.
 */
type StoredRecord = Omit<McpServerRecord, 'lastCheck'>;

/**
 * McpServerStore in memory, with the semantics of DatabaseMcpServerStore (which
 * is the reference: change both together), for unit tests that need no
 * database. Every answer is a copy, as rows read from a database are, so that a
 * test cannot change the store through a record it was given.
 */
export class InMemoryMcpServerStore implements McpServerStore {
  private readonly records = new Map<number, StoredRecord>();
  private readonly configStatuses = new Map<string, string | undefined>();
  private readonly checks = new Map<string, StoredCheck>();
  private lastId = 0;

  async claim(
    server: McpServerSpec,
    createdBy: string,
  ): Promise<McpServerRecord | undefined> {
    if (this.find(server.name)) {
      return undefined;
    }
    const at = now();
    const record: StoredRecord = {
      id: ++this.lastId,
      name: server.name,
      ...fieldsOf(server),
      state: 'pending',
      createdBy,
      createdAt: at,
      stateChangedAt: at,
      statusMessage: undefined,
    };
    this.records.set(record.id, record);
    return this.read(record);
  }

  async transition(
    id: number,
    from: McpServerState,
    to: McpServerState,
  ): Promise<boolean> {
    const record = this.records.get(id);
    if (record?.state !== from) {
      return false;
    }
    record.state = to;
    record.stateChangedAt = now();
    return true;
  }

  async update(
    id: number,
    fields: McpServerFields,
    previous?: McpServerFields,
  ): Promise<boolean> {
    const record = this.records.get(id);
    if (record?.state !== 'registered') {
      return false;
    }
    Object.assign(record, fieldsOf(fields));
    if (previous) {
      record.state = 'updating';
      record.previous = structuredClone(fieldsOf(previous));
      record.stateChangedAt = now();
    }
    return true;
  }

  async settleUpdate(
    id: number,
    outcome: 'commit' | 'revert',
  ): Promise<boolean> {
    const record = this.records.get(id);
    if (record?.state !== 'updating') {
      return false;
    }
    if (outcome === 'revert' && record.previous) {
      Object.assign(record, fieldsOf(record.previous));
    }
    record.state = 'registered';
    delete record.previous;
    record.stateChangedAt = now();
    return true;
  }

  async setStatusMessage(
    id: number,
    message: string | undefined,
  ): Promise<void> {
    const record = this.records.get(id);
    if (record) {
      record.statusMessage = message;
    }
  }

  async remove(id: number): Promise<boolean> {
    return this.records.delete(id);
  }

  async get(name: string): Promise<McpServerRecord | undefined> {
    const record = this.find(name);
    return record && this.read(record);
  }

  async list(
    filter?: PermissionCriteria<McpServerFilter>,
    options: ListOptions = {},
  ): Promise<McpServerRecord[]> {
    const { afterId, limit, excludeNames = [] } = options;
    const matching = [...this.records.values()]
      .sort((a, b) => a.id - b.id)
      .filter(record => !filter || matches(record, filter))
      .filter(record => afterId === undefined || record.id > afterId)
      .filter(record => !excludeNames.includes(record.name));
    return matching.slice(0, limit).map(record => this.read(record));
  }

  async listConfigStatuses(): Promise<Map<string, string | undefined>> {
    return new Map(this.configStatuses);
  }

  async setConfigStatus(
    name: string,
    message: string | undefined,
  ): Promise<void> {
    this.configStatuses.set(name, message);
  }

  async saveCheck(name: string, check: StoredCheck): Promise<void> {
    this.checks.set(name, structuredClone(check));
  }

  async listChecks(names: string[]): Promise<Map<string, StoredCheck>> {
    return new Map(
      names.flatMap(name => {
        const check = this.checks.get(name);
        return check ? [[name, structuredClone(check)] as const] : [];
      }),
    );
  }

  async removeCheck(name: string): Promise<void> {
    this.checks.delete(name);
  }

  /**
   * For tests: moves the record's stateChangedAt `ms` into the past, as if it
   * had been in its state that long (a record left by a crash).
   */
  age(name: string, ms: number): void {
    const record = this.find(name);
    if (!record) {
      throw new Error(`No record named '${name}' to age`);
    }
    record.stateChangedAt = new Date(
      Date.parse(record.stateChangedAt) - ms,
    ).toISOString();
  }

  private find(name: string): StoredRecord | undefined {
    return [...this.records.values()].find(record => record.name === name);
  }

  /**
   * A copy with the last check of the record's current URL, as the database's
   * join gives it.
   */
  private read(record: StoredRecord): McpServerRecord {
    const copy: McpServerRecord = structuredClone(record);
    const check = this.checks.get(record.name);
    if (check && check.url === record.url) {
      const { url: _url, ...lastCheck } = structuredClone(check);
      copy.lastCheck = lastCheck;
    }
    return copy;
  }
}

/**
 * What can change about a server; optional fields left out are cleared, as the
 * columns are.
 */
function fieldsOf(fields: McpServerFields): McpServerFields {
  return {
    url: fields.url,
    providerId: fields.providerId,
    authorizationHeaders: fields.authorizationHeaders && {
      ...fields.authorizationHeaders,
    },
    headers: fields.headers && [...fields.headers],
    timeout: fields.timeout,
  };
}

function matches(
  record: StoredRecord,
  filter: PermissionCriteria<McpServerFilter>,
): boolean {
  if ('allOf' in filter) {
    return filter.allOf.every(part => matches(record, part));
  }
  if ('anyOf' in filter) {
    return filter.anyOf.some(part => matches(record, part));
  }
  if ('not' in filter) {
    return !matches(record, filter.not);
  }
  if (filter.property === 'created_by') {
    const creator = record.createdBy.toLocaleLowerCase('en-US');
    return filter.values.some(
      ref => ref.toLocaleLowerCase('en-US') === creator,
    );
  }
  if (filter.property === 'source') {
    // Every stored server came through the API.
    return filter.value === 'api';
  }
  // Case-sensitive, as substr is in the database.
  return record.name.startsWith(filter.value);
}

function now(): string {
  return new Date().toISOString();
}

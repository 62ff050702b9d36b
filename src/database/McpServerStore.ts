import { McpServerSpec } from '../types';

/**
 * Where a stored server stands with Llama Stack. A crash between the steps of a register or delete
 * leaves `pending` or `deleting`, which tells what to finish or roll back.
 */
export type McpServerState = 'pending' | 'registered' | 'deleting';

export interface McpServerRecord extends McpServerSpec {
  /** Increases with registration order. */
  id: number;
  state: McpServerState;
  createdBy: string;
  /** ISO 8601 */
  createdAt: string;
}

/** The servers registered through the API; SQL lives behind this interface only. */
export interface McpServerStore {
  /** Inserts the server as `pending`; resolves undefined when the name is taken. */
  claim(server: McpServerSpec, createdBy: string): Promise<McpServerRecord | undefined>;
  /** Moves the record from `from` to `to`; false when no record with that id is in state `from`. */
  transition(id: number, from: McpServerState, to: McpServerState): Promise<boolean>;
  /** Removes the record with this id; false when it was already gone. */
  remove(id: number): Promise<boolean>;
  get(name: string): Promise<McpServerRecord | undefined>;
  /** All records in registration order. */
  list(): Promise<McpServerRecord[]>;
}

/** The last validation of a user's token for a server. */
export interface StoredValidation {
  valid: boolean;
  toolCount: number;
  /** ISO 8601 */
  validatedAt: string;
}

/** One user's own settings of one server, as stored. */
export interface StoredUserSettings {
  serverName: string;
  enabled: boolean;
  /** The personal token, encrypted; never plain text. */
  encryptedToken?: string;
  /** The URL the token and the validation belong to. */
  serverUrl?: string;
  validation?: StoredValidation;
}

/**
 * A change of one user's settings of one server: a field left out is kept,
 * `null` clears it.
 */
export interface UserSettingsChange {
  enabled?: boolean;
  encryptedToken?: string | null;
  serverUrl?: string | null;
  validation?: StoredValidation | null;
}

/** Per-user settings of MCP servers; SQL lives behind this interface only. */
export interface UserSettingsStore {
  /** Every server the user has settings for, by server name. */
  listForUser(userRef: string): Promise<Map<string, StoredUserSettings>>;
  get(
    serverName: string,
    userRef: string,
  ): Promise<StoredUserSettings | undefined>;
  /** Creates the settings (enabled by default) or changes them. */
  save(
    serverName: string,
    userRef: string,
    change: UserSettingsChange,
  ): Promise<void>;
  /**
   * Replaces an encrypted token by the same token encrypted anew, only if it
   * is still the one read (a token set meanwhile wins).
   */
  replaceToken(
    serverName: string,
    userRef: string,
    from: string,
    to: string,
  ): Promise<void>;
  /** Every user's settings of a deleted server. */
  removeForServer(serverName: string): Promise<void>;
  /**
   * Every user's token and validation of a server whose URL changed: a token
   * for one URL is never sent to another.
   */
  resetForServer(serverName: string): Promise<void>;
}

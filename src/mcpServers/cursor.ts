import { InputError } from '@backstage/errors';

/**
 * A list position: an index among the config servers, or the id of the last
 * stored server shown, so that inserts never shift a page. Opaque to callers
 * (base64url).
 */
interface CursorPosition {
  /** Next config server to show. */
  configIndex?: number;
  /** Last stored server shown. */
  afterId?: number;
}

export function encodeCursor(position: CursorPosition): string {
  const text =
    position.afterId !== undefined
      ? `a${position.afterId}`
      : `c${position.configIndex}`;
  return Buffer.from(text).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): CursorPosition {
  if (cursor === undefined) {
    return {};
  }
  const match = /^([ac])(\d{1,15})$/.exec(
    Buffer.from(cursor, 'base64url').toString(),
  );
  if (!match) {
    throw new InputError(
      "Invalid 'cursor': use the next_cursor of a previous page",
    );
  }
  const value = Number(match[2]);
  return match[1] === 'a' ? { afterId: value } : { configIndex: value };
}

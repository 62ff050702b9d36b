import { CustomErrorBase } from '@backstage/errors';

// Backstage's error middleware answers with an error's `statusCode`. A getter
// keeps it out of the serialized error body, which then looks exactly like the
// one of the built-in errors.

/** Llama Stack rejected a request of the plugin (502). */
export class BadGatewayError extends CustomErrorBase {
  override name = 'BadGatewayError' as const;
  get statusCode() {
    return 502;
  }
}

/**
 * The errors whose messages are fixed texts of the plugin (or of Backstage's
 * request handling), and the status each answers with.
 */
const PLUGIN_ERROR_STATUS: Record<string, number> = {
  InputError: 400,
  AuthenticationError: 401,
  NotAllowedError: 403,
  NotFoundError: 404,
  ConflictError: 409,
  PayloadTooLargeError: 413,
  BadGatewayError: 502,
  ServiceUnavailableError: 503,
};

/** The status of one of the plugin's errors; undefined for anything else. */
export function pluginErrorStatus(error: unknown): number | undefined {
  return error instanceof Error ? PLUGIN_ERROR_STATUS[error.name] : undefined;
}

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

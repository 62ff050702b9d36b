import { CustomErrorBase } from '@backstage/errors';

// Backstage's error middleware answers with an error's `statusCode`. A getter
// keeps it out of the serialized error body, which then looks exactly like the
// one of the built-in errors.

/** The request body is larger than the plugin accepts (413). */
export class PayloadTooLargeError extends CustomErrorBase {
  override name = 'PayloadTooLargeError' as const;
  get statusCode() {
    return 413;
  }
}

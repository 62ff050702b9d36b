import crypto from 'node:crypto';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const MIN_SECRET_LENGTH = 32;

/** The configured secrets cannot decrypt a stored token. */
export class TokenDecryptionError extends Error {
  override name = 'TokenDecryptionError';
}

interface Key {
  id: string;
  key: Buffer;
}

/**
 * Encrypts personal tokens at rest with AES-256-GCM and a random nonce per
 * value. The first key encrypts and every key decrypts, so keys rotate: add
 * the new secret first, keep the old ones until every token was written again.
 * Each value is bound to its row (`context`), so a ciphertext copied to
 * another user's or server's row does not decrypt.
 */
export class TokenCipher {
  private readonly keys: Key[];

  /** `secrets`: lightspeedMcp.tokenEncryption.keys[].secret, in order. */
  constructor(secrets: string[]) {
    if (secrets.length === 0) {
      throw new Error('TokenCipher needs at least one key');
    }
    this.keys = secrets.map(secret => {
      if (secret.length < MIN_SECRET_LENGTH) {
        throw new Error(
          `lightspeedMcp.tokenEncryption.keys[].secret must be at least ${MIN_SECRET_LENGTH} characters`,
        );
      }
      // HKDF: the secret is a passphrase of any shape; the key is 32 bytes.
      const key = Buffer.from(
        crypto.hkdfSync(
          'sha256',
          secret,
          Buffer.alloc(0),
          'lightspeed-mcp personal tokens',
          32,
        ),
      );
      // Names the key in each value without revealing anything about it.
      const id = crypto
        .createHash('sha256')
        .update(key)
        .digest('base64url')
        .slice(0, 8);
      return { id, key };
    });
  }

  /** Which key encrypts (the first); for telling whether a value is current. */
  get currentKeyId(): string {
    return this.keys[0].id;
  }

  /** The id of every key, in order: values name the key that wrote them. */
  get keyIds(): string[] {
    return this.keys.map(key => key.id);
  }

  /** Whether a value was written with the current key. */
  isCurrent(value: string): boolean {
    return value.split('.')[1] === this.currentKeyId;
  }

  encrypt(plaintext: string, context: string): string {
    const { id, key } = this.keys[0];
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
    ]);
    return [
      VERSION,
      id,
      nonce.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  decrypt(value: string, context: string): string {
    const [version, id, nonce, ciphertext, tag] = value.split('.');
    const entry = this.keys.find(key => key.id === id);
    if (version !== VERSION || !entry || tag === undefined) {
      throw new TokenDecryptionError(
        'A stored token was encrypted with a key that lightspeedMcp.tokenEncryption.keys no longer holds',
      );
    }
    try {
      const decipher = crypto.createDecipheriv(
        'aes-256-gcm',
        entry.key,
        Buffer.from(nonce, 'base64url'),
      );
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new TokenDecryptionError(
        'A stored token does not decrypt: it was changed, or belongs to another row',
      );
    }
  }
}

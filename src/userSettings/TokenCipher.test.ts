import { TokenCipher, TokenDecryptionError } from './TokenCipher';

const OLD = 'old-secret-old-secret-old-secret-0000';
const NEW = 'new-secret-new-secret-new-secret-1111';

describe('TokenCipher', () => {
  it('encrypts with a fresh nonce each time and decrypts again', () => {
    const cipher = new TokenCipher([OLD]);

    const first = cipher.encrypt('ghp_secret', 'docs\nuser:default/alice');
    const second = cipher.encrypt('ghp_secret', 'docs\nuser:default/alice');

    expect(first).not.toContain('ghp_secret');
    expect(first).not.toBe(second);
    expect(cipher.decrypt(first, 'docs\nuser:default/alice')).toBe(
      'ghp_secret',
    );
  });

  it('decrypts a value written under the old key after a new first key was added', () => {
    const written = new TokenCipher([OLD]).encrypt('tok', 'ctx');
    const rotated = new TokenCipher([NEW, OLD]);

    expect(rotated.decrypt(written, 'ctx')).toBe('tok');
    expect(rotated.encrypt('tok', 'ctx').split('.')[1]).toBe(
      rotated.currentKeyId,
    );
    expect(rotated.currentKeyId).not.toBe(new TokenCipher([OLD]).currentKeyId);
  });

  it('refuses a value of a removed key, of another row, or changed', () => {
    const written = new TokenCipher([OLD]).encrypt('tok', 'ctx');
    const [version, id, nonce, ciphertext, tag] = written.split('.');
    const flipped = ciphertext[0] === 'A' ? 'B' : 'A';
    const tampered = [
      version,
      id,
      nonce,
      `${flipped}${ciphertext.slice(1)}`,
      tag,
    ].join('.');

    expect(() => new TokenCipher([NEW]).decrypt(written, 'ctx')).toThrow(
      TokenDecryptionError,
    );
    expect(() => new TokenCipher([OLD]).decrypt(written, 'other')).toThrow(
      TokenDecryptionError,
    );
    expect(() => new TokenCipher([OLD]).decrypt(tampered, 'ctx')).toThrow(
      TokenDecryptionError,
    );
  });

  it('refuses a secret shorter than 32 characters, naming the key', () => {
    expect(() => new TokenCipher(['short'])).toThrow(
      'lightspeedMcp.tokenEncryption.keys[].secret must be at least 32 characters',
    );
  });
});

import crypto from 'node:crypto';

/** A high-entropy secret (256 bits) with a recognisable prefix, e.g. `pdt_…` for API tokens. */
export function newSecret(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(32).toString('base64url')}`;
}

/** Secrets are random, so a fast hash is enough to make the stored form useless to a thief. */
export function secretHash(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex');
}

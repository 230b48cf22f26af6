import { createHash, randomBytes } from 'node:crypto';

/** A new API key. Only its sha256 is stored; the key is shown to the operator once. */
export function generateApiKey(): string {
  return `dsk_${randomBytes(24).toString('base64url')}`;
}

/** Keys are long random strings, so a fast unsalted hash is enough to make a stolen table useless. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Reads the key from `Authorization`. Resemble documents `Bearer KEY`, but its official SDKs
 * send `Token token=KEY`; `Token KEY` is accepted too.
 */
export function extractApiKey(header: string | undefined): string | null {
  if (!header) return null;
  const value = header.trim();
  let match = /^Bearer\s+(\S+)$/i.exec(value);
  if (match) return match[1]!;
  match = /^Token\s+token="?([^"\s]+)"?$/i.exec(value);
  if (match) return match[1]!;
  match = /^Token\s+(\S+)$/i.exec(value);
  if (match) return match[1]!;
  return null;
}

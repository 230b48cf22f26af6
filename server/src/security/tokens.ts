import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Compact HS256 JSON Web Tokens for secure uploads. Written here rather than pulled from a
 * library because only one algorithm, fixed by the server, is ever accepted: no `alg` confusion.
 */
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export interface UploadClaims {
  /** team id */
  sub: string;
  /** secure upload id */
  upl: string;
  iat: number;
  exp: number;
}

function mac(data: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

export function signUploadToken(claims: UploadClaims, secret: string): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signingInput = `${HEADER}.${body}`;
  return `${signingInput}.${mac(signingInput, secret).toString('base64url')}`;
}

export type TokenCheck = { ok: true; claims: UploadClaims } | { ok: false; reason: string };

export function verifyUploadToken(token: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) return { ok: false, reason: 'media_token is malformed' };
  const expected = mac(`${parts[0]}.${parts[1]}`, secret);
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'media_token signature is invalid' };
  }
  let claims: UploadClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'media_token is malformed' };
  }
  if (typeof claims.exp !== 'number' || claims.exp < nowSeconds) {
    return { ok: false, reason: 'media_token has expired; upload the file again' };
  }
  if (typeof claims.sub !== 'string' || typeof claims.upl !== 'string') return { ok: false, reason: 'media_token is malformed' };
  return { ok: true, claims };
}

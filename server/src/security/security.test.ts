import { describe, expect, it } from 'vitest';
import { extractApiKey, generateApiKey, hashApiKey } from './api-keys.js';
import { UrlSigner } from './signed-urls.js';
import { signUploadToken, verifyUploadToken } from './tokens.js';

describe('API keys', () => {
  it('reads every header form the clients send', () => {
    expect(extractApiKey('Bearer abc')).toBe('abc');
    expect(extractApiKey('bearer   abc')).toBe('abc');
    expect(extractApiKey('Token token=abc')).toBe('abc');
    expect(extractApiKey('Token token="abc"')).toBe('abc');
    expect(extractApiKey('Token abc')).toBe('abc');
    expect(extractApiKey('Basic abc')).toBeNull();
    expect(extractApiKey('')).toBeNull();
    expect(extractApiKey(undefined)).toBeNull();
  });

  it('generates distinct keys and stores only a hash', () => {
    const a = generateApiKey();
    expect(a).not.toBe(generateApiKey());
    expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(a)).toBe(hashApiKey(a));
  });
});

describe('upload tokens', () => {
  const secret = 'x'.repeat(40);
  const claims = { sub: 'team', upl: 'upload', iat: 1000, exp: 4600 };

  it('verifies its own tokens until they expire', () => {
    const token = signUploadToken(claims, secret);
    expect(verifyUploadToken(token, secret, 2000)).toEqual({ ok: true, claims });
    expect(verifyUploadToken(token, secret, 4601)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
  });

  it('refuses another secret, altered claims and other algorithms', () => {
    const token = signUploadToken(claims, secret);
    expect(verifyUploadToken(token, 'y'.repeat(40), 2000).ok).toBe(false);
    const [h, , s] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...claims, sub: 'other' })).toString('base64url');
    expect(verifyUploadToken(`${h}.${altered}.${s}`, secret, 2000).ok).toBe(false);
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(verifyUploadToken(`${none}.${altered}.`, secret, 2000).ok).toBe(false);
  });
});

describe('signed asset URLs', () => {
  it('verify within their lifetime only, for their key only', () => {
    const signer = new UrlSigner('s'.repeat(40), 'http://h', 60);
    const url = new URL(signer.sign('teams/t/a.png', 1000));
    const expires = url.searchParams.get('expires')!;
    const signature = url.searchParams.get('signature')!;
    expect(signer.verify('teams/t/a.png', expires, signature, 1059)).toBe(true);
    expect(signer.verify('teams/t/a.png', expires, signature, 1061)).toBe(false);
    expect(signer.verify('teams/t/b.png', expires, signature, 1000)).toBe(false);
    expect(signer.verify('teams/t/a.png', String(Number(expires) + 100), signature, 1000)).toBe(false);
  });
});

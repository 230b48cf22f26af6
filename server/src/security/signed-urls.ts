import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Expiring links to blobs (heatmaps, media, watermarked files). The link itself is the
 * credential, so clients can hand it to a browser; it dies after `ttlSeconds`.
 */
export class UrlSigner {
  constructor(private readonly secret: string, private readonly publicUrl: string, private readonly ttlSeconds: number) {}

  private signature(key: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`asset\n${key}\n${expires}`).digest('base64url');
  }

  sign(key: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
    const expires = nowSeconds + this.ttlSeconds;
    const encodedKey = key.split('/').map(encodeURIComponent).join('/');
    return `${this.publicUrl}/api/v2/assets/${encodedKey}?expires=${expires}&signature=${this.signature(key, expires)}`;
  }

  verify(key: string, expires: string | undefined, signature: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
    if (!expires || !signature || !/^\d+$/.test(expires)) return false;
    const exp = Number(expires);
    if (exp < nowSeconds) return false;
    const expected = Buffer.from(this.signature(key, exp));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

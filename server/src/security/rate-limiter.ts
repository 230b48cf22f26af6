/**
 * Per-key token bucket: `ratePerSecond` sustained with an equal burst, matching Resemble's
 * "40 requests per second per API token". In memory: each server process limits on its own.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  constructor(private readonly ratePerSecond: number) {}

  /** Returns 0 when the request may proceed, otherwise the seconds to wait. */
  take(key: string, now = Date.now()): number {
    if (this.ratePerSecond <= 0) return 0;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.ratePerSecond, updated: now };
      this.buckets.set(key, bucket);
      if (this.buckets.size > 100_000) this.buckets.clear();
    }
    bucket.tokens = Math.min(this.ratePerSecond, bucket.tokens + ((now - bucket.updated) / 1000) * this.ratePerSecond);
    bucket.updated = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }
}

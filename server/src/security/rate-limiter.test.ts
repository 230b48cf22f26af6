import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('lets 40 requests through in a second per key, then asks the 41st to wait', () => {
    const limiter = new RateLimiter(40);
    const t = 1_000_000;
    for (let i = 0; i < 40; i++) expect(limiter.take('k', t)).toBe(0);
    expect(limiter.take('k', t)).toBe(1);
    expect(limiter.take('other', t)).toBe(0);
    // 25 ms later one token has come back.
    expect(limiter.take('k', t + 25)).toBe(0);
    expect(limiter.take('k', t + 25)).toBe(1);
    // A second later the bucket is full again, not fuller.
    for (let i = 0; i < 40; i++) expect(limiter.take('k', t + 2000)).toBe(0);
    expect(limiter.take('k', t + 2000)).toBe(1);
  });

  it('is off at 0', () => {
    const limiter = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) expect(limiter.take('k')).toBe(0);
  });
});

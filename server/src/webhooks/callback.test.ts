import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CALLBACK_MAX_ATTEMPTS,
  CALLBACK_MAX_DELAY_MS,
  computeRetryDelayMs,
  deliverCallback,
  signPayload,
  verifySignature,
} from './callback.js';

interface Received {
  method?: string;
  path?: string;
  headers: IncomingMessage['headers'];
  body: string;
  remote?: string;
}

let server: Server;
let base: string;
const received: Received[] = [];
const statusFor: Record<string, number> = { '/ok': 200, '/accepted': 202, '/fail': 500, '/gone': 410, '/moved': 302 };

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        remote: req.socket.remoteAddress,
      });
      if (req.url === '/hang') return; // never answers
      const status = statusFor[req.url ?? ''] ?? 404;
      res.statusCode = status;
      if (status === 302) res.setHeader('location', '/ok');
      res.end(status === 200 ? 'thanks'.repeat(50_000) : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const guard = { allowHosts: ['127.0.0.1'] };
const payload = { success: true, item: { uuid: 'b6a1d7a4-2f0e-4c55-9a43-3a3c0b4ad111', status: 'completed', metrics: { label: 'fake', score: ['0.91'] } } };

describe('deliverCallback', () => {
  it('POSTs the JSON payload with identifying headers and a verifiable signature', async () => {
    const before = received.length;
    const now = Date.UTC(2026, 0, 2, 3, 4, 5);
    const r = await deliverCallback({ url: `${base}/ok`, payload, secret: 'whsec_test', timeoutMs: 5000, guard, now: () => now });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(received.length).toBe(before + 1);
    const got = received[received.length - 1]!;
    expect(got.method).toBe('POST');
    expect(JSON.parse(got.body)).toEqual(payload);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('discern');
    expect(got.headers['x-discern-event-id']).toBe(r.eventId);
    expect(got.headers['x-discern-event-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const t = Math.floor(now / 1000);
    expect(got.headers['x-discern-timestamp']).toBe(String(t));
    // Recompute independently of signPayload.
    const mac = createHmac('sha256', 'whsec_test').update(`${t}.${got.body}`).digest('hex');
    expect(got.headers['x-discern-signature']).toBe(`t=${t},v1=${mac}`);
    expect(verifySignature(got.headers['x-discern-signature'] as string, got.body, 'whsec_test', 300, t + 10)).toBe(true);
  });

  it('keeps the event id stable across retries of the same event and distinct between events', async () => {
    const a = await deliverCallback({ url: `${base}/accepted`, payload, timeoutMs: 5000, guard });
    const b = await deliverCallback({ url: `${base}/accepted`, payload, timeoutMs: 5000, guard });
    const c = await deliverCallback({ url: `${base}/accepted`, payload: { ...payload, item: { ...payload.item, status: 'failed' } }, timeoutMs: 5000, guard });
    expect(a).toMatchObject({ ok: true, status: 202 });
    expect(a.eventId).toBe(b.eventId);
    expect(c.eventId).not.toBe(a.eventId);
    const explicit = await deliverCallback({ url: `${base}/accepted`, payload, timeoutMs: 5000, guard, eventId: 'evt-1' });
    expect(explicit.eventId).toBe('evt-1');
    expect(received[received.length - 1]!.headers['x-discern-event-id']).toBe('evt-1');
  });

  it('sends no signature header without a secret', async () => {
    await deliverCallback({ url: `${base}/ok`, payload, timeoutMs: 5000, guard });
    expect(received[received.length - 1]!.headers['x-discern-signature']).toBeUndefined();
  });

  it('reports HTTP errors without throwing, and does not follow redirects', async () => {
    expect(await deliverCallback({ url: `${base}/fail`, payload, timeoutMs: 5000, guard })).toMatchObject({
      ok: false,
      status: 500,
      error: 'receiver answered HTTP 500',
    });
    expect(await deliverCallback({ url: `${base}/gone`, payload, timeoutMs: 5000, guard })).toMatchObject({ ok: false, status: 410 });
    const before = received.length;
    const moved = await deliverCallback({ url: `${base}/moved`, payload, timeoutMs: 5000, guard });
    expect(moved).toMatchObject({ ok: false, status: 302 });
    expect(moved.error).toContain('redirects are not followed');
    expect(received.length).toBe(before + 1);
  });

  it('times out on a receiver that never answers', async () => {
    const t0 = Date.now();
    const r = await deliverCallback({ url: `${base}/hang`, payload, timeoutMs: 300, guard });
    expect(r).toMatchObject({ ok: false, status: null, error: 'timed out after 300 ms' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('refuses private and loopback receivers before connecting', async () => {
    const before = received.length;
    const loop = await deliverCallback({ url: `${base}/ok`, payload, timeoutMs: 2000 });
    expect(loop).toMatchObject({ ok: false, status: null, permanent: true });
    expect(loop.error).toBe('URL resolves to a loopback address (127.0.0.1); refused');
    expect(received.length).toBe(before);
    for (const url of ['http://10.0.0.1/hook', 'http://169.254.169.254/latest', 'http://[::ffff:192.168.0.1]/x', 'http://0xA9FEA9FE/']) {
      const r = await deliverCallback({ url, payload, timeoutMs: 2000 });
      expect(r.ok).toBe(false);
      expect(r.permanent).toBe(true);
      expect(r.error).toMatch(/^URL resolves to an? .* address .*; refused$/);
    }
    expect(await deliverCallback({ url: 'ftp://example.com/x', payload, timeoutMs: 2000 })).toMatchObject({ ok: false, permanent: true });
    expect(await deliverCallback({ url: 'not a url', payload, timeoutMs: 2000 })).toMatchObject({ ok: false, permanent: true });
  });

  it('reports a connection failure without throwing', async () => {
    const r = await deliverCallback({ url: 'http://127.0.0.1:1/hook', payload, timeoutMs: 2000, guard });
    expect(r).toMatchObject({ ok: false, status: null });
    expect(r.error).toContain('ECONNREFUSED');
    expect(r.permanent).toBeUndefined();
  });
});

describe('verifySignature', () => {
  const secret = 'shh';
  const body = JSON.stringify(payload);
  const t = 1_800_000_000;
  const header = signPayload(body, secret, t);

  it('accepts the genuine signature within the tolerance', () => {
    expect(verifySignature(header, body, secret, 300, t)).toBe(true);
    expect(verifySignature(header, Buffer.from(body), secret, 300, t + 299)).toBe(true);
  });

  it('rejects tampering, wrong secrets, replays and junk', () => {
    expect(verifySignature(header, body.replace('fake', 'real'), secret, 300, t)).toBe(false);
    expect(verifySignature(header, body, 'other', 300, t)).toBe(false);
    expect(verifySignature(header, body, secret, 300, t + 301)).toBe(false);
    expect(verifySignature(header, body, secret, 300, t - 301)).toBe(false);
    expect(verifySignature(header.replace(/t=\d+/, `t=${t + 1}`), body, secret, 300, t)).toBe(false);
    expect(verifySignature('', body, secret)).toBe(false);
    expect(verifySignature(undefined, body, secret)).toBe(false);
    expect(verifySignature('t=abc,v1=zz', body, secret)).toBe(false);
    expect(verifySignature(`v1=${header.split('v1=')[1]}`, body, secret, 300, t)).toBe(false);
    expect(verifySignature(header, body, '', 300, t)).toBe(false);
  });

  it('accepts any of several v1 values (secret rotation)', () => {
    const old = signPayload(body, 'old-secret', t).split(',')[1]!;
    expect(verifySignature(`${header},${old}`, body, 'old-secret', 300, t)).toBe(true);
    expect(verifySignature(`${header},${old}`, body, secret, 300, t)).toBe(true);
  });
});

describe('computeRetryDelayMs', () => {
  it('doubles from 5 s with ±20 % jitter and never exceeds 10 minutes', () => {
    const low = () => 0;
    const high = () => 0.999999;
    const mid = () => 0.5;
    expect(computeRetryDelayMs(1, mid)).toBe(5_000);
    expect(computeRetryDelayMs(2, mid)).toBe(10_000);
    expect(computeRetryDelayMs(3, mid)).toBe(20_000);
    expect(computeRetryDelayMs(7, mid)).toBe(320_000);
    expect(computeRetryDelayMs(1, low)).toBe(4_000);
    expect(computeRetryDelayMs(1, high)).toBe(6_000);
    for (const attempt of [8, 9, 20, 1000, Number.POSITIVE_INFINITY]) {
      expect(computeRetryDelayMs(attempt, high)).toBeLessThanOrEqual(CALLBACK_MAX_DELAY_MS);
      expect(computeRetryDelayMs(attempt, low)).toBeGreaterThanOrEqual(CALLBACK_MAX_DELAY_MS * 0.8 - 1);
    }
    expect(computeRetryDelayMs(0, mid)).toBe(5_000);
    expect(computeRetryDelayMs(-3, mid)).toBe(5_000);
    expect(computeRetryDelayMs(Number.NaN, mid)).toBe(5_000);
    expect(CALLBACK_MAX_ATTEMPTS).toBe(8);
  });

  it('spreads delays with the default random source', () => {
    const seen = new Set(Array.from({ length: 20 }, () => computeRetryDelayMs(3)));
    expect(seen.size).toBeGreaterThan(1);
    for (const d of seen) expect(d).toBeGreaterThanOrEqual(16_000), expect(d).toBeLessThanOrEqual(24_000);
  });
});

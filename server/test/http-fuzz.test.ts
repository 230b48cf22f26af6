/**
 * Fuzzes the request parsers: random JSON shapes, random multipart fields, garbage files and
 * broken framing. Every answer must be JSON `{success:false, message}` with a 4xx (or a normal
 * success), never a 5xx or a dropped connection, and no temporary upload may be left behind.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;

/** Small deterministic PRNG so a failure can be replayed with the same seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.DISCERN_FUZZ_SEED ?? 20261122);
const rand = prng(SEED);
const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;
const FIELDS = ['url', 'media_token', 'callback_url', 'visualize', 'frame_length', 'start_region', 'end_region', 'max_video_fps', 'model_types', 'intelligence', 'zero_retention_mode', 'privacy_mode', 'use_reverse_search', 'pipeline', '__proto__', 'constructor'];

function randomValue(depth = 0): unknown {
  const kind = Math.floor(rand() * (depth > 2 ? 6 : 8));
  switch (kind) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return pick([0, -1, 1, 2, 4, 5, 1e308, -1e-9, 3.5, Number.MAX_SAFE_INTEGER]);
    case 3: return pick(['', 'true', 'false', '2', 'abc', '-1', 'http://', 'https://example.invalid/a.wav', 'file:///etc/passwd', 'x'.repeat(5000), '\u0000', '😀', 'image', 'talking_head']);
    case 4: return pick(['http://10.0.0.1/a.wav', 'http://[::1]/a', 'http://169.254.169.254/', 'javascript:alert(1)']);
    case 5: return Math.floor(rand() * 1000).toString(36);
    case 6: return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [pick(FIELDS), randomValue(depth + 1)]));
  }
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

async function expectJsonAnswer(response: Response, label: string) {
  const text = await response.text();
  expect(response.status, `${label}: ${text.slice(0, 200)}`).toBeLessThan(500);
  const body = JSON.parse(text);
  expect(typeof body.success, label).toBe('boolean');
  if (!body.success) expect(typeof body.message, label).toBe('string');
  return body;
}

beforeAll(async () => {
  server = await startTestServer({ DISCERN_WORKERS: '0', DISCERN_RATE_LIMIT_PER_SECOND: '0' });
});

afterAll(async () => {
  await server?.close();
});

describe(`HTTP fuzz (seed ${SEED})`, () => {
  it('random JSON bodies to POST /detect', async () => {
    for (let i = 0; i < 300; i++) {
      const body = rand() < 0.8 ? Object.fromEntries(Array.from({ length: 1 + Math.floor(rand() * 6) }, () => [pick(FIELDS), randomValue()])) : randomValue();
      const raw = rand() < 0.05 ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body);
      const res = await fetch(`${server.url}/api/v2/detect`, { method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' }, body: raw ?? 'null' });
      await expectJsonAnswer(res, `json #${i} ${String(raw).slice(0, 120)}`);
    }
  });

  it('random multipart forms and garbage files to POST /detect, /detect/batch and /secure_uploads', async () => {
    for (let i = 0; i < 150; i++) {
      const form = new FormData();
      for (let f = 0; f < Math.floor(rand() * 5); f++) form.append(pick([...FIELDS, 'files[]', 'file']), String(randomValue()).slice(0, 2000));
      if (rand() < 0.8) {
        const name = pick(['a.wav', 'b.png', 'c.zip', 'd.exe', '../../e.wav', '', 'f.mp4', 'g.WAV', '.hidden', 'x'.repeat(300) + '.wav']);
        form.append(pick(['file', 'files[]', 'other']), new Blob([randomBytes(Math.floor(rand() * 4096))]), name);
      }
      const route = pick(['/api/v2/detect', '/api/v2/detect/batch', '/api/v2/secure_uploads']);
      const res = await fetch(`${server.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${server.key}` }, body: form });
      await expectJsonAnswer(res, `multipart #${i} to ${route}`);
    }
  });

  it('broken multipart framing and wrong content types', async () => {
    const cases: [string, string | Uint8Array][] = [
      ['multipart/form-data', 'no boundary at all'],
      ['multipart/form-data; boundary=xyz', '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nunterminated'],
      ['multipart/form-data; boundary=xyz', '--xyz--\r\n'],
      ['text/plain', 'url=https://example.com/a.wav'],
      ['application/x-www-form-urlencoded', 'url=https%3A%2F%2Fexample.com%2Fa.wav'],
      ['application/octet-stream', randomBytes(1000)],
      ['application/json', '{"url": "https://example.com/a.wav", "frame_length": {"$gt": 1}}'],
      ['application/json', '['.repeat(5000)],
    ];
    for (const [contentType, body] of cases) {
      const res = await fetch(`${server.url}/api/v2/detect`, { method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': contentType }, body });
      await expectJsonAnswer(res, contentType);
    }
  });

  it('leaves no temporary upload behind and the server still answers', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const leftovers = (await readdir(server.ctx.config.tmpDir)).filter((n) => n.startsWith('upload-') || n.startsWith('batch-'));
    expect(leftovers).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

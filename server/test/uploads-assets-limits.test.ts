import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUploadToken } from '../src/security/tokens.js';
import { api, startTestServer, type TestServer, waitForDetect } from './helpers/server.js';
import { fileForm, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let wav: string;

beforeAll(async () => {
  server = await startTestServer({ DISCERN_RATE_LIMIT_PER_SECOND: '40' });
  dir = await mkdtemp(path.join(tmpdir(), 'discern-up-'));
  wav = await makeWav(path.join(dir, 'a.wav'));
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('secure uploads', () => {
  it('answers a top-level token that POST /detect accepts as media_token', async () => {
    const up = await api(server, 'POST', '/api/v2/secure_uploads', { form: await fileForm('file', wav, 'voice.wav') });
    expect(up.status).toBe(200);
    expect(up.json.success).toBe(true);
    expect(up.json.token.split('.')).toHaveLength(3);
    expect(up.json.item).toBeUndefined();
    const created = await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token } });
    expect(created.json.item.filename).toBe('voice.wav');
    const done = await waitForDetect(server, created.json.item.uuid);
    expect(['completed', 'failed']).toContain(done.status);
    // Reuse within the hour is allowed (re-upload is only required after expiry).
    expect((await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token } })).status).toBe(200);
  });

  it('refuses tampered, expired and garbage tokens', async () => {
    const up = await api(server, 'POST', '/api/v2/secure_uploads', { form: await fileForm('file', wav, 'voice.wav') });
    const [h, b, s] = up.json.token.split('.');
    const claims = JSON.parse(Buffer.from(b, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 99999 })).toString('base64url')}.${s}`;
    expect((await api(server, 'POST', '/api/v2/detect', { body: { media_token: forged } })).json.message).toMatch(/signature/);
    const expired = signUploadToken({ ...claims, iat: 1, exp: 2 }, 'not-the-secret');
    expect((await api(server, 'POST', '/api/v2/detect', { body: { media_token: expired } })).status).toBe(400);
    expect((await api(server, 'POST', '/api/v2/detect', { body: { media_token: 'garbage' } })).json.message).toMatch(/malformed/);
  });

  it('refuses a request without a file', async () => {
    const form = new FormData();
    form.append('note', 'x');
    const res = await api(server, 'POST', '/api/v2/secure_uploads', { form });
    expect(res.status).toBe(400);
  });
});

describe('signed asset URLs', () => {
  it('serve the media until the signature is altered', async () => {
    const created = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'a.wav') });
    const url = new URL(created.json.item.url);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).subarray(0, 4).toString()).toBe('RIFF');
    url.searchParams.set('signature', 'AAAA' + url.searchParams.get('signature')!.slice(4));
    const bad = await fetch(url);
    expect(bad.status).toBe(403);
    expect((await bad.json()).success).toBe(false);
    const noSig = await fetch(`${server.url}/api/v2/assets/${url.pathname.split('/assets/')[1]}`);
    expect(noSig.status).toBe(403);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After and a JSON body once a key exceeds its rate', async () => {
    // A low limit keeps the test independent of how fast this machine answers.
    const limited = await startTestServer({ DISCERN_RATE_LIMIT_PER_SECOND: '5', DISCERN_WORKERS: '0' });
    try {
      const key = await limited.createKey('rate-team');
      const responses = await Promise.all(
        Array.from({ length: 40 }, () => fetch(`${limited.url}/api/v2/detect?page=1`, { headers: { authorization: `Bearer ${key}` } })),
      );
      const refused = responses.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      expect(responses.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(5);
      expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused[0]!.json()).toMatchObject({ success: false, message: expect.stringMatching(/Rate limit/) });
      // Another key is not affected.
      expect((await api(limited, 'GET', '/api/v2/detect?page=1')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('operations endpoints', () => {
  it('healthz, readyz, metrics, openapi and docs answer without a key', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await (await fetch(`${server.url}/readyz`)).json();
    expect(ready.status).toBe('ready');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/discern_http_requests_total\{/);
    expect(metrics).toMatch(/discern_jobs\{state=/);
    const openapi = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(openapi.paths['/detect'].post).toBeDefined();
    const docs = await (await fetch(`${server.url}/docs`)).text();
    expect(docs).toContain('/api/v2/detect');
  });
});

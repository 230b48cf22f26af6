import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../src/webhooks/callback.js';
import { api, startTestServer, type TestServer, waitForDetect } from './helpers/server.js';
import { fileForm, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let wav: string;
let hook: Server;
let hookUrl: string;
/** Answers 500 to the first `failFirst` deliveries of each event, then 200. */
const deliveries: { headers: Record<string, string | string[] | undefined>; raw: string; at: number }[] = [];
let failFirst = 0;
const SECRET = 'test-webhook-secret-0123456789';

beforeAll(async () => {
  server = await startTestServer({ DISCERN_CALLBACK_RETRY_BASE_SECONDS: '0.2' });
  const team = await server.ctx.teams.findByName('default');
  await server.ctx.teams.setWebhookSecret(team!.id, SECRET);
  dir = await mkdtemp(path.join(tmpdir(), 'discern-cb-'));
  wav = await makeWav(path.join(dir, 'voice.wav'), { seconds: 1 });
  hook = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, raw, at: Date.now() });
      const forThisEvent = deliveries.filter((d) => d.headers['x-discern-event-id'] === req.headers['x-discern-event-id']).length;
      res.writeHead(forThisEvent <= failFirst ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const address = hook.address();
  hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
});

afterAll(async () => {
  await new Promise((resolve) => hook?.close(resolve));
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('callbacks', () => {
  it('POSTs {success, item} on the terminal state, retries non-2xx with backoff, and signs with HMAC-SHA256', async () => {
    failFirst = 2;
    const created = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'voice.wav', { callback_url: hookUrl }) });
    const uuid = created.json.item.uuid;
    const mine = () => deliveries.filter((d) => d.raw.includes(uuid));
    await until(() => (mine().length >= 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500));
    const got = mine();
    expect(got).toHaveLength(3); // two failures, one success, then nothing more
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(100);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThan(got[1]!.at - got[0]!.at - 150); // backoff grows
    const last = got[2]!;
    const body = JSON.parse(last.raw);
    expect(body.success).toBe(true);
    expect(body.item.uuid).toBe(uuid);
    expect(['completed', 'failed']).toContain(body.item.status);
    expect(last.headers['content-type']).toMatch(/application\/json/);
    const signature = String(last.headers['x-discern-signature']);
    expect(verifySignature(signature, last.raw, SECRET)).toBe(true);
    expect(verifySignature(signature, last.raw.replace('"success":true', '"success":false'), SECRET)).toBe(false);
    expect(verifySignature(signature, last.raw, 'wrong-secret')).toBe(false);
    // Every attempt carries the same event id so receivers can de-duplicate.
    expect(new Set(got.map((d) => d.headers['x-discern-event-id'])).size).toBe(1);
  });
});

describe('zero retention mode', () => {
  it('redacts url and filename everywhere, purges the media after the job, and leaves no byte of it on disk', async () => {
    failFirst = 0;
    // A recording no other test uploads, so any copy found on disk can only be this one.
    const privateWav = await makeWav(path.join(dir, 'private.wav'), { seconds: 1.7, frequency: 523 });
    const original = await readFile(privateWav);
    const form = await fileForm('file', privateWav, 'secret-interview.wav', { zero_retention_mode: 'true', callback_url: hookUrl });
    const created = await api(server, 'POST', '/api/v2/detect', { form });
    const item = created.json.item;
    expect(item.url).toBeNull();
    expect(item.audio_url).toBeNull();
    expect(item.filename).toMatch(/^redacted_[0-9a-f]{32}\.wav$/);
    expect(item.media_redacted).toBe(true);
    expect(item.zero_retention_mode).toBe(true);

    await waitForDetect(server, item.uuid);
    const deadline = Date.now() + 20_000;
    let after = (await api(server, 'GET', `/api/v2/detect/${item.uuid}`)).json.item;
    while (!after.media_deleted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = (await api(server, 'GET', `/api/v2/detect/${item.uuid}`)).json.item;
    }
    expect(after.media_deleted).toBe(true);
    expect(after.file_deleted_at).toMatch(/^\d{4}-/);
    expect(after.url).toBeNull();
    expect(after.filename).toBe(item.filename);

    const callback = await until(() => deliveries.find((d) => d.raw.includes(item.uuid)));
    const payload = JSON.parse(callback.raw);
    expect(payload.item.url).toBeNull();
    expect(payload.item.audio_url).toBeNull();
    expect(callback.raw).not.toContain('secret-interview');

    // No file under the data folder holds the media's bytes (the PCM part, past the header).
    const needle = original.subarray(original.length - 4096);
    const offenders: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        const full = path.join(folder, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if ((await stat(full)).size >= needle.length && (await readFile(full)).includes(needle)) offenders.push(full);
      }
    };
    // The SQLite WAL may hold pages of rows, never media; media lives only in blobs.
    await walk(server.dataDir);
    expect(offenders).toEqual([]);
  });

  it('also purges the secure-upload blob the detect was made from', async () => {
    const up = await api(server, 'POST', '/api/v2/secure_uploads', { form: await fileForm('file', wav, 'private.wav') });
    const created = await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token, privacy_mode: true } });
    expect(created.json.item.zero_retention_mode).toBe(true);
    const deadline = Date.now() + 20_000;
    let item = created.json.item;
    while (!item.media_deleted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      item = (await api(server, 'GET', `/api/v2/detect/${item.uuid}`)).json.item;
    }
    expect(item.media_deleted).toBe(true);
    const again = await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token } });
    expect(again.status).toBe(400);
    expect(again.json.message).toMatch(/no longer exists/);
  });
});

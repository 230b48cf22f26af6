import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer } from './helpers/server.js';
import { fileForm, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let wav: string;
let ownDetect: string;
let ownBatch: string;
let otherKey: string;

/** Every authenticated route, with how to call it. `:detect` / `:batch` are filled in per case. */
const routes: { method: string; path: string; body?: () => Promise<{ form?: FormData; body?: unknown }> }[] = [
  { method: 'POST', path: '/detect', body: async () => ({ form: await fileForm('file', wav, 'a.wav') }) },
  { method: 'GET', path: '/detect?page=1' },
  { method: 'GET', path: '/detect/:detect' },
  { method: 'DELETE', path: '/detect/:detect' },
  { method: 'POST', path: '/detect/batch', body: async () => ({ form: await fileForm('files[]', wav, 'a.wav') }) },
  { method: 'GET', path: '/detect/batch/:batch' },
  { method: 'POST', path: '/secure_uploads', body: async () => ({ form: await fileForm('file', wav, 'a.wav') }) },
  { method: 'POST', path: '/watermark/apply', body: async () => ({ form: await fileForm('file', wav, 'a.wav') }) },
  { method: 'GET', path: '/watermark/apply/:wmApply/result' },
  { method: 'POST', path: '/watermark/detect', body: async () => ({ form: await fileForm('file', wav, 'a.wav') }) },
  { method: 'GET', path: '/watermark/detect/:wmDetect/result' },
];

let ownApply: string;
let ownWmDetect: string;
const fill = (p: string) => p.replace(':detect', ownDetect).replace(':batch', ownBatch).replace(':wmApply', ownApply).replace(':wmDetect', ownWmDetect);

beforeAll(async () => {
  server = await startTestServer({ DISCERN_WORKERS: '0' });
  dir = await mkdtemp(path.join(tmpdir(), 'discern-auth-'));
  wav = await makeWav(path.join(dir, 'a.wav'));
  ownDetect = (await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'a.wav') })).json.item.uuid;
  ownBatch = (await api(server, 'POST', '/api/v2/detect/batch', { form: await fileForm('files[]', wav, 'a.wav') })).json.item.uuid;
  ownApply = (await api(server, 'POST', '/api/v2/watermark/apply', { form: await fileForm('file', wav, 'a.wav') })).json.item.uuid;
  ownWmDetect = (await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', wav, 'a.wav') })).json.item.uuid;
  otherKey = await server.createKey('other-team');
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('auth matrix', () => {
  for (const route of routes) {
    it(`${route.method} ${route.path}: no key and a bad key are 401 with a JSON body`, async () => {
      for (const authorization of [undefined, 'Bearer dsk_not-a-real-key', 'Token token=dsk_not-a-real-key', 'Basic abc']) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        const extra = route.body ? await route.body() : {};
        const res = await api(server, route.method, `/api/v2${fill(route.path)}`, { ...extra, headers, key: null });
        expect(res.status, `${authorization}`).toBe(401);
        expect(res.json.success).toBe(false);
        expect(typeof res.json.message).toBe('string');
      }
    });

    it(`${route.method} ${route.path}: accepts both "Bearer KEY" and "Token token=KEY"`, async () => {
      for (const authorization of [`Bearer ${server.key}`, `Token token=${server.key}`, `Token token="${server.key}"`]) {
        // DELETE consumes the detect: use a fresh one for each header form.
        let p = fill(route.path);
        if (route.method === 'DELETE') {
          const fresh = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'a.wav') });
          p = `/detect/${fresh.json.item.uuid}`;
        }
        const extra = route.body ? await route.body() : {};
        const res = await api(server, route.method, `/api/v2${p}`, { ...extra, headers: { authorization }, key: null });
        expect([200, 202], `${authorization}: ${JSON.stringify(res.json)}`).toContain(res.status);
        expect(res.json.success).toBe(true);
      }
    });
  }

  it("another team's ids are 404, exactly as unknown ids", async () => {
    const other = { url: server.url, key: otherKey };
    for (const [method, p] of [['GET', `/detect/${ownDetect}`], ['DELETE', `/detect/${ownDetect}`], ['GET', `/detect/batch/${ownBatch}`], ['GET', `/watermark/apply/${ownApply}/result`], ['GET', `/watermark/detect/${ownWmDetect}/result`]] as const) {
      const res = await api(other, method, `/api/v2${p}`);
      expect(res.status, `${method} ${p}`).toBe(404);
      expect(res.json.success).toBe(false);
    }
    expect((await api(other, 'GET', `/api/v2/detect/${ownDetect}`)).json).toEqual({ success: false, message: 'Detect not found' });
    const list = await api(other, 'GET', '/api/v2/detect?page=1');
    expect(list.json.items.map((i: any) => i.uuid)).not.toContain(ownDetect);
    // The owner still sees it: the other team's DELETE removed nothing.
    expect((await api(server, 'GET', `/api/v2/detect/${ownDetect}`)).status).toBe(200);
  });

  it("another team's media_token is refused", async () => {
    const token = (await api(server, 'POST', '/api/v2/secure_uploads', { form: await fileForm('file', wav, 'a.wav') })).json.token;
    const res = await api({ url: server.url, key: otherKey }, 'POST', '/api/v2/detect', { body: { media_token: token } });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/team/);
  });

  it('unknown routes answer JSON 404', async () => {
    const res = await api(server, 'GET', '/api/v2/nothing-here');
    expect(res.status).toBe(404);
    expect(res.json.success).toBe(false);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer, waitForDetect } from './helpers/server.js';
import { fileForm, makePng, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let wav: string;
let png: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-media-'));
  wav = await makeWav(path.join(dir, 'tone.wav'));
  png = await makePng(path.join(dir, 'still.png'));
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /detect', () => {
  it('accepts a multipart file, coerces string options and answers the full detect object as processing', async () => {
    const form = await fileForm('file', wav, 'tone.wav', { visualize: 'true', frame_length: '3', intelligence: 'false', ignored_field: 'x' });
    const res = await api(server, 'POST', '/api/v2/detect', { form });
    expect(res.status).toBe(200);
    expect(res.json.success).toBe(true);
    const item = res.json.item;
    expect(item.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(item.status).toBe('processing');
    expect(item.media_type).toBe('audio');
    expect(item.filename).toBe('tone.wav');
    expect(item.visualize).toBe(true);
    expect(item.frame_length).toBe(3);
    expect(item.zero_retention_mode).toBe(false);
    expect(item.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v2\/assets\//);
    for (const field of ['metrics', 'image_metrics', 'video_metrics', 'created_at', 'updated_at', 'media_deleted', 'file_deleted_at', 'error_message']) {
      expect(item).toHaveProperty(field);
    }
  });

  it('with Prefer: wait answers a terminal detect, never an invented verdict', async () => {
    const form = await fileForm('file', wav, 'tone.wav');
    const res = await api(server, 'POST', '/api/v2/detect', { form, headers: { prefer: 'wait' } });
    expect(res.status).toBe(200);
    expect(['completed', 'failed']).toContain(res.json.item.status);
    if (res.json.item.status === 'failed') {
      expect(res.json.item.error_message).toMatch(/analyser|model/i);
      expect(res.json.item.metrics).toEqual({});
    } else {
      // A pure tone holds no speech: the analyser must say unknown, not real.
      expect(res.json.item.metrics.label).toBe('unknown');
      expect(res.json.item.metrics.aggregated_score).toBe('-1');
    }
  });

  it('refuses bad options with a JSON 400 and a readable message', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ frame_length: '5' }, /frame_length/],
      [{ frame_length: '0' }, /frame_length/],
      [{ frame_length: 'abc' }, /frame_length/],
      [{ start_region: '4', end_region: '2' }, /start_region/],
      [{ visualize: 'maybe' }, /visualize/],
      [{ model_types: 'faces' }, /model_types/],
    ];
    for (const [fields, pattern] of cases) {
      const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'tone.wav', fields) });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(res.json.success).toBe(false);
      expect(res.json.message).toMatch(pattern);
    }
  });

  it('requires exactly one media source', async () => {
    const none = await api(server, 'POST', '/api/v2/detect', { body: { visualize: true } });
    expect(none.status).toBe(400);
    expect(none.json.message).toMatch(/one media source/);
    const both = await api(server, 'POST', '/api/v2/detect', { body: { url: 'https://example.com/a.wav', media_token: 'x' } });
    expect(both.status).toBe(400);
    const fileAndUrl = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'tone.wav', { url: 'https://example.com/a.wav' }) });
    expect(fileAndUrl.status).toBe(400);
    const notJson = await fetch(`${server.url}/api/v2/detect`, { method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' }, body: '{bad' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).success).toBe(false);
  });

  it('refuses empty files and extensions outside the allow-list', async () => {
    const empty = path.join(dir, 'empty.wav');
    await writeFile(empty, '');
    expect((await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', empty, 'empty.wav') })).json.message).toMatch(/empty/);
    const exe = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'tone.exe') });
    expect(exe.status).toBe(400);
    expect(exe.json.message).toMatch(/extension/);
  });

  it('fails a job whose bytes are not media, with a clear error_message', async () => {
    const fake = path.join(dir, 'text.wav');
    await writeFile(fake, 'this is not audio at all '.repeat(100));
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', fake, 'text.wav'), headers: { prefer: 'wait' } });
    expect(res.json.item.status).toBe('failed');
    expect(res.json.item.error_message).toMatch(/not a valid|unsupported|could not/i);
  });

  it('decides the media type from the bytes, not the name', async () => {
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', png, 'picture.wav'), headers: { prefer: 'wait' } });
    expect(res.json.item.media_type).toBe('image');
  });

  it('tolerates a JSON content type on bodiless GET and DELETE (the official SDK sends one)', async () => {
    const created = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'tone.wav') });
    const uuid = created.json.item.uuid;
    const get = await fetch(`${server.url}/api/v2/detect/${uuid}`, { headers: { authorization: `Token token=${server.key}`, 'content-type': 'application/json' } });
    expect(get.status).toBe(200);
    expect((await get.json()).item.uuid).toBe(uuid);
    await waitForDetect(server, uuid);
    const del = await fetch(`${server.url}/api/v2/detect/${uuid}`, { method: 'DELETE', headers: { authorization: `Token token=${server.key}`, 'content-type': 'application/json' } });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ success: true });
    const after = await api(server, 'GET', `/api/v2/detect/${uuid}`);
    expect(after.status).toBe(404);
    expect(after.json).toEqual({ success: false, message: 'Detect not found' });
  });

  it('serves the same routes under /v2 and tolerates a doubled /v2', async () => {
    const created = await api(server, 'POST', '/v2/detect', { form: await fileForm('file', wav, 'tone.wav') });
    expect(created.status).toBe(200);
    const doubled = await api(server, 'GET', `/api/v2/v2/detect/${created.json.item.uuid}`);
    expect(doubled.json.item.uuid).toBe(created.json.item.uuid);
  });
});

describe('GET /detect (pagination)', () => {
  it('pages newest first with the documented envelope', async () => {
    const owner = { url: server.url, key: await server.createKey('pagination-team') };
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await api(owner, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, `tone-${i}.wav`) });
      ids.push(res.json.item.uuid);
    }
    const first = await api(owner, 'GET', '/api/v2/detect?page=1&page_size=10');
    expect(first.json).toMatchObject({ success: true, page: 1, num_pages: 2, page_size: 10, total_count: 12 });
    expect(first.json.items).toHaveLength(10);
    expect(first.json.items[0].uuid).toBe(ids[11]);
    const second = await api(owner, 'GET', '/api/v2/detect?page=2&page_size=10');
    expect(second.json.items.map((i: any) => i.uuid)).toEqual([ids[1], ids[0]]);
    const past = await api(owner, 'GET', '/api/v2/detect?page=9');
    expect(past.json.items).toEqual([]);
    const clamped = await api(owner, 'GET', '/api/v2/detect?page=1&page_size=3');
    expect(clamped.json.page_size).toBe(10);
    const bad = await api(owner, 'GET', '/api/v2/detect?page=0');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/page/);
  });
});

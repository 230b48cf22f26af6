import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer } from './helpers/server.js';
import { fileForm, makeWav } from './helpers/media.js';

const run = promisify(execFile);
let server: TestServer;
let dir: string;
let photo: string;
let speech: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-wm-'));
  photo = path.join(dir, 'photo.png');
  // A textured picture (fractal), closer to a photograph than a flat test card.
  await run('ffmpeg', ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'mandelbrot=size=640x480:rate=1', '-frames:v', '1', photo]);
  speech = await makeWav(path.join(dir, 'speech.wav'), { speech: 'This recording is marked so that its origin can be proven later, even after it has been compressed and shared.' });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function download(url: string, file: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

describe('watermark endpoints', () => {
  it('image: apply with Prefer: wait returns a signed URL to a marked PNG that detect recognises', async () => {
    const applied = await api(server, 'POST', '/api/v2/watermark/apply', {
      form: await fileForm('file', photo, 'photo.png', { strength: '0.3', custom_message: 'newsroom-2026' }),
      headers: { prefer: 'wait' },
    });
    expect(applied.status).toBe(200);
    expect(applied.json.success).toBe(true);
    const item = applied.json.item;
    expect(item.status).toBe('completed');
    expect(item.media_type).toBe('image');
    expect(item.watermarked_media).toMatch(/\/api\/v2\/assets\/.+watermarked\.png\?expires=/);
    const marked = await download(item.watermarked_media, path.join(dir, 'marked.png'));
    expect((await readFile(marked)).subarray(1, 4).toString()).toBe('PNG');

    const result = await api(server, 'GET', `/api/v2/watermark/apply/${item.uuid}/result`);
    expect(result.json.item.uuid).toBe(item.uuid);

    const detected = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', marked, 'marked.png', { custom_message: 'newsroom-2026' }), headers: { prefer: 'wait' } });
    expect(detected.json.item.metrics.has_watermark).toBe(true);
    const wrong = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', marked, 'marked.png', { custom_message: 'someone-else' }), headers: { prefer: 'wait' } });
    expect(wrong.json.item.metrics.has_watermark).toBe(false);
    const clean = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', photo, 'photo.png'), headers: { prefer: 'wait' } });
    expect(clean.json.item.metrics.has_watermark).toBe(false);
    const polled = await api(server, 'GET', `/api/v2/watermark/detect/${detected.json.item.uuid}/result`);
    expect(polled.json.item.metrics.has_watermark).toBe(true);
  }, 120_000);

  it('audio: apply keeps the container, answers watermarked_audio too, and detect reports a confidence', async () => {
    const applied = await api(server, 'POST', '/api/v2/watermark/apply', { form: await fileForm('file', speech, 'speech.wav'), headers: { prefer: 'wait' } });
    const item = applied.json.item;
    expect(item.status).toBe('completed');
    expect(item.media_type).toBe('audio');
    expect(item.watermarked_audio).toBe(item.watermarked_media);
    const marked = await download(item.watermarked_media, path.join(dir, 'marked.wav'));
    expect((await readFile(marked)).subarray(0, 4).toString()).toBe('RIFF');
    const detected = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', marked, 'marked.wav'), headers: { prefer: 'wait' } });
    expect(detected.json.item.metrics.has_watermark).toBe(true);
    expect(detected.json.item.metrics.confidence).toBeGreaterThan(0.5);
    const clean = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', speech, 'speech.wav'), headers: { prefer: 'wait' } });
    expect(clean.json.item.metrics.has_watermark).toBe(false);
    // The time-scale search extension: accepted as a form field either way, and still no mark on
    // clean speech; off, the marked file is still found (at nominal speed).
    const searched = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', speech, 'speech.wav', { time_scale_search: 'true' }), headers: { prefer: 'wait' } });
    expect(searched.json.item.status).toBe('completed');
    expect(searched.json.item.metrics.has_watermark).toBe(false);
    const unsearched = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', marked, 'marked.wav', { time_scale_search: 'false' }), headers: { prefer: 'wait' } });
    expect(unsearched.json.item.metrics.has_watermark).toBe(true);
    const wrongType = await api(server, 'POST', '/api/v2/watermark/detect', { form: await fileForm('file', speech, 'speech.wav', { time_scale_search: 'maybe' }) });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.message).toMatch(/time_scale_search/);
  }, 120_000);

  it('answers the contract error for media it cannot read, and 404 for another team', async () => {
    const junk = path.join(dir, 'junk.png');
    await writeFile(junk, 'not an image at all'.repeat(50));
    const res = await api(server, 'POST', '/api/v2/watermark/apply', { form: await fileForm('file', junk, 'junk.png'), headers: { prefer: 'wait' } });
    expect(res.json.success).toBe(false);
    expect(res.json.error).toBe('File must be valid media format');
    expect(typeof res.json.message).toBe('string');
    const other = { url: server.url, key: await server.createKey('wm-other') };
    expect((await api(other, 'GET', `/api/v2/watermark/apply/${res.json.item.uuid}/result`)).status).toBe(404);
    const bad = await api(server, 'POST', '/api/v2/watermark/apply', { form: await fileForm('file', photo, 'photo.png', { strength: '3' }) });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/strength/);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer } from './helpers/server.js';
import { fileForm, makePng, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let png: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-rs-'));
  png = await makePng(path.join(dir, 'known.png'), '320x240');
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('use_reverse_search', () => {
  it('reports an image the team registered as known fake, and only to that team', async () => {
    const reg = await api(server, 'POST', '/api/v2/reverse_search/images', { form: await fileForm('file', png, 'known.png', { label: 'known_fake', title: 'circulating fake' }) });
    expect(reg.status).toBe(200);
    expect(reg.json.item.label).toBe('known_fake');
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', png, 'upload.png', { use_reverse_search: 'true' }), headers: { prefer: 'wait' } });
    expect(res.json.item.status).toBe('completed');
    const sources = res.json.item.image_metrics.reverse_image_search_sources;
    expect(sources.some((s: any) => s.verdict === 'known_fake' && s.similarity >= 0.875 && s.title === 'circulating fake')).toBe(true);

    const other = { url: server.url, key: await server.createKey('rs-other') };
    const theirs = await api(other, 'POST', '/api/v2/detect', { form: await fileForm('file', png, 'upload.png', { use_reverse_search: 'true' }), headers: { prefer: 'wait' } });
    expect(theirs.json.item.image_metrics.reverse_image_search_sources.filter((s: any) => s.verdict === 'known_fake')).toEqual([]);
  });

  it('refuses a registration that is not an image or has no valid label', async () => {
    const wav = await makeWav(path.join(dir, 'a.wav'));
    expect((await api(server, 'POST', '/api/v2/reverse_search/images', { form: await fileForm('file', wav, 'a.png', { label: 'known_fake' }) })).status).toBe(400);
    expect((await api(server, 'POST', '/api/v2/reverse_search/images', { form: await fileForm('file', png, 'a.png', { label: 'maybe' }) })).json.message).toMatch(/label/);
  });
});

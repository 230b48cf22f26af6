import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZip } from '../src/media/testing/zip-writer.js';
import { api, startTestServer, type TestServer } from './helpers/server.js';
import { makePng, makeWav } from './helpers/media.js';

let server: TestServer;
let dir: string;
let wav: Buffer;
let png: Buffer;
let hook: Server;
let hookUrl: string;
const received: any[] = [];

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-batch-'));
  wav = await readFile(await makeWav(path.join(dir, 'a.wav')));
  png = await readFile(await makePng(path.join(dir, 'b.png')));
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const address = hook.address();
  hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/batch-hook`;
});

afterAll(async () => {
  await new Promise((resolve) => hook?.close(resolve));
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function formWith(files: [string, Buffer, string][], fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const [field, bytes, name] of files) form.append(field, new Blob([bytes]), name);
  return form;
}

async function waitForBatch(uuid: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await api(server, 'GET', `/api/v2/detect/batch/${uuid}`);
    if (res.json.item.status !== 'processing' || Date.now() > deadline) return res.json.item;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('POST /detect/batch', () => {
  it('takes repeated files[], answers 202, counts children to a terminal status and calls back once', async () => {
    const res = await api(server, 'POST', '/api/v2/detect/batch', {
      form: formWith([['files[]', wav, 'one.wav'], ['files[]', png, 'two.png'], ['files[]', wav, 'three.wav']], { callback_url: hookUrl, frame_length: '1' }),
    });
    expect(res.status).toBe(202);
    expect(res.json.item).toMatchObject({ status: 'processing', total_files: 3, completed_count: 0, failed_count: 0 });
    expect(res.json.item.detect_uuids).toHaveLength(3);
    const child = (await api(server, 'GET', `/api/v2/detect/${res.json.item.detect_uuids[0]}`)).json.item;
    expect(child.visualize).toBe(true); // batches visualise by default
    expect(child.frame_length).toBe(1);
    const done = await waitForBatch(res.json.item.uuid);
    expect(['completed', 'failed']).toContain(done.status);
    expect(done.completed_count + done.failed_count).toBe(3);
    await new Promise((r) => setTimeout(r, 1500));
    const calls = received.filter((c) => c.item?.uuid === res.json.item.uuid);
    expect(calls).toHaveLength(1);
    expect(calls[0].success).toBe(true);
    expect(calls[0].item.completed_count + calls[0].item.failed_count).toBe(3);
  });

  it('extracts a zip, flattening folders and skipping non-media entries', async () => {
    const zip = buildZip([
      { name: 'clips/one.wav', data: wav },
      { name: 'pics/deeper/two.png', data: png },
      { name: 'README.txt', data: Buffer.from('notes') },
      { name: '__MACOSX/._one.wav', data: Buffer.from('junk') },
    ]);
    const res = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith([['file', zip, 'media.zip']]) });
    expect(res.status).toBe(202);
    expect(res.json.item.total_files).toBe(2);
    const names = await Promise.all(res.json.item.detect_uuids.map(async (u: string) => (await api(server, 'GET', `/api/v2/detect/${u}`)).json.item.filename));
    expect(names.sort()).toEqual(['one.wav', 'two.png']);
  });

  const hostile: [string, () => Buffer, RegExp][] = [
    ['path traversal', () => buildZip([{ name: '../../etc/evil.wav', data: wav }]), /outside|escape|traversal/i],
    ['absolute path', () => buildZip([{ name: '/tmp/evil.wav', data: wav }]), /absolute|path|unsafe/i],
    ['nested archive', () => buildZip([{ name: 'inner.zip', data: buildZip([{ name: 'a.wav', data: wav }]) }]), /nested|archive/i],
    ['zip bomb', () => buildZip([{ name: 'bomb.wav', data: Buffer.alloc(200 * 1024 * 1024), method: 8 }]), /limit|large|exceed|bomb/i],
    ['too many files', () => buildZip(Array.from({ length: 51 }, (_, i) => ({ name: `f${i}.wav`, data: wav }))), /50|many/i],
  ];
  for (const [name, make, message] of hostile) {
    it(`refuses a malicious zip: ${name}, and creates nothing`, async () => {
      const key = await server.createKey(`zip-${name}`);
      const owner = { url: server.url, key };
      const res = await api(owner, 'POST', '/api/v2/detect/batch', { form: formWith([['file', make(), 'evil.zip']]) });
      expect(res.status).toBe(400);
      expect(res.json.success).toBe(false);
      expect(res.json.message).toMatch(message);
      expect((await api(owner, 'GET', '/api/v2/detect?page=1')).json.total_count).toBe(0);
    }, 120_000);
  }

  it('refuses Prefer: wait, both files[] and file, no files, more than 50 files, and bad extensions', async () => {
    const wait = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith([['files[]', wav, 'a.wav']]), headers: { prefer: 'wait' } });
    expect(wait.status).toBe(400);
    expect(wait.json.message).toMatch(/Prefer/);
    const both = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith([['files[]', wav, 'a.wav'], ['file', buildZip([{ name: 'b.wav', data: wav }]), 'b.zip']]) });
    expect(both.status).toBe(400);
    const none = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith([], { visualize: 'true' }) });
    expect(none.status).toBe(400);
    const many = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith(Array.from({ length: 51 }, (_, i) => ['files[]', wav, `${i}.wav`] as [string, Buffer, string])) });
    expect(many.status).toBe(400);
    expect(many.json.message).toMatch(/50/);
    const ext = await api(server, 'POST', '/api/v2/detect/batch', { form: formWith([['files[]', wav, 'a.exe']]) });
    expect(ext.status).toBe(400);
  });

  it('GET /detect/batch/{uuid} of an unknown batch is 404', async () => {
    const res = await api(server, 'GET', '/api/v2/detect/batch/0123456789abcdef0123456789abcdef');
    expect(res.status).toBe(404);
    expect(res.json.success).toBe(false);
  });

});

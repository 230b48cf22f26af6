/**
 * Conformance with the official client: the real `@resemble/node` package, pointed at a real
 * discern server with `Resemble.setBaseUrl(<server>/api)`, as a user would.
 */
import { createServer, type Server } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Resemble } from '@resemble/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { makeWav } from './helpers/media.js';

let server: TestServer;
let media: Server;
let mediaUrl: string;
let dir: string;
let wav: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-sdk-'));
  wav = await makeWav(path.join(dir, 'voice.wav'), { seconds: 2 });
  const bytes = await readFile(wav);
  media = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
  const address = media.address();
  mediaUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/clips/voice.wav`;
  Resemble.setBaseUrl(`${server.url}/api`);
  Resemble.setApiKey(server.key);
});

afterAll(async () => {
  await new Promise((resolve) => media?.close(resolve));
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('@resemble/node against discern', () => {
  it('create() with a URL returns a processing detect with a uuid', async () => {
    const res: any = await Resemble.v2.detection.create({ url: mediaUrl, visualize: true });
    expect(res.success).toBe(true);
    expect(res.item.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(res.item.status).toBe('processing');
    expect(res.item.url).toBe(mediaUrl);
  });

  it('createSync() (Prefer: wait) returns a terminal detect', async () => {
    const res: any = await Resemble.v2.detection.createSync({ url: mediaUrl });
    expect(res.success).toBe(true);
    expect(['completed', 'failed']).toContain(res.item.status);
    expect(res.item.media_type).toBe('audio');
  });

  it('get() reads a detect back', async () => {
    const created: any = await Resemble.v2.detection.create({ url: mediaUrl });
    const got: any = await Resemble.v2.detection.get(created.item.uuid);
    expect(got.success).toBe(true);
    expect(got.item.uuid).toBe(created.item.uuid);
  });

  it('detectAndGet() with a URL polls until terminal', async () => {
    const res: any = await Resemble.v2.detection.detectAndGet({ url: mediaUrl }, 20, 0.5);
    expect(res.success).toBe(true);
    expect(['completed', 'failed']).toContain(res.item.status);
  });

  it('detectAndGet() with a local file goes through secure uploads and media_token', async () => {
    const res: any = await Resemble.v2.detection.detectAndGet({ file: wav, zero_retention_mode: true } as any, 20, 0.5);
    expect(res.success).toBe(true);
    expect(['completed', 'failed']).toContain(res.item.status);
    expect(res.item.filename).toMatch(/^redacted_[0-9a-f]{32}\.wav$/);
    expect(res.item.url).toBeNull();
  });

  it('get() of an unknown id yields {success:false, message:"Detect not found"}', async () => {
    const res: any = await Resemble.v2.detection.get('missing');
    expect(res).toEqual({ success: false, message: 'Detect not found' });
  });
});

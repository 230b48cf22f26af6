/**
 * The HTTP flow in scale-out mode: an API node with no workers and a `discern worker`
 * process (compiled CLI, its own data folder: nothing local is shared) over a throwaway
 * PostgreSQL, Redis and s3rver. Upload → analyse → list → delete, a secure upload used as media_token, signed
 * media links served from S3, and a zero-retention purge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createContext } from '../src/context.js';
import { BullMqJobQueue } from '../src/queue/bullmq-queue.js';
import { S3BlobStore } from '../src/storage/s3-blob-store.js';
import { fileForm, makePng } from './helpers/media.js';
import { api, startTestServer, type TestServer, waitForDetect } from './helpers/server.js';
import { startPostgres, startRedis, startS3rver, type RunningS3, type RunningService } from './helpers/services.js';

let postgres: RunningService;
let redis: RunningService;
let s3: RunningS3;
let server: TestServer;
const MAIN = path.resolve('dist/server/src/main.js');
let worker: ChildProcess;
let workerLog = '';
let workerDir: string;
let dir: string;
let png: string;
let s3client: S3Client;
let teamId: string;

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await s3client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function untilItem(uuid: string, done: (item: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const item = (await api(server, 'GET', `/api/v2/detect/${uuid}`)).json.item;
    if (done(item) || Date.now() > deadline) return item;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  [postgres, redis, s3] = await Promise.all([startPostgres(), startRedis(), startS3rver('discern-e2e')]);
  const shared = {
    DISCERN_DATABASE_URL: postgres.url,
    DISCERN_REDIS_URL: redis.url,
    DISCERN_SECRET: 'e2e-shared-secret-0123456789abcdef0123456789',
    DISCERN_JOB_LEASE_SECONDS: '10',
    ...s3.env,
  };
  if (!existsSync(MAIN)) throw new Error('run `npm run build` first: this test starts the compiled `discern worker`');
  server = await startTestServer({ ...shared, DISCERN_WORKERS: '0' });
  workerDir = await mkdtemp(path.join(tmpdir(), 'discern-worker-'));
  worker = spawn(process.execPath, [MAIN, 'worker'], {
    env: { ...process.env, ...shared, DISCERN_DATA_DIR: workerDir, DISCERN_WORKERS: '2', DISCERN_LOG_LEVEL: 'info', DISCERN_URL_ALLOW_HOSTS: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout!.on('data', (d) => (workerLog = (workerLog + d).slice(-20_000)));
  worker.stderr!.on('data', (d) => (workerLog = (workerLog + d).slice(-20_000)));
  const deadline = Date.now() + 60_000;
  while (!workerLog.includes('discern worker started')) {
    if (worker.exitCode !== null || Date.now() > deadline) throw new Error(`discern worker did not start:\n${workerLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  dir = await mkdtemp(path.join(tmpdir(), 'discern-e2e-'));
  png = await makePng(path.join(dir, 'frame.png'));
  s3client = new S3Client({
    endpoint: s3.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  teamId = (await server.ctx.teams.findByName('default'))!.id;
});

afterAll(async () => {
  s3client?.destroy();
  await server?.close();
  if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  for (const folder of [workerDir, dir]) if (folder) await rm(folder, { recursive: true, force: true });
  await Promise.allSettled([postgres?.stop(), redis?.stop(), s3?.stop()]);
});

describe('scale-out mode (PostgreSQL + BullMQ/Redis + S3)', () => {
  it('builds the scale-out adapters from the configuration', () => {
    expect(server.ctx.database.dialect).toBe('postgres');
    expect(server.ctx.queue).toBeInstanceOf(BullMqJobQueue);
    expect(server.ctx.blobs).toBeInstanceOf(S3BlobStore);
  });

  it('refuses to start without a shared secret', async () => {
    const lonely = await mkdtemp(path.join(tmpdir(), 'discern-nosecret-'));
    try {
      await expect(
        createContext(loadConfig({ DISCERN_DATA_DIR: lonely, DISCERN_DATABASE_URL: postgres.url, DISCERN_LOG_LEVEL: 'silent' })),
      ).rejects.toThrow(/DISCERN_SECRET/);
    } finally {
      await rm(lonely, { recursive: true, force: true });
    }
  });

  it('analyses an upload on the worker node, lists it, serves its signed media link from S3, deletes it everywhere', async () => {
    const created = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', png, 'frame.png') });
    expect(created.status).toBe(200);
    const uuid = created.json.item.uuid;
    const row = await server.ctx.detects.findById(uuid);
    expect(row?.media_key).toMatch(new RegExp(`^teams/${teamId}/detects/${uuid}/`));
    // The media is in the bucket, not in the API node's data folder.
    expect(await keysUnder(row!.media_key!)).toEqual([row!.media_key]);
    expect(existsSync(path.join(server.dataDir, 'blobs'))).toBe(false);

    const item = await waitForDetect(server, uuid, 45_000);
    expect(item.status).toBe('completed');
    expect(item.media_type).toBe('image');
    expect(item.image_metrics).toBeTruthy();
    // BullMQ marks the job done only after the handler has returned, i.e. after the row above was
    // written as completed: under load that lags behind, so wait for it rather than race it.
    await vi.waitFor(async () => expect((await server.ctx.queue.stats()).done).toBeGreaterThanOrEqual(1), {
      timeout: 15_000,
      interval: 200,
    });

    const list = await api(server, 'GET', '/api/v2/detect?page=1&page_size=10');
    expect(list.status).toBe(200);
    expect(list.json.items.map((i: { uuid: string }) => i.uuid)).toContain(uuid);

    const links = JSON.stringify(item).match(/https?:\/\/[^"]*\/assets\/[^"]+/g) ?? [];
    expect(links.length).toBeGreaterThan(0);
    const asset = await fetch(links[0]);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await asset.arrayBuffer()).equals(await readFile(png))).toBe(true);

    expect(await keysUnder(`teams/${teamId}/detects/${uuid}/`)).toContain(row!.media_key);
    const del = await api(server, 'DELETE', `/api/v2/detect/${uuid}`);
    expect(del.json).toEqual({ success: true });
    expect((await api(server, 'GET', `/api/v2/detect/${uuid}`)).status).toBe(404);
    expect(await keysUnder(`teams/${teamId}/detects/${uuid}/`)).toEqual([]);
  });

  it('answers Prefer: wait when another process finishes the job', async () => {
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', png, 'waited.png'), headers: { prefer: 'wait' } });
    expect(res.status).toBe(200);
    expect(res.json.item.status).toBe('completed');
  });

  it('accepts a secure upload as media_token and purges media and upload under zero retention', async () => {
    const up = await api(server, 'POST', '/api/v2/secure_uploads', { form: await fileForm('file', png, 'private.png') });
    expect(up.status).toBe(200);
    const uploadKeys = await keysUnder(`teams/${teamId}/uploads/`);
    expect(uploadKeys.some((k) => k.endsWith('/private.png'))).toBe(true);

    const created = await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token, zero_retention_mode: true } });
    expect(created.status).toBe(200);
    const uuid = created.json.item.uuid;
    expect(created.json.item.zero_retention_mode).toBe(true);
    const item = await untilItem(uuid, (i) => i.status !== 'processing' && i.media_deleted === true);
    expect(item.status).toBe('completed');
    expect(item.media_deleted).toBe(true);
    expect(item.file_deleted_at).toMatch(/^\d{4}-/);
    // Both the detect's copy and the secure-upload blob are gone from the bucket.
    expect((await keysUnder(`teams/${teamId}/detects/${uuid}/`)).filter((k) => !k.includes('/assets/'))).toEqual([]);
    expect((await keysUnder(`teams/${teamId}/uploads/`)).filter((k) => k.endsWith('/private.png'))).toEqual([]);
    const again = await api(server, 'POST', '/api/v2/detect', { body: { media_token: up.json.token } });
    expect(again.status).toBe(400);
  });

  it('keeps detect rows in PostgreSQL and jobs out of the SQL queue table', async () => {
    const count = await server.ctx.database.db.selectFrom('detects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(count.n).toBeGreaterThanOrEqual(2);
    const jobs = await server.ctx.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(jobs.n).toBe(0);
    expect(existsSync(path.join(server.dataDir, 'discern.sqlite'))).toBe(false);
    expect(existsSync(path.join(workerDir, 'discern.sqlite'))).toBe(false);
  });

  it('stops the worker process cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(code).toBe(0);
  });
});

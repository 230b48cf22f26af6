/**
 * The S3 blob store against a real S3 API (s3rver): the BlobStore contract the local folder
 * also keeps, including a multi-megabyte streamed (multipart) upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../src/storage/s3-blob-store.js';
import { startS3rver, type RunningS3 } from './helpers/services.js';

let s3: RunningS3;
let store: S3BlobStore;
let dir: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A stream that yields `total` bytes in uneven chunks, so nothing knows its length up front. */
function chunked(data: Buffer): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) return void this.push(null);
      const size = 100_000 + Math.floor(Math.random() * 900_000);
      this.push(data.subarray(offset, offset + size));
      offset += size;
    },
  });
}

beforeAll(async () => {
  s3 = await startS3rver();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-s3t-'));
  store = new S3BlobStore({
    bucket: s3.bucket,
    endpoint: s3.url,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    keyPrefix: 'deploy-a/',
    partSizeBytes: 5 * 1024 * 1024,
  });
});

afterAll(async () => {
  store?.close();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('S3 blob store (s3rver)', () => {
  it('puts a buffer, reads it back, reports it, deletes it', async () => {
    const body = Buffer.from('hello blobs');
    expect(await store.put('teams/t1/detects/d1/media.txt', body, 'text/plain')).toBe(body.length);
    expect(await store.exists('teams/t1/detects/d1/media.txt')).toBe(true);
    expect((await readAll(await store.get('teams/t1/detects/d1/media.txt'))).toString()).toBe('hello blobs');
    // The key prefix is applied: the object sits under deploy-a/ in the bucket, on s3rver's disk.
    const onDisk = path.join(s3.dir, s3.bucket, 'deploy-a', 'teams', 't1', 'detects', 'd1');
    expect((await stat(onDisk)).isDirectory()).toBe(true);
    await store.delete('teams/t1/detects/d1/media.txt');
    expect(await store.exists('teams/t1/detects/d1/media.txt')).toBe(false);
    await store.delete('teams/t1/detects/d1/media.txt'); // deleting twice is fine
  });

  it('streams a multi-megabyte body of unknown length (multipart) and downloads it to a local file', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 12345);
    const written = await store.put('teams/t1/uploads/u1/big.bin', chunked(data));
    expect(written).toBe(data.length);
    expect(sha(await readAll(await store.get('teams/t1/uploads/u1/big.bin')))).toBe(sha(data));
    const destination = path.join(dir, 'work', 'media');
    expect(await store.toLocalFile('teams/t1/uploads/u1/big.bin', destination)).toBe(destination);
    expect(sha(await readFile(destination))).toBe(sha(data));
  });

  it('copies so the copy outlives its source', async () => {
    await store.put('teams/t1/uploads/u2/clip name.wav', Buffer.from('RIFF…copy me'));
    await store.copy('teams/t1/uploads/u2/clip name.wav', 'teams/t1/detects/d2/media.wav');
    await store.delete('teams/t1/uploads/u2/clip name.wav');
    expect((await readAll(await store.get('teams/t1/detects/d2/media.wav'))).toString()).toBe('RIFF…copy me');
    await expect(store.copy('teams/t1/uploads/nope/x.wav', 'teams/t1/detects/d3/media.wav')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('deletes a prefix like a folder: everything below it, nothing beside it', async () => {
    for (let i = 0; i < 25; i++) await store.put(`teams/t2/detects/abc/assets/${i}.png`, Buffer.from(String(i)));
    await store.put('teams/t2/detects/abc/media.wav', Buffer.from('m'));
    await store.put('teams/t2/detects/abcd/media.wav', Buffer.from('sibling'));
    await store.deletePrefix('teams/t2/detects/abc/');
    expect(await store.exists('teams/t2/detects/abc/media.wav')).toBe(false);
    expect(await store.exists('teams/t2/detects/abc/assets/7.png')).toBe(false);
    expect(await store.exists('teams/t2/detects/abcd/media.wav')).toBe(true);
    await store.deletePrefix('teams/t2/detects/never-existed/');
  });

  it('answers a missing blob as ENOENT and refuses keys that climb out', async () => {
    expect(await store.exists('teams/t9/none')).toBe(false);
    await expect(store.get('teams/t9/none')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(store.toLocalFile('teams/t9/none', path.join(dir, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(store.put('teams/../etc/passwd', Buffer.from('x'))).rejects.toThrow(/invalid blob key/);
    await expect(store.get('teams//double')).rejects.toThrow(/invalid blob key/);
  });

  it('leaves no object behind when the source stream fails mid-upload', async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent >= 7 * 1024 * 1024) return void this.destroy(new Error('client went away'));
        sent += 1024 * 1024;
        this.push(randomBytes(1024 * 1024));
      },
    });
    await expect(store.put('teams/t1/uploads/u3/broken.bin', failing)).rejects.toThrow(/client went away/);
    expect(await store.exists('teams/t1/uploads/u3/broken.bin')).toBe(false);
  });
});

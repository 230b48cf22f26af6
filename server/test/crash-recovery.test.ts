/**
 * kill -9 during a job: the server process dies mid-download, a new process on the same data
 * folder takes the job over when its lease runs out, and the detect completes — once: one
 * terminal state, one callback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/security/api-keys.js';
import { api, freePort } from './helpers/server.js';
import { makeWav } from './helpers/media.js';

const MAIN = path.resolve('dist/server/src/main.js');
let dataDir: string;
let media: Server;
let mediaUrl: string;
let hook: Server;
let hookUrl: string;
let wavBytes: Buffer;
let mediaRequests = 0;
let releaseStall: (() => void) | null = null;
let stall = true;
const callbacks: string[] = [];
const children: ChildProcess[] = [];

async function startProcess(port: number, key: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      DISCERN_DATA_DIR: dataDir,
      DISCERN_PORT: String(port),
      DISCERN_HOST: '127.0.0.1',
      DISCERN_BOOTSTRAP_KEY: key,
      DISCERN_URL_ALLOW_HOSTS: '127.0.0.1',
      DISCERN_JOB_LEASE_SECONDS: '5',
      DISCERN_WORKERS: '1',
      DISCERN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error('run `npm run build` first: this test starts the compiled server');
  dataDir = await mkdtemp(path.join(tmpdir(), 'discern-crash-'));
  wavBytes = await readFile(await makeWav(path.join(dataDir, '..', `crash-${process.pid}.wav`), { seconds: 2 }));
  media = createServer((_req, res) => {
    mediaRequests++;
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wavBytes.length });
    if (stall) {
      // Send half the file and hang: the worker is mid-intake when it is killed.
      res.write(wavBytes.subarray(0, wavBytes.length >> 1));
      releaseStall = () => res.destroy();
    } else {
      res.end(wavBytes);
    }
  });
  await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
  const a = media.address();
  mediaUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/slow.wav`;
  hook = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      callbacks.push(raw);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const h = hook.address();
  hookUrl = `http://127.0.0.1:${typeof h === 'object' && h ? h.port : 0}/hook`;
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  releaseStall?.();
  await new Promise((resolve) => media?.close(resolve));
  await new Promise((resolve) => hook?.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
  await rm(path.join(dataDir, '..', `crash-${process.pid}.wav`), { force: true });
});

describe('crash recovery', () => {
  it('a job interrupted by kill -9 completes after restart, exactly once', async () => {
    const key = generateApiKey();
    const port = await freePort();
    const first = await startProcess(port, key);
    const server = { url: `http://127.0.0.1:${port}`, key };
    const created = await api(server, 'POST', '/api/v2/detect', { body: { url: mediaUrl, callback_url: hookUrl } });
    expect(created.status).toBe(200);
    const uuid = created.json.item.uuid;

    const deadline = Date.now() + 20_000;
    while (mediaRequests === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(mediaRequests).toBe(1);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    stall = false;
    releaseStall?.();

    await startProcess(port, key);
    let item: any;
    const until = Date.now() + 45_000;
    do {
      await new Promise((r) => setTimeout(r, 300));
      item = (await api(server, 'GET', `/api/v2/detect/${uuid}`)).json.item;
    } while (item.status === 'processing' && Date.now() < until);
    expect(['completed', 'failed']).toContain(item.status);
    // It failed, if at all, for want of an analyser — not because the intake was cut off.
    if (item.status === 'failed') expect(item.error_message).toMatch(/analyser|model/i);
    expect(mediaRequests).toBe(2);
    await new Promise((r) => setTimeout(r, 1500));
    const mine = callbacks.filter((c) => c.includes(uuid));
    expect(mine).toHaveLength(1);
  }, 120_000);
});

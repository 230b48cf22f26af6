/**
 * `npm run bench:api` — throughput and latency of the HTTP API on loopback, and the server's
 * memory while it takes a 150 MB upload. The server runs as its own process (as deployed),
 * embedded mode, with workers off so only the API is measured and the per-key rate limit off
 * (it would cap a single key at 40 requests/s).
 *
 * Options (environment): BENCH_SECONDS (default 10 per phase), BENCH_CONNECTIONS (default 32).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../server/src/main.js');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Keeps CONNECTIONS requests in flight for SECONDS; returns requests/s and latency percentiles. */
async function load(pool: Pool, make: () => Parameters<Pool['request']>[0]) {
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        const res = await pool.request(make());
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length, errors };
}

async function main() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'discern-bench-'));
  const port = await freePort();
  const key = `bench-${Math.random().toString(36).slice(2)}-key-0123456789`;
  const server = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      DISCERN_DATA_DIR: dataDir,
      DISCERN_PORT: String(port),
      DISCERN_BOOTSTRAP_KEY: key,
      DISCERN_WORKERS: '0',
      DISCERN_RATE_LIMIT_PER_SECOND: '0',
      DISCERN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await request(`${base}/healthz`)).statusCode === 200) break;
      } catch {
        /* starting */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const auth = { authorization: `Bearer ${key}` };

    // One uploaded file whose token the POST phase reuses (JSON body, no upload per request).
    const wavPath = path.join(dataDir, 'clip.wav');
    const header = Buffer.alloc(44);
    header.write('RIFF', 0);
    header.writeUInt32LE(36 + 32000, 4);
    header.write('WAVEfmt ', 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(16000, 24);
    header.writeUInt32LE(32000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36);
    header.writeUInt32LE(32000, 40);
    const form = new FormData();
    form.append('file', new Blob([Buffer.concat([header, Buffer.alloc(32000)])]), 'clip.wav');
    const uploaded = (await (await fetch(`${base}/api/v2/secure_uploads`, { method: 'POST', headers: auth, body: form })).json()) as { token: string };
    const created = (await (await fetch(`${base}/api/v2/detect`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ media_token: uploaded.token }) })).json()) as { item: { uuid: string } };
    const uuid = created.item.uuid;

    const pool = new Pool(base, { connections: CONNECTIONS, pipelining: 1 });
    console.log(`discern bench:api — embedded mode, ${cpus().length} cores, ${CONNECTIONS} connections, ${SECONDS} s per phase, server pid ${server.pid}`);
    await load(pool, () => ({ path: `/api/v2/detect/${uuid}`, method: 'GET', headers: auth })); // warm-up
    const get = await load(pool, () => ({ path: `/api/v2/detect/${uuid}`, method: 'GET', headers: auth }));
    console.log(`GET  /api/v2/detect/{uuid}: ${get.rps.toFixed(0)} requests/s, p50 ${get.p50.toFixed(2)} ms, p99 ${get.p99.toFixed(2)} ms (${get.n} requests, ${get.errors} non-200)`);
    const post = await load(pool, () => ({
      path: '/api/v2/detect',
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ media_token: uploaded.token, visualize: true }),
    }));
    console.log(`POST /api/v2/detect (media_token): ${post.rps.toFixed(0)} requests/s, p50 ${post.p50.toFixed(2)} ms, p99 ${post.p99.toFixed(2)} ms (${post.n} requests, ${post.errors} non-200)`);
    await pool.close();
    const beforeUpload = memoryOf(server.pid!);
    console.log(`server memory after load: rss ${beforeUpload.rssMb.toFixed(0)} MB, peak ${beforeUpload.peakMb.toFixed(0)} MB`);

    // A 150 MB upload (the direct-upload limit), streamed from disk.
    const big = path.join(dataDir, 'big.wav');
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(big);
      out.on('error', reject);
      out.write(header);
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let written = 0;
      const target = 150 * 1024 * 1024 - 1024 * 1024;
      const pump = () => {
        while (written < target) {
          written += chunk.length;
          if (!out.write(chunk)) return out.once('drain', pump);
        }
        out.end(resolve);
      };
      pump();
    });
    const bigSize = (await stat(big)).size;
    const boundary = '----discernbench';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    let peakDuring = 0;
    const sampler = setInterval(() => (peakDuring = Math.max(peakDuring, memoryOf(server.pid!).rssMb)), 50);
    const t0 = performance.now();
    const body = Readable.from((async function* () {
      yield head;
      for await (const c of createReadStream(big, { highWaterMark: 1024 * 1024 })) yield c as Buffer;
      yield tail;
    })());
    const res = await request(`${base}/api/v2/detect`, {
      method: 'POST',
      headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + bigSize + tail.length) },
      body,
    });
    const answer = (await res.body.json()) as { success: boolean; item?: { status: string } };
    clearInterval(sampler);
    const seconds = (performance.now() - t0) / 1000;
    const after = memoryOf(server.pid!);
    console.log(
      `150 MB upload: HTTP ${res.statusCode}, success=${answer.success}, status=${answer.item?.status}, ${seconds.toFixed(2)} s (${(bigSize / 1048576 / seconds).toFixed(0)} MB/s); server rss peak during upload ${peakDuring.toFixed(0)} MB, process peak (VmHWM) ${after.peakMb.toFixed(0)} MB`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/**
 * Mutation fuzzing of the untrusted-input layer. Seeds are small valid files; each iteration
 * applies a few random mutations (bit flips, magic-value overwrites in size fields, truncation,
 * insertion, splicing) and checks that the function under test either returns a well-formed
 * result or throws its own typed error: never another exception, never a hang, never a file
 * outside the destination folder.
 *
 * Deterministic by default; set DISCERN_FUZZ_SEED to explore other sequences. The seed of a
 * failing case is in the assertion message.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaError, probeMedia } from './probe.js';
import { extractMediaZip, ZipRefusedError } from './safe-zip.js';
import { sniff } from './sniff.js';
import { makeFixtures } from './testing/fixtures.js';
import { buildZip } from './testing/zip-writer.js';

const BASE_SEED = Number(process.env.DISCERN_FUZZ_SEED ?? 20261122);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

/** Applies 1–4 random mutations; `hot` biases offsets towards a region (e.g. zip central directory). */
function mutate(seedBytes: Buffer, rand: () => number, others: Buffer[], hot?: { start: number; end: number }): Buffer {
  let b = Buffer.from(seedBytes);
  const steps = 1 + Math.floor(rand() * 4);
  const pos = () => {
    if (b.length === 0) return 0;
    if (hot && rand() < 0.6) {
      const s = Math.min(hot.start, b.length - 1);
      const e = Math.min(hot.end, b.length);
      return s + Math.floor(rand() * Math.max(1, e - s));
    }
    return Math.floor(rand() * b.length);
  };
  for (let i = 0; i < steps; i++) {
    const op = Math.floor(rand() * 8);
    if (b.length === 0 && op !== 4) continue;
    switch (op) {
      case 0: {
        const p = pos();
        b[p] = b[p]! ^ (1 << Math.floor(rand() * 8));
        break;
      }
      case 1:
        b[pos()] = Math.floor(rand() * 256);
        break;
      case 2: {
        const p = pos();
        if (p + 4 <= b.length) b.writeUInt32LE(INTERESTING_U32[Math.floor(rand() * INTERESTING_U32.length)]!, p);
        break;
      }
      case 3:
        b = b.subarray(0, pos());
        break;
      case 4: {
        const p = pos();
        const ins = Buffer.alloc(1 + Math.floor(rand() * 64));
        for (let j = 0; j < ins.length; j++) ins[j] = Math.floor(rand() * 256);
        b = Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
        break;
      }
      case 5: {
        const p = pos();
        const len = Math.floor(rand() * 64);
        b = Buffer.concat([b.subarray(0, p), b.subarray(p + len)]);
        break;
      }
      case 6: {
        const p = pos();
        const len = Math.floor(rand() * 128);
        b = Buffer.concat([b.subarray(0, p), b.subarray(p, p + len), b.subarray(p)]);
        break;
      }
      case 7: {
        const other = others[Math.floor(rand() * others.length)]!;
        const cut = Math.floor(rand() * other.length);
        b = Buffer.concat([b.subarray(0, pos()), other.subarray(cut)]);
        break;
      }
    }
  }
  return b;
}

async function withWatchdog<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

let dir: string;
let seeds: { wav: Buffer; png: Buffer; mp4: Buffer; zip: Buffer; mp3: Buffer };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'discern-fuzz-'));
  const f = await makeFixtures(dir, ['tone.wav', 'still.png', 'clip.mp4', 'tone.mp3']);
  const wav = readFileSync(f['tone.wav']!);
  const png = readFileSync(f['still.png']!);
  seeds = {
    wav,
    png,
    mp4: readFileSync(f['clip.mp4']!),
    // WAV and MP3 are probed in-process (media/audio/quick-probe.ts): their readers get fuzzed too.
    mp3: readFileSync(f['tone.mp3']!),
    zip: buildZip([
      { name: 'folder/' },
      { name: 'folder/a.wav', data: wav.subarray(0, 2000) },
      { name: 'b.png', data: png, method: 0 },
      { name: 'notes.txt', data: Buffer.from('hello') },
    ]),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fuzz: sniff', () => {
  it('is total on 5000 mutated and 1000 random buffers', () => {
    const rand = rng(BASE_SEED);
    const pool = [seeds.wav, seeds.png, seeds.mp4, seeds.zip];
    const allowedTypes = new Set([null, 'audio', 'image', 'video', 'archive']);
    const t0 = Date.now();
    for (let i = 0; i < 6000; i++) {
      let input: Buffer;
      if (i < 5000) {
        input = mutate(pool[i % pool.length]!.subarray(0, 8192), rand, pool);
      } else {
        input = Buffer.alloc(Math.floor(rand() * 9000));
        for (let j = 0; j < input.length; j++) input[j] = Math.floor(rand() * 256);
      }
      let r: ReturnType<typeof sniff>;
      try {
        r = sniff(input);
      } catch (err) {
        throw new Error(`sniff threw on iteration ${i} (seed ${BASE_SEED}): ${String(err)}`);
      }
      expect(allowedTypes.has(r.mediaType), `iteration ${i}`).toBe(true);
      expect(r.format === null || typeof r.format === 'string').toBe(true);
      expect(r.format === null).toBe(r.mediaType === null);
    }
    // A pathological input would show up as a slow run.
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe('fuzz: probeMedia', () => {
  it('returns a probe or throws MediaError on 60 mutated files', async () => {
    const rand = rng(BASE_SEED + 1);
    const pool = [seeds.wav, seeds.png, seeds.mp4, seeds.mp3];
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 60; i++) {
      const input = mutate(pool[i % pool.length]!, rand, pool);
      const p = join(dir, `probe-${i}.bin`);
      writeFileSync(p, input);
      try {
        const r = await withWatchdog(probeMedia(p, { timeoutMs: 10_000 }), 25_000, `probeMedia #${i}`);
        expect(['audio', 'image', 'video']).toContain(r.mediaType);
        expect(r.sizeBytes).toBe(input.length);
        if (r.mediaType === 'image') expect(r.duration).toBeNull();
        else expect(r.duration === null || r.duration > 0).toBe(true);
        outcomes.ok++;
      } catch (err) {
        if (!(err instanceof MediaError)) throw new Error(`probeMedia #${i} (seed ${BASE_SEED + 1}) threw ${String(err)}`);
        expect(err.message.length).toBeGreaterThan(10);
        expect(err.message).not.toContain(dir);
        outcomes.refused++;
      } finally {
        rmSync(p, { force: true });
      }
    }
    // The mutations must actually exercise both paths, or this test proves nothing.
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 240_000);
});

describe('fuzz: extractMediaZip', () => {
  it('returns files inside dest or throws ZipRefusedError on 200 mutated zips', async () => {
    const rand = rng(BASE_SEED + 2);
    const sandbox = join(dir, 'zip-sandbox');
    const outcomes = { ok: 0, refused: 0 };
    // Bias mutations towards the central directory and local headers, where the parsing is.
    const cdStart = seeds.zip.length - 4 * 46 - 60;
    for (let i = 0; i < 200; i++) {
      rmSync(sandbox, { recursive: true, force: true });
      const dest = join(sandbox, 'a', 'dest');
      mkdirSync(dest, { recursive: true });
      const zipPath = join(sandbox, 'in.zip');
      const hot = rand() < 0.5 ? { start: cdStart, end: seeds.zip.length } : { start: 0, end: 80 };
      writeFileSync(zipPath, mutate(seeds.zip, rand, [seeds.wav, seeds.png], hot));
      try {
        const files = await withWatchdog(
          extractMediaZip(zipPath, dest, { maxTotalBytes: 5_000_000, timeoutMs: 10_000 }),
          20_000,
          `extractMediaZip #${i}`,
        );
        for (const f of files) {
          expect(relative(dest, f.path).startsWith('..')).toBe(false);
          expect(f.path.startsWith(dest + sep)).toBe(true);
          expect(lstatSync(f.path).isFile()).toBe(true);
          expect(lstatSync(f.path).size).toBe(f.bytes);
        }
        outcomes.ok++;
      } catch (err) {
        if (!(err instanceof ZipRefusedError)) throw new Error(`extractMediaZip #${i} (seed ${BASE_SEED + 2}) threw ${String(err)}`);
        outcomes.refused++;
      }
      // Nothing may appear anywhere in the sandbox except the zip and files in dest.
      const stray = readdirSync(sandbox, { recursive: true, withFileTypes: true })
        .filter((d) => !d.isDirectory())
        .map((d) => join(d.parentPath, d.name))
        .filter((p) => p !== zipPath && !p.startsWith(dest + sep));
      expect(stray, `iteration ${i}`).toEqual([]);
    }
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 240_000);
});

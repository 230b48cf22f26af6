import { describe, expect, it } from 'vitest';
import { buildProvenanceFixtures } from '../fixtures.js';
import { analyseProvenance } from './index.js';
import { readContainerMetadata } from './containers.js';
import { readExif } from './exif.js';
import { readXmp } from './xmp.js';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000; };
}

function mutate(bytes: Buffer, rand: () => number): Buffer {
  const out = Buffer.from(bytes);
  const kind = Math.floor(rand() * 4);
  if (kind === 0) { // truncate
    return out.subarray(0, Math.floor(rand() * out.length));
  }
  if (kind === 1) { // random byte flips, biased to the metadata-rich head of the file
    const n = 1 + Math.floor(rand() * 16);
    for (let i = 0; i < n; i++) out[Math.floor(rand() * Math.min(out.length, 4096))] = Math.floor(rand() * 256);
    return out;
  }
  if (kind === 2) { // overwrite a 4-byte run with an extreme length
    const at = Math.floor(rand() * Math.max(1, Math.min(out.length - 4, 4096)));
    out.writeUInt32BE([0xffffffff, 0x7fffffff, 0, 0x10000][Math.floor(rand() * 4)], at);
    return out;
  }
  // splice a random window into itself (duplicated / reordered chunks)
  const a = Math.floor(rand() * out.length), b = Math.floor(rand() * out.length);
  return Buffer.concat([out.subarray(0, Math.min(a, b)), out.subarray(Math.min(a, b), Math.max(a, b)), out.subarray(Math.min(a, b))]);
}

describe('metadata parser fuzzing', () => {
  it('never throws or hangs on mutated fixtures', async () => {
    const fixtures = await buildProvenanceFixtures();
    const rand = rng(12345);
    const started = Date.now();
    let runs = 0;
    for (let round = 0; round < 12; round++) {
      for (const f of fixtures) {
        const bytes = mutate(f.bytes, rand);
        const meta = readContainerMetadata(bytes);
        for (const tiff of meta.exif) readExif(tiff);
        readXmp(meta.xmp);
        const report = await analyseProvenance(bytes); // includes C2PA parsing of damaged manifests
        expect(Array.isArray(report.findings)).toBe(true);
        runs++;
      }
    }
    expect(runs).toBe(12 * fixtures.length);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('survives pure random bytes behind each container signature', async () => {
    const rand = rng(99);
    const heads = [Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('RIFF\xff\xff\xff\x7fWEBP', 'latin1'), Buffer.from('GIF89a'), Buffer.from('II*\0')];
    for (let i = 0; i < 400; i++) {
      const body = Buffer.alloc(Math.floor(rand() * 2048));
      for (let k = 0; k < body.length; k++) body[k] = Math.floor(rand() * 256);
      const bytes = Buffer.concat([heads[i % heads.length], body]);
      const meta = readContainerMetadata(bytes);
      for (const tiff of meta.exif) readExif(tiff);
      await analyseProvenance(bytes);
    }
  });
});

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../inference/model-registry.js';
import { AnalysisError, type AnalysisInput, type DetectOptions } from '../types.js';
import { baseImage, encode, insertPngChunks, pngChunk, tEXt } from './fixtures.js';
import { createImageAnalyser, InMemoryReverseSearchStore, perceptualHash } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'discern-image-'));
const noModels = new ModelRegistry([path.join(tmp, 'no-models')]);

const options = (over: Partial<DetectOptions> = {}): DetectOptions => ({
  visualize: false, frame_length: 2, intelligence: false, audio_source_tracing: false,
  use_reverse_search: false, use_ood_detector: false, zero_retention_mode: false, ...over,
});

let counter = 0;
function input(bytes: Buffer, over: Partial<DetectOptions> = {}, saved: { name: string; bytes: Buffer }[] = [], teamId = 'team-a'): AnalysisInput {
  const file = path.join(tmp, `in-${counter++}`);
  writeFileSync(file, bytes);
  return {
    detectId: `d${counter}`, teamId, mediaPath: file, mediaType: 'image',
    probe: { format: 'image', mediaType: 'image', duration: null, audio: null, video: null, sizeBytes: bytes.length },
    options: options(over),
    artifacts: { save: async (name, b) => { saved.push({ name, bytes: b }); return `asset://${name}`; } },
  };
}

type Metrics = Record<string, any>;

describe('image analyser', () => {
  it('returns FinalResult image_metrics with children, ifl and a heatmap when visualize is set', async () => {
    const saved: { name: string; bytes: Buffer }[] = [];
    const png = await encode(await baseImage(400, 300, 5), 'png');
    const out = await createImageAnalyser({ models: noModels }).analyse(input(png, { visualize: true }, saved));
    const m = out.image_metrics as Metrics;
    expect(m.type).toBe('FinalResult');
    expect(['Real', 'Fake', 'Unknown']).toContain(m.label);
    expect(m.ifl.heatmap).toBe(m.image);
    expect(saved).toHaveLength(1);
    const meta = await sharp(saved[0].bytes).metadata();
    expect(meta.format).toBe('png');
    expect(m.children.some((c: Metrics) => c.type === 'FrequencyAnalysis')).toBe(true);
    // No learned model and no provenance: the honest answer is Unknown unless forensics fire.
    if (m.ifl.score < 0.5) expect(m.label).toBe('Unknown');
  });

  it('lets a generator parameter chunk decide the verdict', async () => {
    const png = await encode(await baseImage(300, 300, 8), 'png');
    const bytes = insertPngChunks(png, [tEXt('parameters', 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512')]);
    const m = (await createImageAnalyser({ models: noModels }).analyse(input(bytes))).image_metrics as Metrics;
    expect(m.label).toBe('Fake');
    expect(m.score).toBe(1);
    expect(m.reason).toMatch(/GeneratorParameters/);
  });

  it('runs an installed image-synthetic ONNX model and reports its version, threshold and FPR', async () => {
    const dir = path.join(tmp, 'models', 'brightness');
    mkdirSync(dir, { recursive: true });
    const onnx = path.join(here, 'test-fixtures', 'mean-brightness.onnx');
    copyFileSync(onnx, path.join(dir, 'model.onnx'));
    const sha256 = createHash('sha256').update(readFileSync(onnx)).digest('hex');
    const manifest = {
      name: 'brightness-test', version: '0.0.1', task: 'image-synthetic', sha256,
      input: { name: 'pixels', shape: [1, 3, 32, 32], size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: 'NCHW' },
      output: { name: 'fake_probability', meaning: 'test only: sigmoid of 4 × mean brightness' },
      threshold: 0.9, metrics: { false_positive_rate: 0.02, false_negative_rate: 0.05 },
    };
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest));
    const models = new ModelRegistry([path.join(tmp, 'models')]);
    const analyser = createImageAnalyser({ models });
    const solid = (v: number) => sharp({ create: { width: 300, height: 300, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
    const bright = (await analyser.analyse(input(await solid(250)))).image_metrics as Metrics;
    const dark = (await analyser.analyse(input(await solid(5)))).image_metrics as Metrics;
    const child = (m: Metrics) => m.children.find((c: Metrics) => c.type === 'LearnedDetector');
    // mean of normalised 250/255 ≈ 0.96 → sigmoid(3.84) ≈ 0.979; 5/255 → sigmoid(-3.84) ≈ 0.021
    expect(child(bright).score).toBeCloseTo(1 / (1 + Math.exp(-4 * (250 / 255 - 0.5) / 0.5)), 3);
    expect(child(dark).score).toBeCloseTo(1 / (1 + Math.exp(-4 * (5 / 255 - 0.5) / 0.5)), 3);
    expect(bright.label).toBe('Fake');
    expect(dark.label).toBe('Real');
    expect(bright).toMatchObject({ model_version: 'brightness-test@0.0.1', threshold: 0.9, false_positive_rate: 0.02 });
    expect(child(bright)).toMatchObject({ model_version: 'brightness-test@0.0.1', threshold: 0.9, false_positive_rate: 0.02 });

    // A model that misses many fakes may flag but never vouch: the dark image becomes Unknown.
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...manifest, metrics: { false_positive_rate: 0.02, false_negative_rate: 0.6 } }));
    const weak = (await createImageAnalyser({ models: new ModelRegistry([path.join(tmp, 'models')]) }).analyse(input(await solid(5)))).image_metrics as Metrics;
    expect(weak.label).toBe('Unknown');
    expect(weak.reason).toMatch(/miss rate/);
    expect(child(weak).label).toBe('Unknown');
    expect(child(dark).label).toBe('Real');

    // A model whose file does not match its sha256 is refused; the result says so instead of crashing.
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...manifest, sha256: '0'.repeat(64) }));
    const refused = (await createImageAnalyser({ models: new ModelRegistry([path.join(tmp, 'models')]) }).analyse(input(await solid(250)))).image_metrics as Metrics;
    expect(refused.notes.join(' ')).toMatch(/sha256/);
    expect(refused.label).toBe('Unknown');
  });

  it('matches registered images by perceptual hash, per team, after re-encoding and resizing', async () => {
    const store = new InMemoryReverseSearchStore();
    const original = await encode(await baseImage(480, 360, 21), 'png');
    await store.add('team-a', { hash: await perceptualHash(original), label: 'known_fake', title: 'viral fake', url: 'https://example.org/fake' });
    await store.add('team-a', { hash: await perceptualHash(await encode(await baseImage(480, 360, 77), 'png')), label: 'known_real' });
    const analyser = createImageAnalyser({ models: noModels, reverseSearch: store });
    const variant = await sharp(original).resize(300).jpeg({ quality: 70 }).toBuffer();
    const m = (await analyser.analyse(input(variant, { use_reverse_search: true }))).image_metrics as Metrics;
    expect(m.reverse_image_search_sources).toHaveLength(1);
    expect(m.reverse_image_search_sources[0]).toMatchObject({ verdict: 'known_fake', title: 'viral fake', url: 'https://example.org/fake' });
    expect(m.reverse_image_search_sources[0].similarity).toBeGreaterThanOrEqual(0.875);
    const other = (await analyser.analyse(input(variant, { use_reverse_search: true }, [], 'team-b'))).image_metrics as Metrics;
    expect(other.reverse_image_search_sources).toEqual([]);
    // The analysed image is remembered for the team (not in zero-retention mode).
    expect((await store.list('team-a')).some((e) => e.label === 'analysed')).toBe(true);
    const before = (await store.list('team-b')).length;
    await analyser.analyse(input(variant, { use_reverse_search: true, zero_retention_mode: true }, [], 'team-b'));
    expect((await store.list('team-b')).length).toBe(before);
  });

  it('omits reverse_image_search_sources unless asked', async () => {
    const m = (await createImageAnalyser({ models: noModels }).analyse(input(await encode(await baseImage(64, 64), 'png')))).image_metrics as Metrics;
    expect(m).not.toHaveProperty('reverse_image_search_sources');
  });
});

describe('hostile images', () => {
  const analyser = createImageAnalyser({ models: noModels });
  const expectError = async (bytes: Buffer, message: RegExp) => {
    const err = await analyser.analyse(input(bytes)).catch((e) => e);
    expect(err).toBeInstanceOf(AnalysisError);
    expect(String(err.message)).toMatch(message);
  };

  it('refuses a decompression bomb by its declared size', async () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(30000, 0); ihdr.writeUInt32BE(30000, 4); ihdr[8] = 8; ihdr[9] = 2;
    const bomb = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.alloc(100)), pngChunk('IEND', Buffer.alloc(0))]);
    await expectError(bomb, /megapixel limit/);
  });

  it('refuses truncated files, empty files, HEIC it cannot decode and non-images with clear messages', async () => {
    const jpeg = await encode(await baseImage(400, 300), 'jpeg');
    await expectError(jpeg.subarray(0, Math.floor(jpeg.length / 2)), /truncated or corrupt/);
    await expectError(Buffer.alloc(0), /empty/);
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic'), Buffer.alloc(200, 7)]);
    await expectError(heic, /HEIC|HEIF|decod/);
    await expectError(Buffer.from('hello, I am text'), /not an image|decod/);
  });

  it('analyses CMYK, 16-bit and grey images, saying what was converted', async () => {
    const img = await encode(await baseImage(300, 280), 'png');
    const cmyk = await sharp(img).toColourspace('cmyk').jpeg().toBuffer();
    const m1 = (await analyser.analyse(input(cmyk))).image_metrics as Metrics;
    expect(m1.notes.join(' ')).toMatch(/CMYK/);
    const deep = await sharp(img).toColourspace('rgb16').png().toBuffer();
    const m2 = (await analyser.analyse(input(deep))).image_metrics as Metrics;
    expect(m2.notes.join(' ')).toMatch(/8 bits/);
    const grey = await sharp(img).greyscale().png().toBuffer();
    const m3 = (await analyser.analyse(input(grey))).image_metrics as Metrics;
    expect(m3.width).toBe(300);
  });

  it('answers for a 1×1 image and for one larger than the forensic window', async () => {
    const dot = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
    const m = (await analyser.analyse(input(dot))).image_metrics as Metrics;
    expect(m.label).toBe('Unknown');
    expect(m.children.find((c: Metrics) => c.type === 'FrequencyAnalysis').evidence).toMatch(/at least 256/);
    const wide = await sharp({ create: { width: 4400, height: 300, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 20 } } }).png({ compressionLevel: 1 }).toBuffer();
    const w = (await analyser.analyse(input(wide))).image_metrics as Metrics;
    expect(w.children.find((c: Metrics) => c.type === 'FrequencyAnalysis').evidence).toMatch(/central 4096×300 region/);
  });

  it('analyses the first frame of animated GIF and WebP and says so', async () => {
    const frames = await Promise.all([1, 2, 3].map(async (s) => encode(await baseImage(120, 90, s), 'png')));
    for (const format of ['gif', 'webp'] as const) {
      const animated = await sharp(frames, { join: { animated: true } })[format]().toBuffer();
      const m = (await analyser.analyse(input(animated))).image_metrics as Metrics;
      expect(m.notes.join(' ')).toMatch(/first frame/);
      expect(m.height).toBe(90);
    }
  });
});

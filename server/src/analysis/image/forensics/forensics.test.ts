import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { baseImage } from '../fixtures.js';
import { FORENSIC_CALIBRATION } from './calibration.js';
import { calibratedScore, renderHeatmap, runForensics, scoreFeatures } from './index.js';
import { computeForensicFeatures, selectMedian } from './residual.js';

async function raw(buf: Buffer) {
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/**
 * Scene with a smooth sky-like gradient above `ground` (share of the height from the top) and fine
 * texture below it, plus seeded Gaussian noise of `sigma(x, y)` grey levels.
 */
function scene(width: number, height: number, ground: number, sigma: (x: number, y: number) => number, seed = 7): Uint8Array {
  let s = seed;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const sky = 150 + 60 * (y / height);
    const texture = y > height * ground ? 40 * Math.sin(x / 3.1) * Math.cos(y / 4.3) + 25 * Math.sin((x + 2 * y) / 5.7) : 0;
    const v = sky + texture + sigma(x, y) * gauss();
    for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v * (0.8 + 0.1 * c))));
  }
  return out;
}

async function viaWebp(data: Uint8Array, width: number, height: number, quality: number) {
  const webp = await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).webp({ quality }).toBuffer();
  return raw(webp);
}

const W = 768, H = 512;
const inRegion = (x: number, y: number) => x >= 256 && x < 512 && y >= 128 && y < 384;

describe('noise-consistency statistic', () => {
  it('does not take codec-flattened sky above noisy texture for an inconsistency, but does see a noisier pasted region', async () => {
    // Mostly flat sky: lossy WebP removes its noise and keeps the noise in the textured strip. That
    // codec effect flagged two real WebP photographs with the earlier statistic (one global
    // median/MAD over all blocks), which scored this scene about as high as the spliced one below.
    const codec: number[] = [];
    for (const quality of [60, 80]) {
      const coded = await viaWebp(scene(W, H, 0.85, () => 2), W, H, quality);
      const f = computeForensicFeatures(coded.data, W, H, 3)!;
      expect(scoreFeatures(f).parts.noiseInconsistency, `WebP q${quality}`).toBeLessThan(0.5);
      codec.push(f.noiseInconsistency);
    }
    // No codec: noiseless sky, noisy ground (noise follows the texture boundary, as it does when a codec or denoiser works by texture).
    const split = computeForensicFeatures(scene(W, H, 0.85, (_x, y) => (y > H * 0.85 ? 3 : 0)), W, H, 3)!;
    expect(scoreFeatures(split).parts.noiseInconsistency).toBeLessThan(0.5);

    // The smoother side is reported on its own (details.noise_smoother_regions): large for a
    // noise-free region, not for a noisier one.
    const quietRegion = computeForensicFeatures(scene(W, H, 0.5, (x, y) => (inRegion(x, y) ? 0 : 3)), W, H, 3)!;
    const noisyRegion = computeForensicFeatures(scene(W, H, 0.5, (x, y) => (inRegion(x, y) ? 12 : 2)), W, H, 3)!;
    expect(quietRegion.noiseLowered).toBeGreaterThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
    expect(quietRegion.noiseLowered).toBeCloseTo(quietRegion.noiseInconsistency, 5);
    expect(noisyRegion.noiseLowered).toBeLessThan(noisyRegion.noiseInconsistency / 2);

    // A noisier pasted region, and a noise-free one (as inpainting or local smoothing leaves), in a
    // scene with measurable noise (σ 2–3).
    for (const [ground, sigma] of [[0.85, (x: number, y: number) => (inRegion(x, y) ? 12 : 2)], [0.5, (x: number, y: number) => (inRegion(x, y) ? 12 : 2)], [0.5, (x: number, y: number) => (inRegion(x, y) ? 0 : 3)]] as const) {
      const base = computeForensicFeatures(scene(W, H, ground, () => 2), W, H, 3)!;
      const spliced = computeForensicFeatures(scene(W, H, ground, sigma), W, H, 3)!;
      expect(scoreFeatures(base).parts.noiseInconsistency, `ground ${ground}`).toBeLessThan(0.5);
      expect(spliced.noiseInconsistency, `ground ${ground}`).toBeGreaterThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
      expect(scoreFeatures(spliced).score).toBeGreaterThanOrEqual(0.5);
      expect(spliced.noiseInconsistency).toBeGreaterThan(4 * Math.max(...codec));
      // The most deviant blocks lie inside the pasted region.
      const { blocksX, deviation, blockSize } = spliced.noiseMap;
      const top = Array.from(deviation.keys()).sort((a, b) => Math.abs(deviation[b]) - Math.abs(deviation[a])).slice(0, 20);
      for (const i of top) {
        const cx = (i % blocksX) * blockSize + blockSize / 2, cy = Math.floor(i / blocksX) * blockSize + blockSize / 2;
        expect(inRegion(cx, cy), `ground ${ground}, block ${i}`).toBe(true);
      }
    }
  });

  it('gives no evidence where the image has no measurable noise to compare with', () => {
    // Noise-free sky with a noisy patch: the patch could as well be fine texture (fur, foliage) in a
    // codec-flattened photograph, so it must not count.
    const f = computeForensicFeatures(scene(W, H, 0.85, (x, y) => (inRegion(x, y) ? 12 : 0)), W, H, 3)!;
    expect(scoreFeatures(f).parts.noiseInconsistency).toBeLessThan(0.5);
  });

  it('abstains on a small image where fine texture could pass for noise, and still finds a region pasted into a large one', () => {
    // 384×256 px (12×8 blocks, a photo halved to web size): a quiet sky (σ 1.5) with a 64×64-px patch of
    // fine random texture (fur, a field, stonework at the pixel scale). Such texture fills the diagonal
    // Haar band like noise and has a noise-like band ratio, so nothing in one block tells it from
    // pasted noise. It covers 4 blocks, fewer than a MIN_REGION_BLOCKS region: the 98th percentile of
    // 96 blocks (the 2nd largest) would rest on it alone and exceeded the threshold before this rule.
    const w = 384, h = 256;
    let s = 11;
    const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
    const fur = (x: number, y: number) => x >= 160 && x < 224 && y >= 96 && y < 160;
    const small = scene(w, h, 1, (x, y) => (fur(x, y) ? 0 : 1.5), 5);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (fur(x, y)) {
      const t = 24 * (rand() - 0.5) + 10 * Math.sin(x * 1.7 + y * 0.9);
      for (let c = 0; c < 3; c++) { const i = (y * w + x) * 3 + c; small[i] = Math.max(0, Math.min(255, small[i] + Math.round(t))); }
    }
    const f = computeForensicFeatures(small, w, h, 3)!;
    // The patch is there to be seen: its blocks stand far out of their texture group...
    const { blocksX, deviation } = f.noiseMap;
    const patchBlock = 3 * blocksX + 5;
    expect(Math.abs(deviation[patchBlock])).toBeGreaterThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
    // ...but a region smaller than 3×3 blocks gives no evidence.
    expect(f.noiseInconsistency).toBeLessThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
    expect(scoreFeatures(f).parts.noiseInconsistency).toBeLessThan(0.5);

    // Too few measurable blocks for any reference group (256×256 px with three quarters blown out:
    // 16 blocks left): abstains outright and says why.
    const tinyImg = scene(256, 256, 0.5, () => 2);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) if (x >= 128 || y >= 128) tinyImg.fill(255, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    const tiny = computeForensicFeatures(tinyImg, 256, 256, 3)!;
    expect(tiny.noiseAbstain).toMatch(/only 16 measurable/);
    expect(scoreFeatures(tiny).parts.noiseInconsistency).toBe(0);

    // A large photograph-sized image (1536×1024, 1536 blocks) with a noisier pasted region of
    // 256×256 px (64 blocks): still found, and where it is.
    const W2 = 1536, H2 = 1024;
    const pasted = (x: number, y: number) => x >= 640 && x < 896 && y >= 384 && y < 640;
    const big = computeForensicFeatures(scene(W2, H2, 0.7, (x, y) => (pasted(x, y) ? 10 : 2), 9), W2, H2, 3)!;
    expect(big.noiseAbstain).toBeNull();
    expect(big.noiseInconsistency).toBeGreaterThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
    expect(scoreFeatures(big).score).toBeGreaterThanOrEqual(0.5);
    const bm = big.noiseMap;
    const top = Array.from(bm.deviation.keys()).sort((a, b) => Math.abs(bm.deviation[b]) - Math.abs(bm.deviation[a])).slice(0, 20);
    for (const i of top) {
      const cx = (i % bm.blocksX) * 32 + 16, cy = Math.floor(i / bm.blocksX) * 32 + 16;
      expect(pasted(cx, cy), `block ${i}`).toBe(true);
    }
  });

  it('compares a noisier pasted region with the texture it was pasted into, not with itself', async () => {
    // Fine texture over the whole frame (σ 2 background noise) and a 256×256-px region (64 blocks)
    // with more noise. Added noise pulls the ratio of the Haar detail bands to HH towards 1, so the
    // earlier fine-texture measure (that ratio) put the region's blocks into a texture group of their
    // own, where they were compared only with each other: it scored σ 4, 6 and 8 regions 0.29, 0.87
    // and 0.23, all below its threshold of 3.48. The detail bands' σ beyond the noise does not move.
    const base = computeForensicFeatures(scene(W, H, 0, () => 2), W, H, 3)!;
    expect(scoreFeatures(base).parts.noiseInconsistency).toBeLessThan(0.5);
    for (const sigma of [6, 8]) {
      const spliced = computeForensicFeatures(scene(W, H, 0, (x, y) => (inRegion(x, y) ? sigma : 2)), W, H, 3)!;
      expect(spliced.noiseAbstain).toBeNull();
      expect(spliced.noiseInconsistency, `σ ${sigma}`).toBeGreaterThan(FORENSIC_CALIBRATION.noiseInconsistency.threshold);
      expect(scoreFeatures(spliced).score, `σ ${sigma}`).toBeGreaterThanOrEqual(0.5);
      const { blocksX, deviation, blockSize } = spliced.noiseMap;
      const top = Array.from(deviation.keys()).sort((a, b) => Math.abs(deviation[b]) - Math.abs(deviation[a])).slice(0, 20);
      for (const i of top) {
        const cx = (i % blocksX) * blockSize + blockSize / 2, cy = Math.floor(i / blocksX) * blockSize + blockSize / 2;
        expect(inRegion(cx, cy), `σ ${sigma}, block ${i}`).toBe(true);
      }
    }
    // The same photograph-like scene after a real lossy round trip (sharp WebP q80) and a halving,
    // the web condition of the remaining false positives: unspliced, it stays below threshold.
    const web = await raw(await sharp(Buffer.from(scene(W, H, 0, () => 2)), { raw: { width: W, height: H, channels: 3 } }).webp({ quality: 80 }).toBuffer());
    const halved = await raw(await sharp(Buffer.from(web.data), { raw: { width: W, height: H, channels: 3 } }).resize(W / 2).png().toBuffer());
    for (const img of [web, halved]) {
      const f = computeForensicFeatures(img.data, img.width, img.height, 3)!;
      expect(scoreFeatures(f).parts.noiseInconsistency, `${img.width}×${img.height}`).toBeLessThan(0.5);
    }
  });

  it('skips mostly clipped blocks instead of calling their missing noise an inconsistency', () => {
    // A blown-out highlight (all 255) covering a quarter of a noisy scene.
    const img = scene(W, H, 0.5, () => 3);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 384; x++) img.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const f = computeForensicFeatures(img, W, H, 3)!;
    expect(f.noiseMap.measurable).toBeLessThan((W / 32) * (H / 32) * 0.8);
    expect(scoreFeatures(f).parts.noiseInconsistency).toBeLessThan(0.5);
  });
});

describe('frequency forensics', () => {
  it('selectMedian agrees with a sorted median for odd and even counts with ties', () => {
    let s = 3;
    const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
    for (const n of [1, 2, 3, 4, 7, 112, 255, 256, 512]) {
      for (let trial = 0; trial < 20; trial++) {
        const values = Array.from({ length: n }, () => Math.floor(rand() * (trial % 2 ? 5 : 1000)) / 4);
        const sorted = [...values].sort((a, b) => a - b);
        const expected = n % 2 ? sorted[n >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        const buf = new Float64Array(n + 3).fill(-99); // values beyond n must be ignored
        buf.set(values);
        expect(selectMedian(buf, n), `n=${n} trial ${trial}`).toBe(expected);
      }
    }
  });

  it('sees the periodic trace of 2× up-sampling that a native-resolution image lacks', async () => {
    const small = await baseImage(320, 320, 4);
    const png = await sharp(Buffer.from(small.data), { raw: { width: 320, height: 320, channels: 3 } }).png().toBuffer();
    const native = await baseImage(640, 640, 4);
    const fNative = computeForensicFeatures(native.data, 640, 640, 3)!;
    for (const kernel of ['linear', 'cubic', 'nearest'] as const) {
      const up = await raw(await sharp(png).resize(640, 640, { kernel: kernel as never }).png().toBuffer());
      const fUp = computeForensicFeatures(up.data, 640, 640, 3)!;
      expect(fUp.latticePeak, kernel).toBeGreaterThan(fNative.latticePeak + 2.5);
    }
    expect(fNative.latticePeak).toBeLessThan(1.5);
  });

  it('maps the calibration median to 0.01 and the threshold to 0.5', () => {
    expect(calibratedScore(2, { median: 2, threshold: 5 })).toBeCloseTo(0.01, 4);
    expect(calibratedScore(5, { median: 2, threshold: 5 })).toBeCloseTo(0.5, 6);
    expect(calibratedScore(50, { median: 2, threshold: 5 })).toBeGreaterThan(0.99);
  });

  it('gives Unknown for images too small to judge and renders a heatmap PNG of the image aspect', async () => {
    const small = await baseImage(100, 80);
    const r = await runForensics(small.data, 100, 80, 3, true);
    expect(r.finding.label).toBe('Unknown');
    expect(r.heatmap).toBeUndefined();
    const img = await baseImage(512, 256, 9);
    const f = computeForensicFeatures(img.data, 512, 256, 3)!;
    const png = await renderHeatmap(f, 512, 256);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width! / meta.height!).toBeCloseTo(2, 1);
  });
});

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { baseImage } from '../fixtures.js';
import { calibratedScore, renderHeatmap, runForensics } from './index.js';
import { computeForensicFeatures } from './residual.js';

async function raw(buf: Buffer) {
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

describe('frequency forensics', () => {
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

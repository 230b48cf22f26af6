import sharp from 'sharp';
import type { ImageFinding } from '../types.js';
import { FORENSIC_CALIBRATION, type ForensicCalibration, type StatCalibration } from './calibration.js';
import { computeForensicFeatures, type ForensicFeatures } from './residual.js';

export { computeForensicFeatures } from './residual.js';

/** Logistic map with median → 0.01 and threshold → 0.5. */
export function calibratedScore(value: number, cal: StatCalibration): number {
  const spread = Math.max(1e-6, (cal.threshold - cal.median) / Math.log(99));
  const z = (value - cal.threshold) / spread;
  return 1 / (1 + Math.exp(-Math.max(-50, Math.min(50, z))));
}

export interface ForensicResult {
  finding: ImageFinding;
  score: number;
  threshold: number;
  features: ForensicFeatures | null;
  heatmap?: Buffer;
}

export function scoreFeatures(features: ForensicFeatures, cal: ForensicCalibration = FORENSIC_CALIBRATION) {
  const parts = {
    offGridPeak: calibratedScore(features.offGridPeak, cal.offGridPeak),
    latticePeak: calibratedScore(features.latticePeak, cal.latticePeak),
    // An abstaining statistic gives no evidence: 0 never wins the maximum below.
    noiseInconsistency: features.noiseAbstain ? 0 : calibratedScore(features.noiseInconsistency, cal.noiseInconsistency),
  };
  return { parts, score: Math.max(parts.offGridPeak, parts.latticePeak, parts.noiseInconsistency) };
}

/**
 * Heatmap of the local noise-level deviation (blue = typical, red = most unlike the rest of the
 * image), laid over a grey copy of the analysed region so a reader can see where it points.
 */
export async function renderHeatmap(features: ForensicFeatures, width: number, height: number, pixels?: Uint8Array): Promise<Buffer> {
  const { blocksX, blocksY, deviation, blockSize } = features.noiseMap;
  const rgb = Buffer.alloc(blocksX * blocksY * 3);
  for (let i = 0; i < blocksX * blocksY; i++) {
    const t = Math.max(0, Math.min(1, Math.abs(deviation[i]) / 6));
    rgb[i * 3] = Math.round(255 * t);
    rgb[i * 3 + 1] = Math.round(96 * (1 - Math.abs(2 * t - 1)));
    rgb[i * 3 + 2] = Math.round(255 * (1 - t));
  }
  // The map covers whole blocks only; scale it to the covered area, not the full image.
  const coveredW = blocksX * blockSize, coveredH = blocksY * blockSize;
  const scale = Math.min(1, 1024 / Math.max(coveredW, coveredH));
  const outW = Math.max(1, Math.round(coveredW * scale)), outH = Math.max(1, Math.round(coveredH * scale));
  const heat = await sharp(rgb, { raw: { width: blocksX, height: blocksY, channels: 3 } }).resize(outW, outH, { kernel: 'nearest' }).raw().toBuffer();
  if (!pixels) return sharp(heat, { raw: { width: outW, height: outH, channels: 3 } }).png().toBuffer();
  const grey = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 3 } })
    .extract({ left: 0, top: 0, width: coveredW, height: coveredH })
    .resize(outW, outH)
    .greyscale()
    .raw()
    .toBuffer();
  const out = Buffer.alloc(outW * outH * 3);
  for (let i = 0; i < outW * outH; i++) {
    const g = grey[i];
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(0.45 * g + 0.55 * heat[i * 3 + c]);
  }
  return sharp(out, { raw: { width: outW, height: outH, channels: 3 } }).png().toBuffer();
}

/** Side of the central region analysed in very large images (cropping keeps pixel-level traces; scaling would erase them). */
export const MAX_FORENSIC_SIDE = 4096;

export function centralCrop(data: Uint8Array, width: number, height: number, channels: number, side: number) {
  const w = Math.min(width, side), h = Math.min(height, side);
  if (w === width && h === height) return { data, width, height, cropped: false };
  const x0 = Math.floor((width - w) / 2), y0 = Math.floor((height - h) / 2);
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) out.set(data.subarray(((y0 + y) * width + x0) * channels, ((y0 + y) * width + x0 + w) * channels), y * w * channels);
  return { data: out, width: w, height: h, cropped: true };
}

export async function runForensics(fullData: Uint8Array, fullWidth: number, fullHeight: number, channels: number, visualize: boolean, cal: ForensicCalibration = FORENSIC_CALIBRATION): Promise<ForensicResult> {
  const { data, width, height, cropped } = centralCrop(fullData, fullWidth, fullHeight, channels, MAX_FORENSIC_SIDE);
  const features = computeForensicFeatures(data, width, height, channels);
  if (!features) {
    return {
      features: null, score: 0.5, threshold: 0.5,
      finding: { type: 'FrequencyAnalysis', label: 'Unknown', score: 0.5, evidence: `image is ${width}×${height}; frequency analysis needs at least 256×256 pixels at native resolution` },
    };
  }
  const { parts, score } = scoreFeatures(features, cal);
  const label = score >= 0.5 ? 'Fake' : 'Unknown';
  const strongest = (Object.entries(parts) as [keyof typeof parts, number][]).sort((a, b) => b[1] - a[1])[0];
  const describe: Record<keyof typeof parts, string> = {
    offGridPeak: 'a periodic peak in the noise-residual spectrum away from the JPEG grid (resampling trace)',
    latticePeak: 'periodic 2×/4× up-sampling peaks in the noise-residual spectrum beyond what the JPEG grid explains',
    noiseInconsistency: 'regions whose local noise level differs strongly from the rest of the image',
  };
  const evidence = score >= 0.5
    ? `${describe[strongest[0]]} (score ${strongest[1].toFixed(2)}); such traces also come from ordinary resizing or editing, so this is a weak signal on its own`
    : `no resampling peak or noise inconsistency beyond what real photographs show (calibration ${cal.version}); this is not evidence of authenticity`;
  const scope = cropped ? ` (central ${width}×${height} region of the ${fullWidth}×${fullHeight} image analysed)` : '';
  const result: ForensicResult = {
    features, score, threshold: 0.5,
    finding: {
      type: 'FrequencyAnalysis', label, score: round(score), evidence: evidence + scope, threshold: 0.5,
      false_positive_rate: cal.false_positive_rate,
      details: {
        off_grid_peak: round(features.offGridPeak), lattice_peak: round(features.latticePeak), jpeg_grid: round(features.jpegGrid),
        noise_inconsistency: round(features.noiseInconsistency),
        // The smoother side alone: how far the top regions have less noise than their texture
        // group. Codecs and down-scaling make such regions too, so read it with care.
        noise_smoother_regions: round(features.noiseLowered),
        ...(features.noiseAbstain ? { noise_consistency_abstained: features.noiseAbstain } : {}),
        part_scores: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v)])),
        calibration: cal.version,
      },
    },
  };
  if (visualize) result.heatmap = await renderHeatmap(features, width, height, channels === 3 ? data : undefined);
  return result;
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

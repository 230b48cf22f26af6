import sharp from 'sharp';
import { fft1d } from '../dsp/fft.js';

const FFT_SIZE = 512;
export const SPEC_ROWS = 96;
export const COLUMNS_PER_CHUNK = 16;

const hann = Float64Array.from({ length: FFT_SIZE }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE));

/**
 * A coarse log spectrogram of one chunk: COLUMNS_PER_CHUNK frames spread evenly over the chunk
 * (scaled by how much of a full chunk it is), each reduced to SPEC_ROWS bands from 0 to 8 kHz.
 * Kept small on purpose: a 60-minute file keeps ~11 MB of these for the picture.
 */
export function chunkSpectrogram(chunk: Float32Array, fullChunkSamples: number): Float32Array[] {
  const cols = Math.max(1, Math.round((COLUMNS_PER_CHUNK * chunk.length) / fullChunkSamples));
  const out: Float32Array[] = [];
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  const binsPerRow = FFT_SIZE / 2 / SPEC_ROWS;
  for (let c = 0; c < cols; c++) {
    const start = Math.max(0, Math.min(chunk.length - FFT_SIZE, Math.floor(((c + 0.5) * chunk.length) / cols - FFT_SIZE / 2)));
    for (let i = 0; i < FFT_SIZE; i++) {
      re[i] = (chunk[start + i] ?? 0) * hann[i]!;
      im[i] = 0;
    }
    fft1d(re, im);
    const col = new Float32Array(SPEC_ROWS);
    for (let r = 0; r < SPEC_ROWS; r++) {
      let p = 0;
      const lo = Math.floor(r * binsPerRow);
      const hi = Math.max(lo + 1, Math.floor((r + 1) * binsPerRow));
      for (let b = lo; b < hi; b++) p += re[b]! * re[b]! + im[b]! * im[b]!;
      col[r] = 10 * Math.log10(p / (hi - lo) + 1e-10);
    }
    out.push(col);
  }
  return out;
}

/** A perceptually ordered dark-blue → purple → orange → yellow ramp for t in [0, 1]. */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 0, 0, 8],
    [0.3, 60, 15, 110],
    [0.6, 190, 55, 80],
    [0.85, 250, 150, 30],
    [1, 252, 250, 160],
  ];
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < stops.length; i++) {
    const [t1, r1, g1, b1] = stops[i]!;
    const [t0, r0, g0, b0] = stops[i - 1]!;
    if (x <= t1) {
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [252, 250, 160];
}

export interface HeatmapInput {
  /** Spectrogram columns in time order (each SPEC_ROWS values, dB). */
  columns: Float32Array[];
  /** For every column, the index of the chunk it belongs to. */
  columnChunk: number[];
  /** Per-chunk score, or null for chunks without speech. */
  chunkScores: (number | null)[];
  threshold: number;
}

/**
 * PNG: spectrogram on top (low frequencies at the bottom), and below it one bar per chunk whose
 * height is the chunk's score — red at or above the threshold, green below, grey without speech —
 * with the threshold drawn as a white line across the bar strip.
 */
export async function renderHeatmap(input: HeatmapInput): Promise<Buffer> {
  const width = Math.max(64, Math.min(1600, input.columns.length * 2));
  const specH = SPEC_ROWS * 2;
  const gap = 6;
  const barH = 48;
  const height = specH + gap + barH;
  const px = Buffer.alloc(width * height * 3, 24);

  let lo = Infinity;
  let hi = -Infinity;
  for (const col of input.columns) for (const v of col) {
    if (v > hi) hi = v;
    if (v < lo) lo = v;
  }
  lo = Math.max(lo, hi - 80);
  const span = Math.max(1e-6, hi - lo);
  const n = input.columns.length;
  for (let x = 0; x < width; x++) {
    const ci = Math.min(n - 1, Math.floor((x * n) / width));
    const col = input.columns[ci];
    if (col) {
      for (let y = 0; y < specH; y++) {
        const row = SPEC_ROWS - 1 - Math.floor(y / 2);
        const [r, g, b] = ramp((col[row]! - lo) / span);
        const o = (y * width + x) * 3;
        px[o] = r;
        px[o + 1] = g;
        px[o + 2] = b;
      }
    }
    const chunk = input.columnChunk[ci] ?? 0;
    const score = input.chunkScores[chunk];
    const top = specH + gap;
    const barTop = score == null ? top : top + Math.round((1 - Math.min(1, Math.max(0, score))) * (barH - 1));
    const color: [number, number, number] =
      score == null ? [90, 90, 90] : score >= input.threshold ? [220, 40, 40] : [40, 180, 80];
    for (let y = barTop; y < height; y++) {
      const o = (y * width + x) * 3;
      px[o] = color[0];
      px[o + 1] = color[1];
      px[o + 2] = color[2];
    }
    const ty = top + Math.round((1 - Math.min(1, Math.max(0, input.threshold))) * (barH - 1));
    const o = (ty * width + x) * 3;
    px[o] = 255;
    px[o + 1] = 255;
    px[o + 2] = 255;
  }
  return sharp(px, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

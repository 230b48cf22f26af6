/**
 * Frequency forensics on the noise residual.
 *
 * 1. Residual: luminance minus the mean of its four neighbours (a Laplacian high-pass), which
 *    removes most scene content and keeps sensor noise, compression and resampling traces.
 * 2. Periodicity: interpolation during up-sampling makes the residual's local variance periodic.
 *    The 2-D power spectrum of |residual| (Hann-windowed tiles, averaged) then shows isolated
 *    peaks. Each frequency is compared with a ring of neighbours three bins away (median), so
 *    smooth spectral slopes and axis-aligned lines do not count as peaks. The JPEG 8×8 block grid
 *    makes peaks at multiples of n/8 and the WebP/VP8 4×4 transform at multiples of n/4; those lattice
 *    frequencies are scored separately: the 2× up-sampling peak (n/2) counts only by how far it rises
 *    above the strongest coarser codec-grid peak, so re-encoding alone does not look like resampling.
 * 3. Consistency: a local noise level (median absolute residual) per 32×32 block; splices and
 *    locally generated regions often carry a different noise level than the rest of the image.
 *    The statistic is a robust spread of the log noise map over textured-comparable blocks.
 *
 * Both statistics are turned into 0–1 scores by a calibration measured on real photographs
 * (`calibration.ts`), so a score of 0.5 sits at the threshold that gave ≤ 1% false positives there.
 */
import { powerSpectrum2d } from './fft.js';

export interface ForensicFeatures {
  /** Strongest off-lattice spectral peak (log ratio to its ring). */
  offGridPeak: number;
  /** Peak strength at the 2× up-sampling frequency (n/2) minus the strongest codec-grid peak (n/8, n/4, 3n/8). */
  latticePeak: number;
  /** Strongest codec-grid peak (JPEG 8×8 / WebP 4×4 block grids), reported for explanation. */
  jpegGrid: number;
  /** Robust spread of the local noise-level map. */
  noiseInconsistency: number;
  /** Per-block deviation of the noise level, for the heatmap (blocksX × blocksY). */
  noiseMap: { blocksX: number; blocksY: number; deviation: Float32Array; blockSize: number };
  tiles: number;
}

const TILE = 256;
const MAX_TILES = 6;
const BLOCK = 32;

export function luminance(data: Uint8Array, width: number, height: number, channels: number): Float32Array {
  const out = new Float32Array(width * height);
  if (channels < 3) {
    for (let i = 0; i < width * height; i++) out[i] = data[i * channels];
    return out;
  }
  for (let i = 0, p = 0; i < width * height; i++, p += channels) out[i] = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
  return out;
}

export function laplacianResidual(gray: Float32Array, width: number, height: number): Float32Array {
  const r = new Float32Array(width * height);
  for (let y = 1; y < height - 1; y++) {
    const row = y * width;
    for (let x = 1; x < width - 1; x++) {
      const i = row + x;
      r[i] = gray[i] - 0.25 * (gray[i - 1] + gray[i + 1] + gray[i - width] + gray[i + width]);
    }
  }
  return r;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Tile origins: a spread of up to MAX_TILES tiles, preferring textured ones (periodicity needs signal). */
function pickTiles(residual: Float32Array, width: number, height: number): [number, number][] {
  const candidates: { x: number; y: number; energy: number }[] = [];
  const stepX = Math.max(TILE, Math.floor((width - TILE) / 3) || TILE);
  const stepY = Math.max(TILE, Math.floor((height - TILE) / 3) || TILE);
  for (let y = 0; y + TILE <= height; y += stepY) {
    for (let x = 0; x + TILE <= width; x += stepX) {
      let e = 0;
      for (let yy = y; yy < y + TILE; yy += 4) for (let xx = x; xx < x + TILE; xx += 4) e += Math.abs(residual[yy * width + xx]);
      candidates.push({ x, y, energy: e });
    }
  }
  candidates.sort((a, b) => b.energy - a.energy);
  return candidates.slice(0, MAX_TILES).map((c) => [c.x, c.y]);
}

function averagedSpectrum(residual: Float32Array, width: number, origins: [number, number][]): Float64Array {
  const n = TILE;
  const hann = new Float64Array(n);
  for (let i = 0; i < n; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
  const sum = new Float64Array(n * n);
  const block = new Float64Array(n * n);
  for (const [ox, oy] of origins) {
    let mean = 0;
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) mean += Math.abs(residual[(oy + y) * width + ox + x]);
    mean /= n * n;
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      block[y * n + x] = (Math.abs(residual[(oy + y) * width + ox + x]) - mean) * hann[x] * hann[y];
    }
    const p = powerSpectrum2d(block, n);
    for (let i = 0; i < n * n; i++) sum[i] += p[i];
  }
  return sum;
}

const RING: [number, number][] = [[3, 3], [3, -3], [-3, 3], [-3, -3], [3, 0], [-3, 0], [0, 3], [0, -3]];

function peakRatio(logP: Float64Array, n: number, u: number, v: number): number {
  const ring: number[] = [];
  for (const [du, dv] of RING) ring.push(logP[((v + dv + n) % n) * n + ((u + du + n) % n)]);
  return logP[v * n + u] - median(ring);
}

export function computeForensicFeatures(data: Uint8Array, width: number, height: number, channels: number): ForensicFeatures | null {
  if (width < TILE || height < TILE) return null;
  const gray = luminance(data, width, height, channels);
  const residual = laplacianResidual(gray, width, height);
  const origins = pickTiles(residual, width, height);
  const n = TILE;
  const spectrum = averagedSpectrum(residual, width, origins);
  const logP = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) logP[i] = Math.log(spectrum[i] + 1e-9);

  const g = n / 8;
  const isLattice = (k: number) => { const m = k % g; return m <= 1 || m >= g - 1; };
  let offGridPeak = -Infinity;
  // Half-plane (the spectrum of a real signal is symmetric); skip the low-frequency core.
  for (let v = 0; v <= n / 2; v++) for (let u = 0; u < n; u++) {
    const fu = Math.min(u, n - u), fv = v;
    if (fu < 6 && fv < 6) continue;
    if (isLattice(u) && isLattice(v)) continue;
    const r = peakRatio(logP, n, u, v);
    if (r > offGridPeak) offGridPeak = r;
  }
  const at = (u: number, v: number) => peakRatio(logP, n, ((u % n) + n) % n, ((v % n) + n) % n);
  // Block-transform codecs leave their own grid: JPEG 8×8 (n/8 and harmonics), WebP/VP8 4×4 (n/4, n/2).
  // A 2× up-sampling trace must stand out at n/2 above every coarser codec-grid frequency.
  const axis = (k: number) => (at(k, 0) + at(0, k)) / 2;
  const jpegGrid = Math.max(axis(g), axis(2 * g), axis(3 * g));
  const half = n / 2;
  const up2 = Math.max(axis(half), at(half, half));
  const latticePeak = up2 - Math.max(0, jpegGrid);

  // Local noise-level map.
  const blocksX = Math.floor(width / BLOCK), blocksY = Math.floor(height / BLOCK);
  const levels = new Float32Array(blocksX * blocksY);
  const sample: number[] = [];
  for (let by = 0; by < blocksY; by++) for (let bx = 0; bx < blocksX; bx++) {
    sample.length = 0;
    for (let y = by * BLOCK + 1; y < (by + 1) * BLOCK - 1; y += 2) for (let x = bx * BLOCK + 1; x < (bx + 1) * BLOCK - 1; x += 2) sample.push(Math.abs(residual[y * width + x]));
    levels[by * blocksX + bx] = Math.log(median(sample) + 0.5);
  }
  const all = Array.from(levels);
  const mid = median(all);
  const mad = median(all.map((l) => Math.abs(l - mid))) + 0.05;
  const deviation = new Float32Array(levels.length);
  for (let i = 0; i < levels.length; i++) deviation[i] = (levels[i] - mid) / mad;
  // Share-weighted tail: how far the most deviant 2% of blocks sit from the image's typical noise.
  const sortedDev = Array.from(deviation, Math.abs).sort((a, b) => a - b);
  const noiseInconsistency = sortedDev.length ? sortedDev[Math.floor(sortedDev.length * 0.98)] : 0;

  return { offGridPeak, latticePeak, jpegGrid, noiseInconsistency, noiseMap: { blocksX, blocksY, deviation, blockSize: BLOCK }, tiles: origins.length };
}

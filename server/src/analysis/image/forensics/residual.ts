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
 * 3. Consistency: a local noise level per 32×32 block (robust σ of the diagonal Haar band),
 *    compared only among blocks of similar texture and only where the image has measurable noise;
 *    splices and locally generated or inpainted regions often carry a different noise level than
 *    the rest of the image. See `noiseConsistency` below for why each step is there.
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
  /** 98th percentile of the region-averaged noise-level deviation (see `noiseConsistency`). */
  noiseInconsistency: number;
  /**
   * The same tail over the smoother side alone (regions with less noise than their texture group);
   * reported for explanation. noiseInconsistency covers both sides and is the scored statistic.
   */
  noiseLowered: number;
  /** Why the noise-consistency statistic gives no evidence for this image (null when it measured). */
  noiseAbstain: string | null;
  /** Per-block deviation of the noise level, for the heatmap (blocksX × blocksY). */
  /** `measurable`: blocks not mostly clipped, the ones the deviation is computed over. */
  noiseMap: { blocksX: number; blocksY: number; deviation: Float32Array; blockSize: number; measurable: number };
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

/**
 * Median of the first n values of buf (same value as `median`), by quickselect in place: no copy
 * and no comparator calls, which matters for the per-block noise estimates.
 */
export function selectMedian(buf: Float64Array, n: number): number {
  if (n === 0) return 0;
  const k = n >> 1;
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const pivot = buf[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (buf[i] < pivot) i++;
      while (buf[j] > pivot) j--;
      if (i <= j) { const t = buf[i]; buf[i] = buf[j]; buf[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else break;
  }
  const upper = buf[k];
  if (n % 2) return upper;
  // Even count: the lower middle value is the largest of the part left of k.
  let lower = -Infinity;
  for (let m = 0; m < k; m++) if (buf[m] > lower) lower = buf[m];
  return (lower + upper) / 2;
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

  const { blocksX, blocksY, deviation, noiseInconsistency, noiseLowered, measurable, abstain } = noiseConsistency(gray, width, height);

  return { offGridPeak, latticePeak, jpegGrid, noiseInconsistency, noiseLowered, noiseAbstain: abstain, noiseMap: { blocksX, blocksY, deviation, blockSize: BLOCK, measurable }, tiles: origins.length };
}

/**
 * Below this noise standard deviation (grey levels) a block carries no measurable sensor noise:
 * 8-bit rounding of RGB alone leaves σ ≈ 0.2 in the luminance, and lossy codecs flatten smooth
 * areas to exactly that. Such blocks are "no information", not "different noise".
 */
export const NOISE_FLOOR = 0.5;
/** Smallest spread (log σ) used to normalise deviations: a 2× noise change is then ≥ 3.5 units. */
const MIN_LOG_SPREAD = 0.2;
const MIN_STRATUM = 12;
/** Typical σ a texture stratum needs, as a multiple of the scale's noise floor, before its blocks are compared. */
const REFERENCE_OVER_FLOOR = 2;
const FLAT_TEXTURE = 2;
/** Blocks a deviating region must cover to count: 3×3 blocks (96×96 px), the smoothing neighbourhood. */
export const MIN_REGION_BLOCKS = 9;
/** Blocks a texture stratum needs to serve as a reference: more than twice a minimal region. */
export const MIN_REFERENCE_BLOCKS = 2 * MIN_REGION_BLOCKS + 1;
/** Fine detail (grey levels of detail-band σ beyond the noise) below which a block has no fine texture. */
const FINE_FLAT = 1;

interface BlockMeasures {
  /** log σ per block, floored at the noise floor. */
  level: Float32Array;
  /** Coarse texture: median gradient between cell means, less what the block's own noise explains. */
  texture: Float32Array;
  /** Fine detail: σ of the horizontal/vertical Haar detail bands beyond the diagonal band's σ, in quadrature (≈ 0 for noise). */
  fine: Float32Array;
  usable: Uint8Array;
}

/** Per-block noise and texture measures: `block`-px blocks, block/8-px texture cells, noise floor `floor`. */
function measureBlocks(gray: Float32Array, width: number, blocksX: number, blocksY: number, block: number, floor: number): BlockMeasures {
  const nb = blocksX * blocksY;
  const level = new Float32Array(nb);
  const texture = new Float32Array(nb);
  const fine = new Float32Array(nb);
  const usable = new Uint8Array(nb);
  // Per-block sample buffers, reused: the medians below run ~2000 times per 1080p image.
  const hh = new Float64Array((block / 2) * (block / 2));
  const detail = new Float64Array(2 * hh.length);
  const cell = block / 8, cn = 8;
  const grad = new Float64Array(2 * cn * (cn - 1));
  const cells = new Float32Array(cn * cn);
  // The block's own noise also moves the cell means: the difference of two of them has σ·√2/cell,
  // whose median magnitude is 0.6745·√2/cell·σ (0.239σ for 4-px cells). Taking that out in
  // quadrature keeps a noisier pasted region in the same texture stratum as the flat area it was
  // pasted into.
  const noiseInGradient = (0.6745 * Math.SQRT2) / cell;
  for (let by = 0; by < blocksY; by++) for (let bx = 0; bx < blocksX; bx++) {
    const x0 = bx * block, y0 = by * block;
    let nh = 0, nd = 0, ng = 0;
    let clipped = 0;
    for (let y = y0; y < y0 + block; y += 2) {
      const r0 = y * width, r1 = r0 + width;
      for (let x = x0; x < x0 + block; x += 2) {
        const a = gray[r0 + x], b = gray[r0 + x + 1], c = gray[r1 + x], d = gray[r1 + x + 1];
        hh[nh++] = Math.abs(a - b - c + d) / 2;
        detail[nd++] = Math.abs(a + b - c - d) / 2;
        detail[nd++] = Math.abs(a - b + c - d) / 2;
        if (a <= 1 || a >= 254) clipped++;
      }
    }
    cells.fill(0);
    const inv = 1 / (cell * cell);
    for (let y = 0; y < block; y++) {
      const row = (y0 + y) * width + x0;
      const cy = Math.floor(y / cell) * cn;
      for (let x = 0; x < block; x++) cells[cy + Math.floor(x / cell)] += gray[row + x] * inv;
    }
    for (let cy = 0; cy < cn; cy++) for (let cx = 0; cx < cn; cx++) {
      if (cx + 1 < cn) grad[ng++] = Math.abs(cells[cy * cn + cx + 1] - cells[cy * cn + cx]);
      if (cy + 1 < cn) grad[ng++] = Math.abs(cells[(cy + 1) * cn + cx] - cells[cy * cn + cx]);
    }
    const i = by * blocksX + bx;
    const sigma = selectMedian(hh, nh) / 0.6745;
    level[i] = Math.log(Math.max(floor, sigma));
    const fromNoise = noiseInGradient * sigma;
    const t = selectMedian(grad, ng);
    texture[i] = Math.sqrt(Math.max(0, t * t - fromNoise * fromNoise));
    // Fine texture (hair, fur, foliage at the pixel scale) is averaged away in the cell means but
    // fills HH just like noise. White noise puts the same energy in the horizontal and vertical
    // detail bands as in the diagonal one; scene detail puts more there (natural spectra fall
    // with frequency and HH holds the highest). So fine texture is measured as the σ of the
    // detail bands in excess of the noise (in quadrature), in grey levels. Not their ratio to HH:
    // noise added to a region pulls that ratio towards 1 and so moved a pasted noisy region into a
    // texture group of its own, where it was compared only with itself; the excess does not move.
    const detailSigma = selectMedian(detail, nd) / 0.6745;
    fine[i] = Math.sqrt(Math.max(0, detailSigma * detailSigma - sigma * sigma));
    // Mostly clipped blocks (one sample per 2×2 cell checked) have no noise to measure.
    usable[i] = clipped <= nh / 4 ? 1 : 0;
  }
  return { level, texture, fine, usable };
}

/**
 * Robust z of each block's log σ within its texture stratum (`floor`: the noise floor). Blocks of strata that cannot serve as a reference keep z = 0 (no evidence).
 */
function stratifiedZ(m: BlockMeasures, nb: number, floor: number) {
  const { level, texture, fine, usable } = m;
  // Texture strata: half-octave bins of coarse texture and of fine detail, so that each
  // block is compared with blocks of similar texture however few or many of them the scene has
  // (quantile strata would mix a small textured object with the flat sky around it). Bins with
  // fewer than MIN_STRATUM blocks are merged with their neighbour so that medians rest on enough blocks.
  const idx: number[] = [];
  for (let i = 0; i < nb; i++) if (usable[i]) idx.push(i);
  // Below FLAT_TEXTURE grey levels per 4 pixels a block is smooth (gradients leave nothing in HH).
  const bin = (i: number) => {
    const coarse = texture[i] < FLAT_TEXTURE ? 0 : 1 + Math.floor(2 * Math.log2(texture[i] / FLAT_TEXTURE));
    const f = fine[i] < FINE_FLAT ? 0 : 1 + Math.floor(2 * Math.log2(fine[i] / FINE_FLAT));
    return coarse * 64 + Math.min(63, f);
  };
  // Ordered by coarse then fine bin, so merged small bins join their nearest neighbour.
  idx.sort((a, b) => bin(a) - bin(b) || texture[a] - texture[b]);
  const strata: number[][] = [];
  let current: number[] = [];
  for (const i of idx) {
    if (current.length >= MIN_STRATUM && bin(i) !== bin(current[current.length - 1])) { strata.push(current); current = []; }
    current.push(i);
  }
  if (current.length) {
    if (current.length < MIN_STRATUM && strata.length) strata[strata.length - 1].push(...current);
    else strata.push(current);
  }
  const z = new Float32Array(nb);
  let compared = 0;
  for (const members of strata) {
    const values = members.map((i) => level[i]);
    const mid = median(values);
    // A stratum whose typical block has no measurable noise (codec-flattened, denoised) defines no
    // noise level: a block there with a high HH may hold fine texture as well as noise, and nothing
    // can tell them apart, so the stratum gives no evidence either way.
    if (mid < Math.log(REFERENCE_OVER_FLOOR * floor)) continue;
    // Too few blocks to be a reference: a deviating region as large as MIN_REGION_BLOCKS would then
    // be half the group and move its median and spread, and the median/MAD of a dozen blocks is
    // itself uncertain by about half (relative error of the MAD ≈ 1.65/√n). No evidence either way.
    if (members.length < MIN_REFERENCE_BLOCKS) continue;
    compared += members.length;
    const spread = Math.max(MIN_LOG_SPREAD, 1.4826 * median(values.map((v) => Math.abs(v - mid))));
    for (const i of members) z[i] = (level[i] - mid) / spread;
  }
  return { z, compared, measurable: idx.length };
}

/** 3×3 neighbourhood mean of z over usable blocks: the deviation of a region, not of one block. */
function regionMean(z: Float32Array, usable: Uint8Array, blocksX: number, blocksY: number): Float32Array {
  const out = new Float32Array(blocksX * blocksY);
  for (let by = 0; by < blocksY; by++) for (let bx = 0; bx < blocksX; bx++) {
    const i = by * blocksX + bx;
    if (!usable[i]) continue;
    let sum = 0, count = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const x = bx + dx, y = by + dy;
      if (x < 0 || y < 0 || x >= blocksX || y >= blocksY || !usable[y * blocksX + x]) continue;
      sum += z[y * blocksX + x]; count++;
    }
    out[i] = sum / count;
  }
  return out;
}

/**
 * Local noise-level consistency (after Mahdian & Saic 2009, "Using noise inconsistencies for blind
 * image forensics"): per 32×32 block the noise σ is the median |HH| of a one-level Haar transform
 * divided by 0.6745 (Donoho's robust estimator; the diagonal band holds little of the horizontal
 * and vertical structure that dominates scenes). Two things in real photographs also change the
 * measured σ without any manipulation, and are taken out before blocks are compared:
 * - texture leaks into HH, so a block is compared only with blocks of similar texture: coarse
 *   texture is the median gradient between 4×4-pixel means, fine texture the σ of the horizontal/
 *   vertical detail bands beyond HH's; both less what the block's own noise explains, so that
 *   added noise does not move a block out of the group it is to be compared with;
 * - codecs (JPEG, WebP/VP8) quantise the noise in smooth areas away, and clipped highlights and
 *   shadows have none: σ is floored at NOISE_FLOOR, mostly clipped blocks are skipped, and a texture
 *   stratum whose typical σ is under twice the floor gives no evidence (fine texture and noise
 *   cannot be told apart against a noiseless reference).
 * Splices and locally generated or inpainted regions are contiguous, so the per-block deviation
 * (robust z within its stratum) is averaged over each block's 3×3 neighbourhood before the
 * statistic — the |smoothed z| that the top 2% of blocks reach, never fewer than one 3×3-block
 * region — is taken; isolated odd blocks do not count.
 */
export function noiseConsistency(gray: Float32Array, width: number, height: number) {
  const blocksX = Math.floor(width / BLOCK), blocksY = Math.floor(height / BLOCK);
  const nb = blocksX * blocksY;
  const blocks = measureBlocks(gray, width, blocksX, blocksY, BLOCK, NOISE_FLOOR);
  const { z, compared, measurable } = stratifiedZ(blocks, nb, NOISE_FLOOR);
  const deviation = regionMean(z, blocks.usable, blocksX, blocksY);
  const smoothed: number[] = [], lowered: number[] = [];
  for (let i = 0; i < nb; i++) {
    if (!blocks.usable[i]) continue;
    smoothed.push(Math.abs(deviation[i]));
    lowered.push(Math.max(0, -deviation[i]));
  }
  smoothed.sort((a, b) => a - b);
  lowered.sort((a, b) => a - b);
  // The statistic is the deviation that the top 2% of blocks reach, but never fewer blocks than one
  // MIN_REGION_BLOCKS region: in a small image 2% is 3–4 blocks, and a few blocks of fine scene
  // detail (a field, fur, stonework) read as "noisier" then decide alone. A splice is a region, so a
  // region's worth of blocks must deviate before the image is said to be inconsistent.
  const support = Math.max(smoothed.length - Math.floor(smoothed.length * 0.98), MIN_REGION_BLOCKS);
  // Abstain (no evidence, not "consistent") when no texture group could serve as a reference.
  let abstain: string | null = null;
  if (compared === 0) {
    abstain = measurable < MIN_REFERENCE_BLOCKS
      ? `only ${measurable} measurable ${BLOCK}×${BLOCK} blocks: the image is too small or too clipped to compare noise levels`
      : `no texture group with measurable noise and at least ${MIN_REFERENCE_BLOCKS} blocks to compare with`;
  }
  const tail = (sorted: number[]) => (abstain || sorted.length < support ? 0 : sorted[sorted.length - support]);
  return { blocksX, blocksY, deviation, noiseInconsistency: tail(smoothed), noiseLowered: tail(lowered), measurable, compared, abstain };
}

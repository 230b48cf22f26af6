/**
 * Detector for the DWT-DCT invisible watermark that the Stable Diffusion reference sampling
 * scripts embed, written from the scheme's public description:
 *
 *   1. convert RGB to YUV (BT.601, chroma offset 128) and crop each plane to a multiple of 4;
 *   2. one level of a 2-D Haar wavelet transform; keep the low-low band;
 *   3. cut that band into 4×4 blocks, in row-major order; block n carries payload bit n mod L;
 *   4. 4×4 orthonormal DCT of each block; the largest-magnitude non-DC coefficient c carries the
 *      bit: |c| is moved to (floor(|c|/s) + 0.25 + 0.5·bit)·s with step s = 36 (U and V planes only),
 *      so reading is: bit = 1 when (|c| mod s) > s/2.
 *
 * Reading averages every block's vote per payload bit over both chroma planes. The known
 * payloads are compared with the votes; a match needs ≥ 90% bit agreement, which chance reaches
 * with probability < 1e-7 even for the shortest (32-bit) payload. The mark does not survive
 * resizing, cropping off the 4-pixel grid, or strong JPEG; its absence proves nothing.
 */

export interface KnownPayload {
  name: string;
  bits: number[];
}

function bytesToBits(text: string): number[] {
  const bits: number[] = [];
  for (const byte of Buffer.from(text, 'utf8')) for (let k = 7; k >= 0; k--) bits.push((byte >> k) & 1);
  return bits;
}

function integerToBits(value: bigint, length: number): number[] {
  const bits: number[] = [];
  for (let k = length - 1; k >= 0; k--) bits.push(Number((value >> BigInt(k)) & 1n));
  return bits;
}

/** Payloads published in the Stable Diffusion reference repositories. */
export const KNOWN_PAYLOADS: KnownPayload[] = [
  { name: 'Stable Diffusion v1 scripts ("StableDiffusionV1")', bits: bytesToBits('StableDiffusionV1') },
  { name: 'Stable Diffusion v2 scripts ("SDV2")', bits: bytesToBits('SDV2') },
  { name: 'Stable Diffusion XL scripts (48-bit message)', bits: integerToBits(0b101100111110110010010000011110111011000110011110n, 48) },
];

const STEP = 36;
const BLOCK = 4;
const MIN_REPEATS = 4;
const MATCH_ACCURACY = 0.9;

// Orthonormal 4-point DCT-II basis: C[k][n].
const DCT4: number[][] = [0, 1, 2, 3].map((k) => [0, 1, 2, 3].map((n) => (k === 0 ? Math.sqrt(1 / 4) : Math.sqrt(2 / 4)) * Math.cos(((2 * n + 1) * k * Math.PI) / 8)));

function dct4x4(block: Float64Array, out: Float64Array): void {
  const tmp = new Float64Array(16);
  for (let k = 0; k < 4; k++) for (let c = 0; c < 4; c++) {
    let s = 0;
    for (let n = 0; n < 4; n++) s += DCT4[k][n] * block[n * 4 + c];
    tmp[k * 4 + c] = s;
  }
  for (let r = 0; r < 4; r++) for (let k = 0; k < 4; k++) {
    let s = 0;
    for (let n = 0; n < 4; n++) s += tmp[r * 4 + n] * DCT4[k][n];
    out[r * 4 + k] = s;
  }
}

function idct4x4(coef: Float64Array, out: Float64Array): void {
  const tmp = new Float64Array(16);
  for (let n = 0; n < 4; n++) for (let c = 0; c < 4; c++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += DCT4[k][n] * coef[k * 4 + c];
    tmp[n * 4 + c] = s;
  }
  for (let r = 0; r < 4; r++) for (let n = 0; n < 4; n++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += tmp[r * 4 + k] * DCT4[k][n];
    out[r * 4 + n] = s;
  }
}

/** Index 1..15 of the largest-magnitude AC coefficient. */
function strongestAc(coef: Float64Array): number {
  let best = 1;
  let bestAbs = -1;
  for (let i = 1; i < 16; i++) {
    const a = Math.abs(coef[i]);
    if (a > bestAbs) { bestAbs = a; best = i; }
  }
  return best;
}

interface Planes { u: Float32Array; v: Float32Array; rows: number; cols: number }

/** Chroma planes of the image cropped to a multiple of 4 (rows × cols). */
function chromaPlanes(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number): Planes {
  const rows = Math.floor(height / 4) * 4;
  const cols = Math.floor(width / 4) * 4;
  const u = new Float32Array(rows * cols);
  const v = new Float32Array(rows * cols);
  for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) {
    const p = (y * width + x) * channels;
    const r = rgb[p], g = rgb[p + 1], b = rgb[p + 2];
    const luma = 0.299 * r + 0.587 * g + 0.114 * b;
    u[y * cols + x] = (b - luma) * 0.492 + 128;
    v[y * cols + x] = (r - luma) * 0.877 + 128;
  }
  return { u, v, rows, cols };
}

/** Low-low band of a one-level orthonormal Haar transform (plus the detail bands for inversion). */
function haarForward(plane: Float32Array, rows: number, cols: number) {
  const h = rows / 2, w = cols / 2;
  const ll = new Float32Array(h * w), lh = new Float32Array(h * w), hl = new Float32Array(h * w), hh = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const a = plane[2 * y * cols + 2 * x], b = plane[2 * y * cols + 2 * x + 1];
    const c = plane[(2 * y + 1) * cols + 2 * x], d = plane[(2 * y + 1) * cols + 2 * x + 1];
    const i = y * w + x;
    ll[i] = (a + b + c + d) / 2;
    lh[i] = (a + b - c - d) / 2;
    hl[i] = (a - b + c - d) / 2;
    hh[i] = (a - b - c + d) / 2;
  }
  return { ll, lh, hl, hh, h, w };
}

function haarInverse(bands: ReturnType<typeof haarForward>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const { ll, lh, hl, hh, h, w } = bands;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = y * w + x;
    out[2 * y * cols + 2 * x] = (ll[i] + lh[i] + hl[i] + hh[i]) / 2;
    out[2 * y * cols + 2 * x + 1] = (ll[i] + lh[i] - hl[i] - hh[i]) / 2;
    out[(2 * y + 1) * cols + 2 * x] = (ll[i] - lh[i] + hl[i] - hh[i]) / 2;
    out[(2 * y + 1) * cols + 2 * x + 1] = (ll[i] - lh[i] - hl[i] + hh[i]) / 2;
  }
  return out;
}

/** Per-block bit readings of both chroma planes (row-major block order), or null when too small. */
export function readBlockBits(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number): Uint8Array[] | null {
  const planes = chromaPlanes(rgb, width, height, channels);
  if (planes.rows < 8 || planes.cols < 8) return null;
  const block = new Float64Array(16), coef = new Float64Array(16);
  const out: Uint8Array[] = [];
  for (const plane of [planes.u, planes.v]) {
    const band = haarForward(plane, planes.rows, planes.cols);
    const bRows = Math.floor(band.h / BLOCK), bCols = Math.floor(band.w / BLOCK);
    const bits = new Uint8Array(bRows * bCols);
    let n = 0;
    for (let by = 0; by < bRows; by++) for (let bx = 0; bx < bCols; bx++, n++) {
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) block[r * 4 + c] = band.ll[(by * 4 + r) * band.w + bx * 4 + c];
      dct4x4(block, coef);
      bits[n] = Math.abs(coef[strongestAc(coef)]) % STEP > STEP / 2 ? 1 : 0;
    }
    out.push(bits);
  }
  return out;
}

/** Mean vote (0..1) for each of `length` payload positions, over both chroma planes. */
export function votesFromBlockBits(planes: Uint8Array[], length: number): Float64Array | null {
  if (planes.some((bits) => bits.length < length * MIN_REPEATS)) return null;
  const sums = new Float64Array(length);
  const counts = new Float64Array(length);
  for (const bits of planes) for (let n = 0; n < bits.length; n++) { sums[n % length] += bits[n]; counts[n % length] += 1; }
  for (let i = 0; i < length; i++) sums[i] = counts[i] > 0 ? sums[i] / counts[i] : 0.5;
  return sums;
}

export interface WatermarkMatch {
  payload: string;
  bitAccuracy: number;
  bits: number;
}

/** Best known-payload match, or null when none reaches the match accuracy (or the image is too small). */
export function detectDwtDctWatermark(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number): { match: WatermarkMatch | null; best: WatermarkMatch | null } {
  let best: WatermarkMatch | null = null;
  const blockBits = readBlockBits(rgb, width, height, channels);
  if (!blockBits) return { match: null, best: null };
  for (const payload of KNOWN_PAYLOADS) {
    const votes = votesFromBlockBits(blockBits, payload.bits.length);
    if (!votes) continue;
    let agree = 0;
    let ones = 0;
    for (let i = 0; i < payload.bits.length; i++) {
      const bit = votes[i] > 0.5 ? 1 : 0;
      ones += bit;
      if (bit === payload.bits[i]) agree++;
    }
    // A plane of near-constant votes (flat image) says nothing; require both bit values to occur.
    if (ones === 0 || ones === payload.bits.length) continue;
    const accuracy = agree / payload.bits.length;
    if (!best || accuracy > best.bitAccuracy) best = { payload: payload.name, bitAccuracy: accuracy, bits: payload.bits.length };
  }
  return { match: best && best.bitAccuracy >= MATCH_ACCURACY ? best : null, best };
}

/**
 * Embeds a payload with the same scheme (used by tests and the evaluation to make positive
 * controls; discern never marks user media with it). Returns new RGB bytes (3 channels).
 */
export function embedDwtDctWatermark(rgb: Uint8Array, width: number, height: number, channels: number, bits: number[]): Uint8Array {
  const planes = chromaPlanes(rgb, width, height, channels);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, p = 0; i < width * height; i++, p += channels) { out[i * 3] = rgb[p]; out[i * 3 + 1] = rgb[p + 1]; out[i * 3 + 2] = rgb[p + 2]; }
  const block = new Float64Array(16), coef = new Float64Array(16);
  const marked: Float32Array[] = [];
  for (const plane of [planes.u, planes.v]) {
    const band = haarForward(plane, planes.rows, planes.cols);
    const bRows = Math.floor(band.h / BLOCK), bCols = Math.floor(band.w / BLOCK);
    let n = 0;
    for (let by = 0; by < bRows; by++) for (let bx = 0; bx < bCols; bx++, n++) {
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) block[r * 4 + c] = band.ll[(by * 4 + r) * band.w + bx * 4 + c];
      dct4x4(block, coef);
      const k = strongestAc(coef);
      const magnitude = Math.abs(coef[k]);
      const moved = (Math.floor(magnitude / STEP) + 0.25 + 0.5 * bits[n % bits.length]) * STEP;
      coef[k] = coef[k] < 0 ? -moved : moved;
      idct4x4(coef, block);
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) band.ll[(by * 4 + r) * band.w + bx * 4 + c] = block[r * 4 + c];
    }
    marked.push(haarInverse(band, planes.rows, planes.cols));
  }
  const [u, v] = marked;
  for (let y = 0; y < planes.rows; y++) for (let x = 0; x < planes.cols; x++) {
    const o = (y * width + x) * 3;
    const r0 = out[o], g0 = out[o + 1], b0 = out[o + 2];
    const luma = 0.299 * r0 + 0.587 * g0 + 0.114 * b0;
    const cb = (u[y * planes.cols + x] - 128) / 0.492;
    const cr = (v[y * planes.cols + x] - 128) / 0.877;
    const r = luma + cr;
    const b = luma + cb;
    const g = (luma - 0.299 * r - 0.114 * b) / 0.587;
    out[o] = Math.max(0, Math.min(255, Math.round(r)));
    out[o + 1] = Math.max(0, Math.min(255, Math.round(g)));
    out[o + 2] = Math.max(0, Math.min(255, Math.round(b)));
  }
  return out;
}

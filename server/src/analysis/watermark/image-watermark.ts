/**
 * Image watermark: a periodic, self-synchronising spread-spectrum pattern on luma, designed for
 * this project.
 *
 * A 32 × 32-chip tile holds a known synchronisation pattern plus the payload code, superposed:
 *   chip(c) = 0.55·S(c) + 0.835·PN(c)·(1 − 2·codebit(bit(c)))
 * with S, PN keyed ±1 sequences and a keyed chip→bit interleaver (1024 chips, 172 coded bits,
 * 5–6 chips per bit per tile). Chips are `chip` pixels wide (≈ long side / 320, at least 3),
 * rendered with bilinear interpolation (a smooth mid-frequency field that JPEG keeps), tiled over
 * the whole image, scaled by a local-activity mask (more in texture, less in flat areas) and
 * normalised to an exact RMS for the requested strength, then added equally to R, G and B so
 * only luma changes (chroma subsampling cannot touch it).
 *
 * Payload: 64 bits = first 8 bytes of SHA-256(custom_message) + CRC-16 → rate-1/2 K=7
 * convolutional code (172 coded bits).
 *
 * Detection never needs the original: the luma is reduced to ≤ 1600 px, high-passed and
 * clipped; the tile period P′ (which encodes any resize) comes from the comb-filtered row and
 * column autocorrelations; the image is folded modulo P′ into 64 × 64 phase bins (which averages
 * the host away and makes cropping irrelevant); the fold is cross-correlated with the rendered
 * sync template (FFT) to find the tile origin; the chips are read, the sync contribution is
 * removed, and the soft bits are Viterbi-decoded. A mark is reported when the CRC matches and the
 * sync peak z-score passes IMAGE_SYNC_Z_THRESHOLD.
 */
import sharp from 'sharp';
import { Fft, normalTail, seededRandom, shuffle } from './dsp.js';
import { bitsToBytes, bytesToBits, bitsToNumber, convEncode, crc16, numberToBits, payloadFromMessage, toHex, viterbiDecode } from './ecc.js';

export const IMAGE_PAYLOAD_BITS = 64;
const CRC_BITS = 16;
const INFO_BITS = IMAGE_PAYLOAD_BITS + CRC_BITS;
const CODED_BITS = 2 * (INFO_BITS + 6); // 172
const T = 32; // chips per tile side
const CHIPS = T * T;
const BINS = 64; // phase bins per period side when folding (2 per chip)
const SYNC_AMP = 0.55;
const DATA_AMP = 0.835;
const KEY = 'discern/image-watermark/v1';
export const DEFAULT_IMAGE_STRENGTH = 0.2;
/** Decision threshold on the sync peak z-score (with a matching CRC). */
export const IMAGE_SYNC_Z_THRESHOLD = 5.5;
const ANALYSIS_MAX_SIDE = 1600;
const AC_WINDOW = 1024;

interface ImageLayout { sync: Float64Array; pn: Float64Array; bitOf: Int16Array }
let layoutCache: ImageLayout | null = null;
function layout(): ImageLayout {
  if (layoutCache) return layoutCache;
  const rnd = seededRandom(KEY + '/layout');
  const sync = new Float64Array(CHIPS);
  const pn = new Float64Array(CHIPS);
  for (let c = 0; c < CHIPS; c++) { sync[c] = rnd() < 0.5 ? -1 : 1; pn[c] = rnd() < 0.5 ? -1 : 1; }
  const order = shuffle(Array.from({ length: CHIPS }, (_, i) => i), rnd);
  const bitOf = new Int16Array(CHIPS);
  order.forEach((chip, i) => { bitOf[chip] = i % CODED_BITS; });
  layoutCache = { sync, pn, bitOf };
  return layoutCache;
}

/** Target PSNR for a strength in [0, 1]: 45 dB at 0, 41 dB at the default 0.2, 25 dB at 1. */
export function targetPsnr(strength: number): number {
  const s = Math.min(1, Math.max(0, strength));
  return 45 - 20 * s;
}

export function imagePayloadFromMessage(message?: string | null): Uint8Array {
  return payloadFromMessage(message, IMAGE_PAYLOAD_BITS / 8);
}

function codeword(payload: Uint8Array): Uint8Array {
  if (payload.length * 8 !== IMAGE_PAYLOAD_BITS) throw new Error(`image payload must be ${IMAGE_PAYLOAD_BITS / 8} bytes`);
  const bits = bytesToBits(payload);
  const info = new Uint8Array(INFO_BITS);
  info.set(bits);
  info.set(numberToBits(crc16(bits), CRC_BITS), IMAGE_PAYLOAD_BITS);
  return convEncode(info);
}

function chipValues(payload: Uint8Array): Float64Array {
  const lay = layout();
  const code = codeword(payload);
  const v = new Float64Array(CHIPS);
  for (let c = 0; c < CHIPS; c++) v[c] = SYNC_AMP * lay.sync[c]! + DATA_AMP * lay.pn[c]! * (1 - 2 * code[lay.bitOf[c]!]!);
  return v;
}

/** Bilinear chip field at continuous chip coordinates (cyclic in T). */
function fieldAt(chips: Float64Array, u: number, v: number): number {
  const uu = u - 0.5;
  const vv = v - 0.5;
  const i0 = Math.floor(uu);
  const j0 = Math.floor(vv);
  const fu = uu - i0;
  const fv = vv - j0;
  const i = ((i0 % T) + T) % T;
  const j = ((j0 % T) + T) % T;
  const i1 = (i + 1) % T;
  const j1 = (j + 1) % T;
  const a = chips[j * T + i]! * (1 - fu) + chips[j * T + i1]! * fu;
  const b = chips[j1 * T + i]! * (1 - fu) + chips[j1 * T + i1]! * fu;
  return a * (1 - fv) + b * fv;
}

export function chipSizeFor(width: number, height: number): number {
  return Math.max(3, Math.min(16, Math.round(Math.max(width, height) / 320)));
}

/** Video frames go through 4:2:0 H.264 at moderate CRF: coarser chips survive it better. */
export function videoChipSizeFor(width: number, height: number): number {
  return Math.max(4, Math.min(16, Math.round(Math.max(width, height) / 240)));
}

export interface ImageEmbedResult { pixels: Buffer; psnr: number; chipSize: number; periodPx: number; payloadHex: string }

/**
 * Marks raw interleaved 8-bit pixels (1–4 channels; alpha untouched) and returns a new buffer.
 */
export function embedImageWatermarkPixels(pixels: Uint8Array, width: number, height: number, channels: number, payload: Uint8Array, strength = DEFAULT_IMAGE_STRENGTH, chipSize?: number): ImageEmbedResult {
  const n = width * height;
  if (pixels.length < n * channels) throw new Error('pixel buffer too small');
  const colour = channels >= 3;
  const luma = new Float32Array(n);
  for (let p = 0, o = 0; p < n; p++, o += channels) {
    luma[p] = colour ? 0.299 * pixels[o]! + 0.587 * pixels[o + 1]! + 0.114 * pixels[o + 2]! : pixels[o]!;
  }
  const cs = chipSize ?? chipSizeFor(width, height);
  const period = T * cs;
  // One rendered period of the chip field, indexed by (x mod period, y mod period).
  const chips = chipValues(payload);
  const tile = new Float32Array(period * period);
  for (let y = 0; y < period; y++) for (let x = 0; x < period; x++) tile[y * period + x] = fieldAt(chips, (x + 0.5) / cs, (y + 0.5) / cs);
  // Local activity mask from a box-filtered absolute Laplacian-like residual.
  const mask = activityMask(luma, width, height, cs);
  const mark = new Float32Array(n);
  let sumSq = 0;
  for (let y = 0; y < height; y++) {
    const row = (y % period) * period;
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const m = tile[row + (x % period)]! * mask[p]!;
      mark[p] = m;
      sumSq += m * m;
    }
  }
  const targetRms = 255 / 10 ** (targetPsnr(strength) / 20);
  const scale = sumSq > 0 ? targetRms / Math.sqrt(sumSq / n) : 0;
  const out = Buffer.from(pixels.subarray(0, n * channels));
  let errSq = 0;
  const colourChannels = colour ? 3 : 1;
  const W = [0.299, 0.587, 0.114];
  for (let p = 0, o = 0; p < n; p++, o += channels) {
    const d = mark[p]! * scale;
    if (!colour) {
      const before = pixels[o]!;
      const after = Math.max(0, Math.min(255, Math.round(before + d)));
      out[o] = after;
      errSq += (after - before) * (after - before);
      continue;
    }
    // Equal change on R, G, B keeps chroma; where a channel clips (saturated colours), the
    // missing luma goes to the channels that still have headroom.
    let achieved = 0;
    let freeWeight = 0;
    const vals = [0, 0, 0];
    for (let c = 0; c < 3; c++) {
      const before = pixels[o + c]!;
      const v = Math.max(0, Math.min(255, before + d));
      vals[c] = v;
      achieved += W[c]! * (v - before);
      if (v > 0 && v < 255) freeWeight += W[c]!;
    }
    const missing = d - achieved;
    for (let c = 0; c < 3; c++) {
      const before = pixels[o + c]!;
      let v = vals[c]!;
      if (Math.abs(missing) > 0.25 && freeWeight > 0.05 && v > 0 && v < 255) v = Math.max(0, Math.min(255, v + missing / freeWeight));
      const after = Math.round(v);
      out[o + c] = after;
      errSq += (after - before) * (after - before);
    }
  }
  const mse = errSq / (n * colourChannels);
  return { pixels: out, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse), chipSize: cs, periodPx: period, payloadHex: toHex(payload) };
}

function activityMask(luma: Float32Array, width: number, height: number, cs: number): Float32Array {
  const n = width * height;
  const resid = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const l = x > 0 ? luma[p - 1]! : luma[p]!;
      const r = x < width - 1 ? luma[p + 1]! : luma[p]!;
      const u = y > 0 ? luma[p - width]! : luma[p]!;
      const d = y < height - 1 ? luma[p + width]! : luma[p]!;
      resid[p] = Math.abs(4 * luma[p]! - l - r - u - d);
    }
  }
  const act = boxBlur(resid, width, height, cs);
  let mean = 0;
  for (let p = 0; p < n; p++) mean += act[p]!;
  mean /= n;
  const mask = new Float32Array(n);
  const ref = mean + 2; // flat images: mask ≈ 1 everywhere
  for (let p = 0; p < n; p++) mask[p] = Math.min(2.0, Math.max(0.4, Math.sqrt((act[p]! + 2) / ref)));
  return mask;
}

/** Box blur with radius r (separable, integral sums, edge-clamped windows). */
function boxBlur(src: Float32Array, width: number, height: number, r: number): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const prefix = new Float64Array(width + 1);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let acc = 0;
    for (let x = 0; x < width; x++) { acc += src[base + x]!; prefix[x + 1] = acc; }
    for (let x = 0; x < width; x++) {
      const a = Math.max(0, x - r);
      const b = Math.min(width, x + r + 1);
      tmp[base + x] = (prefix[b]! - prefix[a]!) / (b - a);
    }
  }
  const col = new Float64Array(height + 1);
  for (let x = 0; x < width; x++) {
    let acc = 0;
    for (let y = 0; y < height; y++) { acc += tmp[y * width + x]!; col[y + 1] = acc; }
    for (let y = 0; y < height; y++) {
      const a = Math.max(0, y - r);
      const b = Math.min(height, y + r + 1);
      out[y * width + x] = (col[b]! - col[a]!) / (b - a);
    }
  }
  return out;
}

export interface ImageDetection {
  has_watermark: boolean;
  /** 0.5 at the decision threshold; logistic in the sync z-score, capped below 0.5 without a CRC match. */
  confidence: number;
  payload_hex: string | null;
  /** Decoded payload bits, reported even when the CRC fails (for bit-accuracy measurements). */
  payload_bits: string | null;
  crc_ok: boolean;
  /** Coded-bit disagreements between the soft chips and the re-encoded decoded payload. */
  bit_errors: number | null;
  sync_z: number;
  p_value: number;
  /** Detected tile period in pixels of the input (32 × chip size × any resize factor). */
  period_px: number | null;
  message_match?: boolean;
}

/** Detects the mark in raw interleaved 8-bit pixels. */
export function detectImageWatermarkPixels(pixels: Uint8Array, width: number, height: number, channels: number, options: { expectedPayload?: Uint8Array } = {}): ImageDetection {
  const lay = layout();
  // Luma at analysis resolution (integer box downscale keeps the chip field intact).
  const f = Math.max(1, Math.ceil(Math.max(width, height) / ANALYSIS_MAX_SIDE));
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const none: ImageDetection = { has_watermark: false, confidence: 0, payload_hex: null, payload_bits: null, crc_ok: false, bit_errors: null, sync_z: 0, p_value: 1, period_px: null };
  if (w < 48 || h < 48) return none;
  const luma = new Float32Array(w * h);
  const colour = channels >= 3;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let dy = 0; dy < f; dy++) {
        let o = ((y * f + dy) * width + x * f) * channels;
        for (let dx = 0; dx < f; dx++, o += channels) acc += colour ? 0.299 * pixels[o]! + 0.587 * pixels[o + 1]! + 0.114 * pixels[o + 2]! : pixels[o]!;
      }
      luma[y * w + x] = acc / (f * f);
    }
  }
  const white = whiten(luma, w, h);
  const candidates = periodCandidates(white, w, h);
  const template = syncTemplate();
  let best: { z: number; period: number; dx: number; dy: number; fold: Float64Array } | null = null;
  let tried = 0;
  // Screen every candidate on a quarter of the pixels, then refine the two best at full density.
  const screened: Array<{ period: number; z: number }> = [];
  for (const cand of candidates) {
    for (const k of [-0.005, 0, 0.005]) {
      const period = cand * (1 + k);
      const r = correlateSync(foldImage(white, w, h, period, 2), template);
      tried += BINS * BINS;
      screened.push({ period, z: r.z });
    }
  }
  screened.sort((a, b) => b.z - a.z);
  const refineAround: number[] = [];
  for (const sc of screened) {
    if (refineAround.every((p) => Math.abs(p - sc.period) / p > 0.02)) refineAround.push(sc.period);
    if (refineAround.length >= 2) break;
  }
  for (const centre of refineAround) {
    for (const k of [-0.004, -0.002, 0, 0.002, 0.004]) {
      const period = centre * (1 + k);
      const fold = foldImage(white, w, h, period, 1);
      const r = correlateSync(fold, template);
      tried += BINS * BINS;
      if (!best || r.z > best.z) best = { z: r.z, period, dx: r.dx, dy: r.dy, fold };
    }
  }
  if (!best) return none;
  // Read chips: chip c centre sits between bins 2c and 2c+1 (shifted by the tile origin).
  const chipVal = new Float64Array(CHIPS);
  for (let j = 0; j < T; j++) {
    for (let i = 0; i < T; i++) {
      let acc = 0;
      for (let b = 0; b < 2; b++) for (let a = 0; a < 2; a++) {
        const bx = (2 * i + a + best.dx) % BINS;
        const by = (2 * j + b + best.dy) % BINS;
        acc += best.fold[by * BINS + bx]!;
      }
      chipVal[j * T + i] = acc / 4;
    }
  }
  let gs = 0;
  for (let c = 0; c < CHIPS; c++) gs += chipVal[c]! * lay.sync[c]!;
  const g = gs / CHIPS;
  const soft = new Float64Array(CODED_BITS);
  for (let c = 0; c < CHIPS; c++) soft[lay.bitOf[c]!] = soft[lay.bitOf[c]!]! + lay.pn[c]! * (chipVal[c]! - g * lay.sync[c]!);
  const info = viterbiDecode(soft, INFO_BITS);
  const payloadBits = info.subarray(0, IMAGE_PAYLOAD_BITS);
  const crcOk = crc16(payloadBits) === bitsToNumber(info.subarray(IMAGE_PAYLOAD_BITS));
  const re = convEncode(info);
  let errors = 0;
  for (let k = 0; k < CODED_BITS; k++) if ((soft[k]! > 0 ? 0 : 1) !== re[k]) errors++;
  const payload = bitsToBytes(payloadBits);
  let detected = crcOk && best.z >= IMAGE_SYNC_Z_THRESHOLD;
  const result: ImageDetection = {
    has_watermark: detected,
    confidence: 0,
    payload_hex: crcOk ? toHex(payload) : null,
    payload_bits: Array.from(payloadBits).join(''),
    crc_ok: crcOk,
    bit_errors: errors,
    sync_z: Math.round(best.z * 1000) / 1000,
    p_value: Math.min(1, normalTail(best.z) * tried),
    period_px: Math.round(best.period * f * 100) / 100,
  };
  if (options.expectedPayload) {
    const match = crcOk && Buffer.compare(Buffer.from(options.expectedPayload), Buffer.from(payload)) === 0;
    result.message_match = match;
    detected = detected && match;
    result.has_watermark = detected;
  }
  const c = 1 / (1 + Math.exp(-(best.z - IMAGE_SYNC_Z_THRESHOLD) * 1.2));
  result.confidence = Math.round((crcOk ? c : Math.min(c, 0.49) * 0.5) * 10000) / 10000;
  return result;
}

/** High-pass (minus a 9 × 9 box mean) and robust clipping, so edges cannot dominate the fold. */
function whiten(luma: Float32Array, w: number, h: number): Float32Array {
  const blur = boxBlur(luma, w, h, 4);
  const out = new Float32Array(luma.length);
  let absSum = 0;
  for (let p = 0; p < luma.length; p++) { out[p] = luma[p]! - blur[p]!; absSum += Math.abs(out[p]!); }
  const clip = 2.5 * (absSum / luma.length) + 1e-6;
  for (let p = 0; p < luma.length; p++) out[p] = Math.max(-clip, Math.min(clip, out[p]!));
  return out;
}

/**
 * Tile-period candidates from row and column autocorrelations (rows summed in groups of 8 first:
 * that keeps the x-periodic mark and averages the host). A comb over the first multiples of each
 * lag, minus a local baseline, scores how periodic the image is at that lag.
 */
function periodCandidates(white: Float32Array, w: number, h: number): number[] {
  const acX = axisAutocorr(white, w, h, true);
  const acY = axisAutocorr(white, w, h, false);
  const maxLagX = acX.length;
  const maxLagY = acY.length;
  const minLag = 40;
  const maxLag = Math.min(Math.floor(Math.max(maxLagX, maxLagY) / 2), 520);
  const scores: Array<{ lag: number; s: number }> = [];
  const hp = (ac: Float64Array, x: number): number => {
    if (x + 6 >= ac.length) return 0;
    const v = interp(ac, x);
    let base = 0;
    for (let d = 3; d <= 6; d++) base += interp(ac, x - d) + interp(ac, x + d);
    return v - base / 8;
  };
  for (let lag = minLag; lag <= maxLag; lag += 0.25) {
    let s = 0;
    let terms = 0;
    for (let m = 1; m <= 3; m++) {
      const L = lag * m;
      if (L + 6 < maxLagX) { s += hp(acX, L); terms++; }
      if (L + 6 < maxLagY) { s += hp(acY, L); terms++; }
    }
    if (terms > 0) scores.push({ lag, s: s / terms });
  }
  // Local maxima, best first; keep a few distinct candidates.
  const peaks: Array<{ lag: number; s: number }> = [];
  for (let i = 1; i + 1 < scores.length; i++) if (scores[i]!.s > scores[i - 1]!.s && scores[i]!.s >= scores[i + 1]!.s) peaks.push(scores[i]!);
  peaks.sort((a, b) => b.s - a.s);
  const out: number[] = [];
  for (const p of peaks) {
    if (out.every((q) => Math.abs(q - p.lag) / q > 0.03)) out.push(p.lag);
    if (out.length >= 12) break;
  }
  return out;
}

function interp(a: Float64Array, x: number): number {
  if (x < 0) return a[0]!;
  const i = Math.floor(x);
  if (i + 1 >= a.length) return a[a.length - 1]!;
  const f = x - i;
  return a[i]! * (1 - f) + a[i + 1]! * f;
}

/** Normalised autocorrelation along x (rows) or y (columns) of a central window, lags 0…len/2. */
function axisAutocorr(img: Float32Array, w: number, h: number, alongX: boolean): Float64Array {
  const len = Math.min(alongX ? w : h, AC_WINDOW);
  const other = Math.min(alongX ? h : w, AC_WINDOW);
  const start = Math.floor(((alongX ? w : h) - len) / 2);
  const ostart = Math.floor(((alongX ? h : w) - other) / 2);
  let size = 1;
  while (size < 2 * len) size <<= 1;
  const fft = new Fft(size);
  const power = new Float64Array(size);
  const group = 8;
  const lines: Float64Array[] = [];
  for (let g0 = 0; g0 < other; g0 += group) {
    const line = new Float64Array(len);
    for (let k = g0; k < Math.min(other, g0 + group); k++) {
      for (let i = 0; i < len; i++) {
        const x = alongX ? start + i : ostart + k;
        const y = alongX ? ostart + k : start + i;
        line[i] = line[i]! + img[y * w + x]!;
      }
    }
    lines.push(line);
  }
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let l = 0; l < lines.length; l += 2) {
    re.fill(0); im.fill(0);
    re.set(lines[l]!);
    if (l + 1 < lines.length) im.set(lines[l + 1]!);
    fft.transform(re, im);
    for (let k = 0; k < size; k++) {
      const nk = (size - k) % size;
      const ar = (re[k]! + re[nk]!) / 2, ai = (im[k]! - im[nk]!) / 2;
      const br = (im[k]! + im[nk]!) / 2, bi = (re[nk]! - re[k]!) / 2;
      power[k] = power[k]! + ar * ar + ai * ai + br * br + bi * bi;
    }
  }
  re.set(power); im.fill(0);
  fft.transform(re, im, true);
  const maxLag = Math.floor(len / 2);
  const ac = new Float64Array(maxLag);
  const zero = Math.abs(re[0]!) || 1;
  // Unbiased: divide by the overlap length so distant lags are not shrunk.
  for (let L = 0; L < maxLag; L++) ac[L] = (re[L]! / zero) * (len / (len - L));
  return ac;
}

function foldImage(white: Float32Array, w: number, h: number, period: number, step: number): Float64Array {
  const fold = new Float64Array(BINS * BINS);
  const count = new Float64Array(BINS * BINS);
  const inv = BINS / period;
  const binX = new Int32Array(w);
  for (let x = 0; x < w; x++) { const ph = (x + 0.5) * inv; binX[x] = Math.floor(ph - Math.floor(ph / BINS) * BINS) % BINS; }
  for (let y = 0; y < h; y += step) {
    const ph = (y + 0.5) * inv;
    const by = Math.floor(ph - Math.floor(ph / BINS) * BINS) % BINS;
    const row = by * BINS;
    const base = y * w;
    for (let x = (y / step) & 1 ? 1 % step : 0; x < w; x += step) {
      const b = row + binX[x]!;
      fold[b] = fold[b]! + white[base + x]!;
      count[b] = count[b]! + 1;
    }
  }
  let mean = 0;
  for (let b = 0; b < fold.length; b++) { fold[b] = count[b]! > 0 ? fold[b]! / count[b]! : 0; mean += fold[b]!; }
  mean /= fold.length;
  for (let b = 0; b < fold.length; b++) fold[b] = fold[b]! - mean;
  return fold;
}

let templateCache: Float64Array | null = null;
/** The sync chip field sampled at the fold's bin centres (period = BINS bins). */
function syncTemplate(): Float64Array {
  if (templateCache) return templateCache;
  const sync = layout().sync;
  const t = new Float64Array(BINS * BINS);
  const perChip = BINS / T;
  for (let by = 0; by < BINS; by++) for (let bx = 0; bx < BINS; bx++) t[by * BINS + bx] = fieldAt(sync, (bx + 0.5) / perChip, (by + 0.5) / perChip);
  templateCache = t;
  return t;
}

/** Cyclic 2-D cross-correlation via FFT; returns the peak shift and its z-score. */
function correlateSync(fold: Float64Array, template: Float64Array): { z: number; dx: number; dy: number } {
  const fr = fft2(fold);
  const tr = fft2(template);
  const re = new Float64Array(BINS * BINS);
  const im = new Float64Array(BINS * BINS);
  for (let k = 0; k < re.length; k++) {
    // F · conj(T)
    re[k] = fr.re[k]! * tr.re[k]! + fr.im[k]! * tr.im[k]!;
    im[k] = fr.im[k]! * tr.re[k]! - fr.re[k]! * tr.im[k]!;
  }
  const corr = ifft2(re, im);
  let max = -Infinity;
  let arg = 0;
  let mean = 0;
  for (let k = 0; k < corr.length; k++) { mean += corr[k]!; if (corr[k]! > max) { max = corr[k]!; arg = k; } }
  mean /= corr.length;
  let v = 0;
  for (let k = 0; k < corr.length; k++) v += (corr[k]! - mean) ** 2;
  const sd = Math.sqrt(v / corr.length) || 1;
  return { z: (max - mean) / sd, dx: arg % BINS, dy: Math.floor(arg / BINS) };
}

const fft64 = new Fft(BINS);
function fft2(data: Float64Array): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(data);
  const im = new Float64Array(data.length);
  transform2(re, im, false);
  return { re, im };
}
function ifft2(reIn: Float64Array, imIn: Float64Array): Float64Array {
  const re = new Float64Array(reIn);
  const im = new Float64Array(imIn);
  transform2(re, im, true);
  return re;
}
function transform2(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const r = new Float64Array(BINS);
  const i = new Float64Array(BINS);
  for (let y = 0; y < BINS; y++) {
    for (let x = 0; x < BINS; x++) { r[x] = re[y * BINS + x]!; i[x] = im[y * BINS + x]!; }
    fft64.transform(r, i, inverse);
    for (let x = 0; x < BINS; x++) { re[y * BINS + x] = r[x]!; im[y * BINS + x] = i[x]!; }
  }
  for (let x = 0; x < BINS; x++) {
    for (let y = 0; y < BINS; y++) { r[y] = re[y * BINS + x]!; i[y] = im[y * BINS + x]!; }
    fft64.transform(r, i, inverse);
    for (let y = 0; y < BINS; y++) { re[y * BINS + x] = r[y]!; im[y * BINS + x] = i[y]!; }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoded-image helpers (sharp): keep the container, mark, re-encode at high quality.

export type ImageContainer = 'png' | 'jpeg' | 'webp' | 'tiff' | 'other';

export interface ImageApplyResult { buffer: Buffer; container: ImageContainer; width: number; height: number; psnr: number; payloadHex: string; chipSize: number }

export async function applyImageWatermark(input: Buffer, options: { strength?: number; message?: string | null; payload?: Uint8Array } = {}): Promise<ImageApplyResult> {
  const payload = options.payload ?? imagePayloadFromMessage(options.message);
  const img = sharp(input, { failOn: 'error' }).rotate(); // honour EXIF orientation before marking
  const meta = await sharp(input).metadata();
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  const marked = embedImageWatermarkPixels(data, info.width, info.height, info.channels, payload, options.strength ?? DEFAULT_IMAGE_STRENGTH);
  const container = containerOf(meta.format);
  const raw = sharp(marked.pixels, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } });
  let buffer: Buffer;
  if (container === 'jpeg') buffer = await raw.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
  else if (container === 'webp') buffer = await raw.webp({ quality: 95 }).toBuffer();
  else if (container === 'tiff') buffer = await raw.tiff().toBuffer();
  else buffer = await raw.png().toBuffer();
  return { buffer, container: container === 'other' ? 'png' : container, width: info.width, height: info.height, psnr: marked.psnr, payloadHex: marked.payloadHex, chipSize: marked.chipSize };
}

export async function detectImageWatermark(input: Buffer, options: { message?: string | null } = {}): Promise<ImageDetection> {
  const { data, info } = await sharp(input, { failOn: 'error' }).rotate().raw().toBuffer({ resolveWithObject: true });
  const expectedPayload = options.message != null ? imagePayloadFromMessage(options.message) : undefined;
  return detectImageWatermarkPixels(data, info.width, info.height, info.channels, { expectedPayload });
}

function containerOf(format: string | undefined): ImageContainer {
  if (format === 'png' || format === 'jpeg' || format === 'webp' || format === 'tiff') return format;
  return 'other';
}

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
 * scaled so the marked image has the PSNR the strength asks for (re-scaled after clipping), then
 * added equally to R, G and B so only luma changes (chroma subsampling cannot touch it).
 *
 * Payload: 64 bits = first 8 bytes of SHA-256(custom_message) + CRC-16 → rate-1/2 K=7
 * convolutional code (172 coded bits).
 *
 * Detection never needs the original: the luma is reduced to ≤ 1600 px, high-passed, divided by
 * the square of the local residual level (a matched weighting for the activity-masked mark) and
 * clipped. Tile-period candidates P′ (which encode any resize) come from the comb-filtered row
 * and column autocorrelations plus the periods the embedder itself would use at this size; each
 * is screened by folding the image modulo P′ into 64 × 64 phase bins (which averages the host away
 * and makes cropping irrelevant) and cross-correlating the fold with the rendered sync template
 * (FFT; the peak gives the tile origin). The best three are refined to 0.1 %, then per axis from
 * the drift of the tile origin between the two image halves (sub-bin peaks), and decoded at a few
 * nearby periods: chips are read, the sync contribution is removed, the soft bits are
 * Viterbi-decoded, and the first decode whose CRC matches with a sync peak z-score ≥
 * IMAGE_SYNC_Z_THRESHOLD is the answer (at most 9 CRC trials per image).
 */
import sharp from 'sharp';
import { PairedFft, gateLogistic, normalTail, seededRandom, shuffle } from './dsp.js';
import { bitsToBytes, bytesToBits, bitsToNumber, convEncode, crc16, numberToBits, payloadFromMessage, samePayload, toHex, viterbiDecode } from './ecc.js';

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
  const target = targetPsnr(strength);
  const targetRms = 255 / 10 ** (target / 20);
  let scale = sumSq > 0 ? targetRms / Math.sqrt(sumSq / n) : 0;
  const colourChannels = colour ? 3 : 1;
  const W = [0.299, 0.587, 0.114];
  const vals = [0, 0, 0];
  // Applies the mark at scale k; with stride > 1 only measures the PSNR on every stride-th pixel.
  const apply = (k: number, stride: number): { out: Buffer | null; psnr: number } => {
    const out = stride === 1 ? Buffer.from(pixels.subarray(0, n * channels)) : null;
    let errSq = 0;
    let used = 0;
    for (let p = 0; p < n; p += stride, used++) {
      const o = p * channels;
      const d = mark[p]! * k;
      if (!colour) {
        const before = pixels[o]!;
        const after = Math.max(0, Math.min(255, Math.round(before + d)));
        if (out) out[o] = after;
        errSq += (after - before) * (after - before);
        continue;
      }
      // Equal change on R, G, B keeps chroma; where a channel clips (saturated colours), the
      // missing luma goes to the channels that still have headroom, at most 2·|d| more each
      // (a lone free blue channel would otherwise take ~9× the change).
      const r0 = pixels[o]!, g0 = pixels[o + 1]!, b0 = pixels[o + 2]!;
      const r1 = r0 + d, g1 = g0 + d, b1 = b0 + d;
      if (r1 >= 0 && r1 <= 255 && g1 >= 0 && g1 <= 255 && b1 >= 0 && b1 <= 255) {
        // No channel clips (most pixels): the luma change is d up to rounding, nothing is
        // redistributed, and the general path below would give exactly these values.
        const ra = Math.round(r1), ga = Math.round(g1), ba = Math.round(b1);
        if (out) { out[o] = ra; out[o + 1] = ga; out[o + 2] = ba; }
        errSq += (ra - r0) * (ra - r0);
        errSq += (ga - g0) * (ga - g0);
        errSq += (ba - b0) * (ba - b0);
        continue;
      }
      let achieved = 0;
      let freeWeight = 0;
      for (let c = 0; c < 3; c++) {
        const before = pixels[o + c]!;
        const v = Math.max(0, Math.min(255, before + d));
        vals[c] = v;
        achieved += W[c]! * (v - before);
        if (v > 0 && v < 255) freeWeight += W[c]!;
      }
      const missing = d - achieved;
      const extra = freeWeight > 0.05 ? Math.max(-2 * Math.abs(d), Math.min(2 * Math.abs(d), missing / freeWeight)) : 0;
      for (let c = 0; c < 3; c++) {
        const before = pixels[o + c]!;
        let v = vals[c]!;
        if (Math.abs(missing) > 0.25 && v > 0 && v < 255) v = Math.max(0, Math.min(255, v + extra));
        const after = Math.round(v);
        if (out) out[o + c] = after;
        errSq += (after - before) * (after - before);
      }
    }
    const mse = errSq / (used * colourChannels);
    return { out, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
  };
  // Clipping, the redistribution above and rounding move the achieved PSNR off the target (by up
  // to ~1 dB on hosts with large saturated areas). The scale is corrected on every 7th pixel (up to
  // three times, never above 2× the nominal scale) before the one full pass that writes the image.
  const k0 = scale;
  let est = apply(scale, 7);
  for (let pass = 0; pass < 3 && Number.isFinite(est.psnr) && Math.abs(est.psnr - target) > 0.05 && scale > 0; pass++) {
    const next = Math.min(2 * k0, scale * 10 ** ((est.psnr - target) / 20));
    if (next === scale) break;
    scale = next;
    est = apply(scale, 7);
  }
  const res = apply(scale, 1);
  return { pixels: res.out!, psnr: res.psnr, chipSize: cs, periodPx: period, payloadHex: toHex(payload) };
}

function activityMask(luma: Float32Array, width: number, height: number, cs: number): Float32Array {
  const n = width * height;
  const resid = new Float32Array(n);
  const edge = (x: number, y: number) => {
    const p = y * width + x;
    const l = x > 0 ? luma[p - 1]! : luma[p]!;
    const r = x < width - 1 ? luma[p + 1]! : luma[p]!;
    const u = y > 0 ? luma[p - width]! : luma[p]!;
    const d = y < height - 1 ? luma[p + width]! : luma[p]!;
    resid[p] = Math.abs(4 * luma[p]! - l - r - u - d);
  };
  for (let y = 0; y < height; y++) {
    if (y === 0 || y === height - 1 || width < 3) {
      for (let x = 0; x < width; x++) edge(x, y);
      continue;
    }
    edge(0, y);
    // Interior pixels: all four neighbours exist (same arithmetic as at the edges, no branches).
    for (let p = y * width + 1, end = y * width + width - 1; p < end; p++) {
      resid[p] = Math.abs(4 * luma[p]! - luma[p - 1]! - luma[p + 1]! - luma[p - width]! - luma[p + width]!);
    }
    edge(width - 1, y);
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

const COLUMN_STRIP = 16;

/** Box blur with radius r (separable, integral sums, edge-clamped windows). */
export function boxBlur(src: Float32Array, width: number, height: number, r: number): Float32Array {
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
  // Columns in strips of COLUMN_STRIP: each column's prefix sums are the same sequential sums as
  // one column at a time, but the image is read row by row within a strip, which keeps the reads
  // in cache (a column-at-a-time walk of a 1080p float image was most of this function's time).
  const S = COLUMN_STRIP;
  const col = new Float64Array((height + 1) * S);
  for (let x0 = 0; x0 < width; x0 += S) {
    const cols = Math.min(S, width - x0);
    for (let y = 0; y < height; y++) {
      const src = y * width + x0, at = y * S, next = at + S;
      for (let j = 0; j < cols; j++) col[next + j] = col[at + j]! + tmp[src + j]!;
    }
    for (let y = 0; y < height; y++) {
      const a = Math.max(0, y - r);
      const b = Math.min(height, y + r + 1);
      const dst = y * width + x0, ia = a * S, ib = b * S;
      for (let j = 0; j < cols; j++) out[dst + j] = (col[ib + j]! - col[ia + j]!) / (b - a);
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
  /** 'decode': read blind (CRC and sync gate); 'known_payload': the known-payload test. */
  detected_by?: 'decode' | 'known_payload';
  /** Best correlation z of the known-payload test over the folds decoded. */
  known_payload_z?: number;
}

export interface ImageDetectOptions {
  /** has_watermark also requires this payload. */
  expectedPayload?: Uint8Array;
  /**
   * Payload for the known-payload test, which runs when blind decoding finds nothing: the
   * correlation of each decoded fold's chips with this payload's codeword, accepted at z ≥
   * IMAGE_KNOWN_Z. Default: expectedPayload, else the default message's payload; null: off.
   */
  knownPayload?: Uint8Array | null;
}

/**
 * Gate of the image known-payload test. The folds decoded are at most REFINED_CANDIDATES ×
 * (1 + FINE_DECODES) = 9 (KNOWN_TRIALS), each z ≈ N(0,1) on unmarked images, so 5 σ is about
 * 9 · 2.9·10⁻⁷ ≈ 2.6·10⁻⁶ per image by the Gaussian tail; the measured null is in
 * docs/watermarking.md.
 */
export const IMAGE_KNOWN_Z = 5;

/** Detects the mark in raw interleaved 8-bit pixels. */
export function detectImageWatermarkPixels(pixels: Uint8Array, width: number, height: number, channels: number, options: ImageDetectOptions = {}): ImageDetection {
  const knownPayload = options.knownPayload === undefined ? (options.expectedPayload ?? imagePayloadFromMessage(null)) : options.knownPayload;
  const knownCode = knownPayload ? codeword(knownPayload) : null;
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
  const template = syncTemplate();
  let tried = 0;
  const evalAt = (period: number, step: number, py = period) => {
    const fold = foldImage(white, w, h, period, step, py);
    tried += BINS * BINS;
    return { period, py, fold, ...correlateSync(fold, template) };
  };
  // Sub-0.1 % period per axis from the drift of the tile origin between the two halves of the
  // image: at a period P the origin moves by 64·Δ·(1/P − 1/P₀) bins over a distance Δ.
  const driftRefine = (period: number): { px: number; py: number } => {
    const origin = (region: [number, number, number, number]) => correlateSync(foldImage(white, w, h, period, 1, period, region), template);
    const wrap = (d: number) => d - BINS * Math.round(d / BINS);
    const hw = Math.floor(w / 2), hh = Math.floor(h / 2);
    const l = origin([0, hw, 0, h]), r = origin([hw, w, 0, h]);
    const t = origin([0, w, 0, hh]), b = origin([0, w, hh, h]);
    tried += 4 * BINS * BINS;
    const px = 1 / (1 / period - wrap(r.fx - l.fx) / (BINS * hw));
    const py = 1 / (1 / period - wrap(b.fy - t.fy) / (BINS * hh));
    // A half without a clear peak gives no usable drift: keep the searched period then.
    const ok = (q: number) => Number.isFinite(q) && Math.abs(q / period - 1) < 0.006;
    return { px: ok(px) ? px : period, py: ok(py) ? py : period };
  };
  // Candidate tile periods: autocorrelation peaks plus the periods the embedder itself uses at this
  // size (an unresized copy whose host hides the autocorrelation peak is still found).
  const candidates = periodCandidates(white, w, h);
  for (const cs of [chipSizeFor(width, height), videoChipSizeFor(width, height)]) {
    const p = (T * cs) / f;
    if (candidates.every((q) => Math.abs(q - p) / p > 0.003)) candidates.push(p);
  }
  // Screen every candidate on a quarter of the pixels at ±0.5 %.
  const screened: Array<{ period: number; z: number }> = [];
  for (const cand of candidates) for (const k of [-0.005, 0, 0.005]) { const period = cand * (1 + k); screened.push({ period, z: evalAt(period, 2).z }); }
  screened.sort((a, b) => b.z - a.z);
  const centres: number[] = [];
  for (const sc of screened) {
    if (centres.every((p) => Math.abs(p - sc.period) / p > 0.02)) centres.push(sc.period);
    if (centres.length >= REFINED_CANDIDATES) break;
  }
  // Refine each surviving candidate to 0.1 % (0.4 % already drifts by a chip across a 7-tile
  // crop), then fold the best fine periods at full density and decode them: host structure can
  // pull the z maximum a step off the true period, so the CRC, not z alone, picks the winner.
  let best: Decoded | null = null;
  let bestKnown: Decoded | null = null;
  for (const centre of centres) {
    const fine: Array<{ period: number; z: number }> = [];
    for (let k = -3; k <= 3; k++) { const period = centre * (1 + k * 0.002); fine.push({ period, z: evalAt(period, 2).z }); }
    fine.sort((a, b) => b.z - a.z);
    const c1 = fine[0]!.period;
    for (const k of [-0.001, 0.001]) { const period = c1 * (1 + k); fine.push({ period, z: evalAt(period, 2).z }); }
    fine.sort((a, b) => b.z - a.z);
    const drift = driftRefine(fine[0]!.period);
    const tries: Array<[number, number]> = [[drift.px, drift.py], ...fine.slice(0, FINE_DECODES).map((fp): [number, number] => [fp.period, fp.period])];
    let found = false;
    for (const [px, py] of tries) {
      const top = evalAt(px, 1, py);
      const d = decodeFold(top.fold, top.dx, top.dy, top.z, top.period, knownCode);
      if (!best || (d.crcOk && !best.crcOk) || (d.crcOk === best.crcOk && d.z > best.z)) best = d;
      if (d.knownZ !== null && (!bestKnown || d.knownZ > bestKnown.knownZ!)) bestKnown = d;
      if (d.crcOk && d.z >= IMAGE_SYNC_Z_THRESHOLD) { found = true; break; }
    }
    if (found) break;
  }
  if (!best) return none;
  const blindDetected = best.crcOk && best.z >= IMAGE_SYNC_Z_THRESHOLD;
  if (!blindDetected && bestKnown && knownPayload && bestKnown.knownZ! >= IMAGE_KNOWN_Z) {
    // A CRC-valid decode of another payload at the same fold is another mark: not this one.
    const known = bestKnown;
    const conflict = known.crcOk && !samePayload(bitsToBytes(known.payloadBits), knownPayload);
    if (!conflict) {
      const result: ImageDetection = {
        has_watermark: true,
        confidence: Math.round(Math.max(0.5, gateLogistic(known.knownZ!, IMAGE_KNOWN_Z)) * 10000) / 10000,
        payload_hex: toHex(knownPayload),
        payload_bits: Array.from(known.payloadBits).join(''),
        crc_ok: known.crcOk,
        bit_errors: known.knownErrors,
        sync_z: Math.round(known.z * 1000) / 1000,
        p_value: Math.min(1, normalTail(known.knownZ!) * KNOWN_TRIALS),
        period_px: Math.round(known.period * f * 100) / 100,
        detected_by: 'known_payload',
        known_payload_z: Math.round(known.knownZ! * 1000) / 1000,
      };
      if (options.expectedPayload) {
        result.message_match = samePayload(options.expectedPayload, knownPayload);
        result.has_watermark = result.message_match;
      }
      return result;
    }
  }
  const { crcOk, payloadBits, errors } = best;
  const payload = bitsToBytes(payloadBits);
  let detected = blindDetected;
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
    ...(bestKnown ? { known_payload_z: Math.round(bestKnown.knownZ! * 1000) / 1000 } : {}),
  };
  if (detected) result.detected_by = 'decode';
  if (options.expectedPayload) {
    const match = crcOk && samePayload(options.expectedPayload, payload);
    result.message_match = match;
    detected = detected && match;
    result.has_watermark = detected;
  }
  const c = gateLogistic(best.z, IMAGE_SYNC_Z_THRESHOLD);
  result.confidence = Math.round((crcOk ? c : Math.min(c, 0.49) * 0.5) * 10000) / 10000;
  return result;
}

/** Autocorrelation candidates refined and decoded (each decode is one 2⁻¹⁶ CRC trial). */
const REFINED_CANDIDATES = 3;
/** Full-density folds decoded per refined candidate, after the drift-refined one. */
const FINE_DECODES = 2;
const KNOWN_TRIALS = REFINED_CANDIDATES * (1 + FINE_DECODES);

interface Decoded {
  crcOk: boolean; payloadBits: Uint8Array; errors: number; z: number; period: number;
  /** Correlation z of the chips with the known payload's codeword (when one is tested). */
  knownZ: number | null;
  /** Coded-bit disagreements with the known payload's codeword. */
  knownErrors: number | null;
}

/** Reads the chips of a fold at a tile origin, removes the sync part and Viterbi-decodes. */
function decodeFold(fold: Float64Array, dx: number, dy: number, z: number, period: number, knownCode: Uint8Array | null): Decoded {
  const lay = layout();
  // Chip c centre sits between bins 2c and 2c+1 (shifted by the tile origin).
  const chipVal = new Float64Array(CHIPS);
  for (let j = 0; j < T; j++) {
    for (let i = 0; i < T; i++) {
      let acc = 0;
      for (let b = 0; b < 2; b++) for (let a = 0; a < 2; a++) {
        const bx = (2 * i + a + dx) % BINS;
        const by = (2 * j + b + dy) % BINS;
        acc += fold[by * BINS + bx]!;
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
  let knownZ: number | null = null;
  let knownErrors: number | null = null;
  if (knownCode) {
    // Each chip's data part times its expected sign; PN signs are independent per chip, so on
    // an unmarked image the sum over the chip energy is ≈ N(0,1) whatever the host does.
    let corr = 0;
    let energy = 0;
    for (let c = 0; c < CHIPS; c++) {
      const v = chipVal[c]! - g * lay.sync[c]!;
      corr += lay.pn[c]! * v * (1 - 2 * knownCode[lay.bitOf[c]!]!);
      energy += v * v;
    }
    knownZ = energy > 0 ? corr / Math.sqrt(energy) : 0;
    knownErrors = 0;
    for (let k = 0; k < CODED_BITS; k++) if ((soft[k]! > 0 ? 0 : 1) !== knownCode[k]) knownErrors++;
  }
  return { crcOk, payloadBits, errors, z, period, knownZ, knownErrors };
}

/**
 * Detection pre-filter. High-pass (minus a 5 × 5 box mean) keeps the 3–6 px chips and drops the
 * host's low frequencies; dividing by the square of the local residual level (9 × 9 RMS, floored)
 * is a weighted matched filter: the embedder puts ∝ √activity of mark where the host residual is
 * ∝ activity, so busy texture (mostly host noise) is weighted down and smooth areas, where the
 * mark stands out, up. The result is scaled to unit mean magnitude and clipped at ±3 so no edge or
 * specular highlight can dominate the fold.
 */
function whiten(luma: Float32Array, w: number, h: number): Float32Array {
  const n = luma.length;
  const blur = boxBlur(luma, w, h, 2);
  const out = new Float32Array(n);
  const sq = new Float32Array(n);
  let absSum = 0;
  for (let p = 0; p < n; p++) { const r = luma[p]! - blur[p]!; out[p] = r; sq[p] = r * r; absSum += Math.abs(r); }
  const local = boxBlur(sq, w, h, 4);
  const floor = 0.5 * (absSum / n) + 0.5;
  let mag = 0;
  for (let p = 0; p < n; p++) { const d = Math.sqrt(local[p]!) + floor; out[p] = out[p]! / (d * d); mag += Math.abs(out[p]!); }
  const inv = n / (mag + 1e-12);
  for (let p = 0; p < n; p++) out[p] = Math.max(-3, Math.min(3, out[p]! * inv));
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
  const fft = pairedFft(size);
  const d = fft.data;
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
  // Four lines per call: lines l, l+1 as real and imaginary parts of lane 0, l+2, l+3 of lane 1
  // (the pairs Fft was given one at a time before, so the same values).
  for (let l = 0; l < lines.length; l += 4) {
    d.fill(0);
    for (let q = 0; q < 4 && l + q < lines.length; q++) {
      const line = lines[l + q]!;
      const slot = (q & 1) * 2 + (q >> 1);
      for (let i = 0; i < line.length; i++) d[4 * i + slot] = line[i]!;
    }
    fft.transform();
    for (let lane = 0; lane < 2 && l + 2 * lane < lines.length; lane++) {
      for (let k = 0; k < size; k++) {
        const nk = (size - k) % size;
        const rk = d[4 * k + lane]!, rn = d[4 * nk + lane]!, ik = d[4 * k + 2 + lane]!, inn = d[4 * nk + 2 + lane]!;
        const ar = (rk + rn) / 2, ai = (ik - inn) / 2;
        const br = (ik + inn) / 2, bi = (rn - rk) / 2;
        power[k] = power[k]! + ar * ar + ai * ai + br * br + bi * bi;
      }
    }
  }
  d.fill(0);
  for (let k = 0; k < size; k++) d[4 * k] = power[k]!;
  fft.transform(true);
  const re = new Float64Array(size);
  for (let k = 0; k < size; k++) re[k] = d[4 * k]!;
  const maxLag = Math.floor(len / 2);
  const ac = new Float64Array(maxLag);
  const zero = Math.abs(re[0]!) || 1;
  // Unbiased: divide by the overlap length so distant lags are not shrunk.
  for (let L = 0; L < maxLag; L++) ac[L] = (re[L]! / zero) * (len / (len - L));
  return ac;
}

/**
 * Folds the whitened image modulo the tile period (px along x, py along y) into BINS × BINS phase
 * bins, averaging; `region` [x0, x1, y0, y1) restricts it to part of the image.
 */
function foldImage(white: Float32Array, w: number, h: number, px: number, step: number, py = px, region?: [number, number, number, number]): Float64Array {
  const fold = new Float64Array(BINS * BINS);
  const [x0r, x1, y0r, y1] = region ?? [0, w, 0, h];
  const binOf = (v: number, period: number) => { const ph = ((v + 0.5) * BINS) / period; return Math.floor(ph - Math.floor(ph / BINS) * BINS) % BINS; };
  const binX = new Int32Array(w);
  for (let x = x0r; x < x1; x++) binX[x] = binOf(x, px);
  // step 2 samples a checkerboard (x offset alternates with the row), so the per-bin pixel counts
  // are exact sums of row-count × column-count products for the two row parities.
  const colCount = [new Float64Array(BINS), new Float64Array(BINS)];
  const rowCount = [new Float64Array(BINS), new Float64Array(BINS)];
  for (let par = 0; par < 2; par++) { const x0 = x0r + (step === 2 ? par : 0); for (let x = x0; x < x1; x += step) colCount[par]![binX[x]!]!++; }
  for (let y = y0r, r = 0; y < y1; y += step, r++) {
    const par = step === 2 ? r & 1 : 0;
    const by = binOf(y, py);
    rowCount[par]![by]!++;
    const row = by * BINS;
    const base = y * w;
    for (let x = x0r + par; x < x1; x += step) { const b = row + binX[x]!; fold[b] = fold[b]! + white[base + x]!; }
  }
  let mean = 0;
  for (let by = 0; by < BINS; by++) for (let bx = 0; bx < BINS; bx++) {
    const b = by * BINS + bx;
    const count = rowCount[0]![by]! * colCount[0]![bx]! + rowCount[1]![by]! * colCount[1]![bx]!;
    fold[b] = count > 0 ? fold[b]! / count : 0;
    mean += fold[b]!;
  }
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

let templateFft: { re: Float64Array; im: Float64Array } | null = null;
/** Cyclic 2-D cross-correlation via FFT; returns the peak shift and its z-score. */
function correlateSync(fold: Float64Array, template: Float64Array): { z: number; dx: number; dy: number; fx: number; fy: number } {
  const fr = fft2(fold);
  const tr = templateFft ?? (templateFft = fft2(template));
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
  const dx = arg % BINS, dy = Math.floor(arg / BINS);
  // Sub-bin peak position (parabola through the peak and its cyclic neighbours, per axis).
  const at = (x: number, y: number) => corr[(((y % BINS) + BINS) % BINS) * BINS + (((x % BINS) + BINS) % BINS)]!;
  const vertex = (a: number, b: number, c: number) => { const den = a - 2 * b + c; return den < 0 ? (0.5 * (a - c)) / den : 0; };
  const fx = dx + vertex(at(dx - 1, dy), max, at(dx + 1, dy));
  const fy = dy + vertex(at(dx, dy - 1), max, at(dx, dy + 1));
  return { z: (max - mean) / sd, dx, dy, fx, fy };
}

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
/**
 * 2-D transform: rows, then columns, two lines per call of the paired WebAssembly FFT (lane 0 and
 * lane 1; the same values as one line at a time with Fft, see dsp.ts). BINS is even.
 */
function transform2(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const d = pairedFft64().data;
  for (let y = 0; y < BINS; y += 2) {
    const a = y * BINS, b = a + BINS;
    for (let x = 0; x < BINS; x++) { const o = 4 * x; d[o] = re[a + x]!; d[o + 1] = re[b + x]!; d[o + 2] = im[a + x]!; d[o + 3] = im[b + x]!; }
    pairedFft64().transform(inverse);
    for (let x = 0; x < BINS; x++) { const o = 4 * x; re[a + x] = d[o]!; re[b + x] = d[o + 1]!; im[a + x] = d[o + 2]!; im[b + x] = d[o + 3]!; }
  }
  for (let x = 0; x < BINS; x += 2) {
    for (let y = 0; y < BINS; y++) { const o = 4 * y, q = y * BINS + x; d[o] = re[q]!; d[o + 1] = re[q + 1]!; d[o + 2] = im[q]!; d[o + 3] = im[q + 1]!; }
    pairedFft64().transform(inverse);
    for (let y = 0; y < BINS; y++) { const o = 4 * y, q = y * BINS + x; re[q] = d[o]!; re[q + 1] = d[o + 1]!; im[q] = d[o + 2]!; im[q + 1] = d[o + 3]!; }
  }
}
/** One paired FFT per size, reused across calls (the transform keeps no state between them). */
const pairedFfts = new Map<number, PairedFft>();
function pairedFft(size: number): PairedFft {
  let f = pairedFfts.get(size);
  if (!f) { f = new PairedFft(size); pairedFfts.set(size, f); }
  return f;
}
const pairedFft64 = () => pairedFft(BINS);

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

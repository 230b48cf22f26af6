/**
 * Audio watermark: quantisation-index modulation of band-energy contrasts ("spread-transform
 * dither modulation" on log tile energies), designed for this project.
 *
 * Working signal: mono, 16 kHz. Callers at other rates are resampled internally; the additive
 * mark is computed at 16 kHz and resampled back, so it only occupies 150–3600 Hz and survives
 * resampling through 8/16/44.1/48 kHz.
 *
 * Time–frequency grid: 64 ms slots × 12 bands (150–3600 Hz, 8 of the 12 bands below 1 kHz so
 * content with energy only there still carries two thirds of the code). A frame of 36 slots
 * (2.304 s) repeats for the whole signal. Band b, slot t has log energy L(b,t). Bands are paired
 * (0,1),(2,3),…; slots are paired at short forward distances (1–10 slots, cyclic), giving
 * 6 × 18 = 108 "quads". Each quad carries one coded bit in the contrast
 *   p = ½ [(L(b1,t1) − L(b2,t1)) − (L(b1,t2) − L(b2,t2))]
 * which cancels any gain change (±6 dB), any static EQ and any slowly varying gain. The
 * embedder moves p onto a dithered lattice Δ·Z (bit 0) or Δ·Z + Δ/2 (bit 1) by multiplying
 * STFT magnitudes per tile (host-shaped, so the mark sits under the host spectrum; the shift
 * is split between the four tiles in inverse proportion to their amplitude, which minimises
 * added energy for a given contrast change — the "psychoacoustic-ish" shaping).
 *
 * Payload: 32 bits + CRC-16 = 48 bits → rate-1/2 K=7 convolutional code with tail → 108 coded
 * bits, interleaved over the quads by a keyed permutation.
 *
 * Detection: STFT (512/128 hop), band powers per frame, then a search over time offsets
 * (2.304 s of them, 8 ms grid) and time-scale factors (±5% in 1% steps, with and without
 * frequency scaling) for the alignment whose quad contrasts sit closest to the lattice (a
 * payload-independent statistic, normally distributed with unit variance on unmarked audio).
 * The best alignments are Viterbi-decoded; a mark is reported when the CRC matches and the
 * synchronisation z-score passes SYNC_Z_THRESHOLD. Any 3 s excerpt holds every quad at least
 * once; longer inputs are cut into windows whose soft bits are also combined.
 */
import { Fft, hann, normalTail, resample, seededRandom, shuffle } from './dsp.js';
import { bitsToBytes, bytesToBits, convEncode, crc16, numberToBits, bitsToNumber, toHex, viterbiDecode } from './ecc.js';

export const AUDIO_WM_RATE = 16000;
export const AUDIO_PAYLOAD_BITS = 32;
const CRC_BITS = 16;
const INFO_BITS = AUDIO_PAYLOAD_BITS + CRC_BITS;
const CODED_BITS = 2 * (INFO_BITS + 6); // 108

const FRAME = 512;
const SYN_HOP = 256;
const ANA_HOP = 128;
const SLOT_SAMPLES = 1024;
const FRAMES_PER_SLOT = SLOT_SAMPLES / ANA_HOP; // 8
const SLOTS = 36;
const PERIOD_FRAMES = SLOTS * FRAMES_PER_SLOT; // 288
export const AUDIO_PERIOD_SECONDS = (SLOTS * SLOT_SAMPLES) / AUDIO_WM_RATE;
const BAND_EDGES_HZ = [150, 230, 310, 400, 500, 610, 730, 860, 1000, 1400, 2000, 2700, 3600];
const BANDS = BAND_EDGES_HZ.length - 1;
const BAND_PAIRS = BANDS / 2;
const SLOT_PAIRS = SLOTS / 2;
const QUADS = BAND_PAIRS * SLOT_PAIRS; // 108
const MAX_PAIR_DISTANCE = 10;
const KEY = 'discern/audio-watermark/v1';

/** Lattice step of the contrast (natural-log energy units). Larger = more robust, louder. */
export const DEFAULT_AUDIO_DELTA = 0.38;
/** Decision threshold on the synchronisation z-score (see docs/watermarking.md). */
export const SYNC_Z_THRESHOLD = 4.0;
/** Windows analysed per excerpt: the period plus slack so every quad appears once. */
const WINDOW_SECONDS = 3.0;
/**
 * Tiles far below the window's mean band energy are the first to be requantised by codecs or
 * drowned by noise; a quad's weight falls off below this fraction of the mean.
 */
const RELIABILITY_KNEE = 0.01;
/** The embedder scales the mark down where needed so no output falls below this SNR. */
export const MIN_AUDIO_SNR_DB = 35.5;
// The sync peak is about one analysis frame (8 ms) wide, so every offset is evaluated.
const COARSE_STEP = 1;
const TIME_SCALES = [1, 0.99, 1.01, 0.98, 1.02, 0.97, 1.03, 0.96, 1.04, 0.95, 1.05];

interface Layout {
  /** For slot position t: partner position and whether t is the first of its pair. */
  partner: Int16Array;
  distance: Int16Array; // forward distance when t is first, else 0
  first: Uint8Array;
  /** slot-pair index for the pair whose first element is at t (−1 otherwise). */
  pairOfFirst: Int16Array;
  /** coded-bit index of quad (bandPair, slotPair). */
  bitOfQuad: Int16Array;
  /** dither of quad, in [0, 1) lattice units. */
  dither: Float64Array;
}

let layoutCache: Layout | null = null;
function layout(): Layout {
  if (layoutCache) return layoutCache;
  const rnd = seededRandom(KEY + '/layout');
  for (let attempt = 0; attempt < 1000; attempt++) {
    const partner = new Int16Array(SLOTS).fill(-1);
    const distance = new Int16Array(SLOTS);
    const first = new Uint8Array(SLOTS);
    const pairOfFirst = new Int16Array(SLOTS).fill(-1);
    let ok = true;
    let pairs = 0;
    for (let t = 0; t < SLOTS && ok; t++) {
      if (partner[t] !== -1) continue;
      const options: number[] = [];
      for (let d = 1; d <= MAX_PAIR_DISTANCE; d++) {
        const u = (t + d) % SLOTS;
        if (partner[u] === -1 && u !== t) options.push(d);
      }
      if (options.length === 0) { ok = false; break; }
      const d = options[Math.floor(rnd() * options.length)]!;
      const u = (t + d) % SLOTS;
      partner[t] = u; partner[u] = t; distance[t] = d; first[t] = 1; pairOfFirst[t] = pairs++;
    }
    if (!ok || pairs !== SLOT_PAIRS) continue;
    const perm = shuffle(Array.from({ length: QUADS }, (_, i) => i), rnd);
    const bitOfQuad = new Int16Array(QUADS);
    for (let q = 0; q < QUADS; q++) bitOfQuad[q] = perm[q]!;
    const dither = new Float64Array(QUADS);
    for (let q = 0; q < QUADS; q++) dither[q] = rnd();
    layoutCache = { partner, distance, first, pairOfFirst, bitOfQuad, dither };
    return layoutCache;
  }
  throw new Error('could not build the audio watermark layout');
}

function bandBins(scale: number): Int32Array {
  const edges = new Int32Array(BAND_EDGES_HZ.length);
  const binHz = AUDIO_WM_RATE / FRAME;
  for (let i = 0; i < edges.length; i++) edges[i] = Math.min(FRAME / 2, Math.round((BAND_EDGES_HZ[i]! * scale) / binHz));
  return edges;
}

export function payloadCodeword(payload: Uint8Array): Uint8Array {
  if (payload.length * 8 !== AUDIO_PAYLOAD_BITS) throw new Error(`audio payload must be ${AUDIO_PAYLOAD_BITS / 8} bytes`);
  const bits = bytesToBits(payload);
  const info = new Uint8Array(INFO_BITS);
  info.set(bits, 0);
  info.set(numberToBits(crc16(bits), CRC_BITS), AUDIO_PAYLOAD_BITS);
  const coded = convEncode(info);
  if (coded.length !== CODED_BITS) throw new Error('unexpected codeword length');
  return coded;
}

/** Power spectra of analysis frames (Hann 512, hop 128, frame f centred at sample f·128). */
function analysisPowers(x: Float32Array, fft: Fft, window: Float64Array): { frames: number; power: Float64Array } {
  const frames = Math.floor(x.length / ANA_HOP) + 1;
  const bins = FRAME / 2 + 1;
  const power = new Float64Array(frames * bins);
  const re = new Float64Array(FRAME);
  const im = new Float64Array(FRAME);
  for (let f = 0; f < frames; f += 2) {
    // Two real frames per complex FFT: frame f in the real part, f+1 in the imaginary part.
    const s0 = f * ANA_HOP - FRAME / 2;
    const s1 = s0 + ANA_HOP;
    for (let i = 0; i < FRAME; i++) {
      const a = s0 + i;
      const b = s1 + i;
      re[i] = a >= 0 && a < x.length ? x[a]! * window[i]! : 0;
      im[i] = f + 1 < frames && b >= 0 && b < x.length ? x[b]! * window[i]! : 0;
    }
    fft.transform(re, im);
    for (let k = 0; k < bins; k++) {
      const nk = (FRAME - k) % FRAME;
      const ar = (re[k]! + re[nk]!) / 2;
      const ai = (im[k]! - im[nk]!) / 2;
      const br = (im[k]! + im[nk]!) / 2;
      const bi = (re[nk]! - re[k]!) / 2;
      power[f * bins + k] = ar * ar + ai * ai;
      if (f + 1 < frames) power[(f + 1) * bins + k] = br * br + bi * bi;
    }
  }
  return { frames, power };
}

/** Prefix sums over frames of band energy: cum[b][f] = Σ_{g<f} E_b(g). */
function bandPrefix(power: Float64Array, frames: number, edges: Int32Array): Float64Array[] {
  const bins = FRAME / 2 + 1;
  const out: Float64Array[] = [];
  for (let b = 0; b < BANDS; b++) {
    const lo = edges[b]!;
    const hi = Math.max(lo + 1, edges[b + 1]!);
    const cum = new Float64Array(frames + 1);
    let acc = 0;
    for (let f = 0; f < frames; f++) {
      let e = 0;
      const base = f * bins;
      for (let k = lo; k < hi; k++) e += power[base + k]!;
      acc += e;
      cum[f + 1] = acc;
    }
    out.push(cum);
  }
  return out;
}

const COS_TABLE_SIZE = 4096;
const COS_TABLE = (() => {
  const t = new Float64Array(COS_TABLE_SIZE);
  for (let i = 0; i < COS_TABLE_SIZE; i++) t[i] = Math.cos((2 * Math.PI * i) / COS_TABLE_SIZE);
  return t;
})();
function cosTurns(turns: number): number {
  const f = turns - Math.floor(turns);
  return COS_TABLE[(f * COS_TABLE_SIZE) | 0]!;
}

export interface AudioEmbedOptions {
  /** Lattice step; default DEFAULT_AUDIO_DELTA. */
  delta?: number;
  iterations?: number;
  /** Floor on the host-to-mark ratio; default MIN_AUDIO_SNR_DB. */
  minSnrDb?: number;
}

/**
 * Computes the additive watermark signal for a mono host at any sample rate. Add the result to
 * every channel of the host. Silence stays silent (the mark is multiplicative in the spectrum).
 */
export function audioWatermarkSignal(host: Float32Array, sampleRate: number, payload: Uint8Array, options: AudioEmbedOptions = {}): Float32Array {
  const x16 = sampleRate === AUDIO_WM_RATE ? host : resample(host, sampleRate, AUDIO_WM_RATE);
  const y16 = embedAt16k(x16, payload, options);
  const m16 = new Float32Array(x16.length);
  for (let i = 0; i < m16.length; i++) m16[i] = y16[i]! - x16[i]!;
  let m = sampleRate === AUDIO_WM_RATE ? m16 : resample(m16, AUDIO_WM_RATE, sampleRate);
  if (m.length !== host.length) {
    const fixed = new Float32Array(host.length);
    fixed.set(m.subarray(0, Math.min(m.length, host.length)));
    m = fixed;
  }
  const minSnr = options.minSnrDb ?? MIN_AUDIO_SNR_DB;
  let sig = 0;
  let err = 0;
  for (let i = 0; i < host.length; i++) { sig += host[i]! * host[i]!; err += m[i]! * m[i]!; }
  if (err > 0 && 10 * Math.log10(sig / err) < minSnr) {
    const scale = Math.sqrt(sig / err / 10 ** (minSnr / 10));
    for (let i = 0; i < m.length; i++) m[i] = m[i]! * scale;
  }
  return m;
}

/** Convenience: marked copy of a mono host. */
export function embedAudioWatermark(host: Float32Array, sampleRate: number, payload: Uint8Array, options: AudioEmbedOptions = {}): Float32Array {
  const mark = audioWatermarkSignal(host, sampleRate, payload, options);
  const out = new Float32Array(host.length);
  for (let i = 0; i < out.length; i++) out[i] = host[i]! + mark[i]!;
  return out;
}

function embedAt16k(x: Float32Array, payload: Uint8Array, options: AudioEmbedOptions): Float32Array {
  const delta = options.delta ?? DEFAULT_AUDIO_DELTA;
  const iterations = options.iterations ?? 4;
  const lay = layout();
  const code = payloadCodeword(payload);
  const fft = new Fft(FRAME);
  const bins = FRAME / 2 + 1;
  const synWin = hann(FRAME, true);
  const anaWin = hann(FRAME);
  const edges = bandBins(1);
  const bandOfBin = new Int8Array(bins).fill(-1);
  for (let b = 0; b < BANDS; b++) for (let k = edges[b]!; k < edges[b + 1]!; k++) bandOfBin[k] = b;

  // Synthesis STFT: frame g covers samples [g·256 − 128, g·256 + 384), centred in slot ⌊g/4⌋.
  const synFrames = Math.ceil(x.length / SYN_HOP) + 1;
  const specRe = new Float64Array(synFrames * bins);
  const specIm = new Float64Array(synFrames * bins);
  {
    const re = new Float64Array(FRAME);
    const im = new Float64Array(FRAME);
    for (let g = 0; g < synFrames; g += 2) {
      const s0 = g * SYN_HOP - 128;
      const s1 = s0 + SYN_HOP;
      for (let i = 0; i < FRAME; i++) {
        const a = s0 + i;
        const b = s1 + i;
        re[i] = a >= 0 && a < x.length ? x[a]! * synWin[i]! : 0;
        im[i] = g + 1 < synFrames && b >= 0 && b < x.length ? x[b]! * synWin[i]! : 0;
      }
      fft.transform(re, im);
      for (let k = 0; k < bins; k++) {
        const nk = (FRAME - k) % FRAME;
        specRe[g * bins + k] = (re[k]! + re[nk]!) / 2;
        specIm[g * bins + k] = (im[k]! - im[nk]!) / 2;
        if (g + 1 < synFrames) {
          specRe[(g + 1) * bins + k] = (im[k]! + im[nk]!) / 2;
          specIm[(g + 1) * bins + k] = (re[nk]! - re[k]!) / 2;
        }
      }
    }
  }

  const totalSlots = Math.ceil(x.length / SLOT_SAMPLES);
  const logGain = new Float64Array(totalSlots * BANDS); // log-amplitude per tile
  const target = new Float64Array(totalSlots * BAND_PAIRS).fill(NaN); // per (first slot, band pair)
  let y: Float32Array = x;

  const synthesize = (): Float32Array => {
    const out = new Float64Array(x.length);
    const re = new Float64Array(FRAME);
    const im = new Float64Array(FRAME);
    for (let g = 0; g < synFrames; g += 2) {
      // Pack two Hermitian spectra as A + iB and invert once.
      for (let k = 0; k < bins; k++) {
        const ga = gainOf(g, k);
        const gb = g + 1 < synFrames ? gainOf(g + 1, k) : 0;
        const ar = specRe[g * bins + k]! * ga;
        const ai = specIm[g * bins + k]! * ga;
        const br = g + 1 < synFrames ? specRe[(g + 1) * bins + k]! * gb : 0;
        const bi = g + 1 < synFrames ? specIm[(g + 1) * bins + k]! * gb : 0;
        re[k] = ar - bi;
        im[k] = ai + br;
        if (k > 0 && k < FRAME / 2) {
          const nk = FRAME - k;
          re[nk] = ar + bi;
          im[nk] = -ai + br;
        }
      }
      fft.transform(re, im, true);
      const s0 = g * SYN_HOP - 128;
      for (let i = 0; i < FRAME; i++) {
        const a = s0 + i;
        if (a >= 0 && a < x.length) out[a] = out[a]! + (re[i]! / FRAME) * synWin[i]!;
        const b = a + SYN_HOP;
        if (g + 1 < synFrames && b >= 0 && b < x.length) out[b] = out[b]! + (im[i]! / FRAME) * synWin[i]!;
      }
    }
    return Float32Array.from(out);
  };
  function gainOf(g: number, k: number): number {
    const b = bandOfBin[k]!;
    if (b < 0) return 1;
    const slot = g >> 2;
    if (slot >= totalSlots) return 1;
    const lg = logGain[slot * BANDS + b]!;
    return lg === 0 ? 1 : Math.exp(lg);
  }

  const floor = 1e-12;
  for (let it = 0; it < iterations; it++) {
    if (it > 0) y = synthesize();
    const { frames, power } = analysisPowers(y, fft, anaWin);
    const cum = bandPrefix(power, frames, edges);
    const tileE = (slot: number, b: number): number => {
      const f0 = Math.min(frames, slot * FRAMES_PER_SLOT);
      const f1 = Math.min(frames, f0 + FRAMES_PER_SLOT);
      return cum[b]![f1]! - cum[b]![f0]! + floor;
    };
    for (let s1 = 0; s1 < totalSlots; s1++) {
      const t = s1 % SLOTS;
      if (!lay.first[t]) continue;
      const s2 = s1 + lay.distance[t]!;
      if (s2 >= totalSlots) continue;
      const sp = lay.pairOfFirst[t]!;
      for (let bp = 0; bp < BAND_PAIRS; bp++) {
        const b1 = 2 * bp;
        const b2 = b1 + 1;
        const e = [tileE(s1, b1), tileE(s1, b2), tileE(s2, b1), tileE(s2, b2)];
        if (Math.min(e[0]!, e[1]!, e[2]!, e[3]!) <= floor * 10) continue; // digital silence: leave it
        const p = 0.5 * (Math.log(e[0]!) - Math.log(e[1]!) - Math.log(e[2]!) + Math.log(e[3]!));
        const q = bp * SLOT_PAIRS + sp;
        const bit = code[lay.bitOfQuad[q]!]!;
        const offset = (lay.dither[q]! + bit * 0.5) * delta;
        const ti = s1 * BAND_PAIRS + bp;
        if (Number.isNaN(target[ti]!)) target[ti] = Math.round((p - offset) / delta) * delta + offset;
        const d = target[ti]! - p;
        // Split the contrast change (Σ a_i = 2d in log energy) inversely to tile amplitude.
        const inv = e.map((v) => 1 / v);
        const invSum = inv[0]! + inv[1]! + inv[2]! + inv[3]!;
        const signs = [1, -1, -1, 1];
        const slotsOf = [s1, s1, s2, s2];
        const bandsOf = [b1, b2, b1, b2];
        for (let i = 0; i < 4; i++) {
          // p = ½ Σ sign·L, so log-energy changes a_i with Σ a_i = 2d move p by d;
          // the amplitude gain is half the log-energy change.
          const aLogEnergy = (2 * d * inv[i]!) / invSum;
          const idx = slotsOf[i]! * BANDS + bandsOf[i]!;
          const next = logGain[idx]! + (signs[i]! * aLogEnergy) / 2;
          logGain[idx] = Math.max(-0.35, Math.min(0.35, next));
        }
      }
    }
  }
  return synthesize();
}

export interface AudioDetection {
  has_watermark: boolean;
  /** Calibrated to the unmarked-audio null: 0.5 at the decision threshold. */
  confidence: number;
  payload_hex: string | null;
  /** Decoded payload bits, reported even when the CRC fails (for bit-accuracy measurements). */
  payload_bits: string | null;
  /** Coded-bit disagreements between the soft input and the re-encoded decoded payload. */
  bit_errors: number | null;
  crc_ok: boolean;
  sync_z: number;
  /** One-sided null p-value of the sync statistic, corrected for the number of alignments tried. */
  p_value: number;
  time_scale: number;
  offset_seconds: number;
  windows: number;
}

interface Candidate { z: number; soft: Float64Array; weight: number; timeScale: number; freqScale: number; offsetFrames: number }

interface Spectrum { frames: number; power: Float64Array }

function spectrumOf(x16: Float32Array): Spectrum {
  return analysisPowers(x16, new Fft(FRAME), hann(FRAME));
}

/**
 * Evaluates every alignment of one window [f0, f1) and returns the best few candidates.
 * Offsets are searched on a 2-frame grid, then refined ±1 frame around the best.
 */
function searchWindow(cums: Map<number, Float64Array[]>, f0: number, f1: number, delta: number, keep: number): { best: Candidate[]; tried: number } {
  const lay = layout();
  const best: Candidate[] = [];
  let tried = 0;
  const consider = (c: Candidate) => {
    if (best.length < keep || c.z > best[best.length - 1]!.z) {
      best.push(c);
      best.sort((a, b) => b.z - a.z);
      if (best.length > keep) best.pop();
    }
  };
  for (const ts of TIME_SCALES) {
    // Pitch-shifting speed changes below 3% move band edges by less than a bin: skip them.
    const freqModes = Math.abs(ts - 1) < 0.025 ? [1] : [1, ts];
    for (const fsc of freqModes) {
      const cum = cums.get(fsc)!;
      const floors = noiseFloors(cum, f0, f1, ts);
      const period = PERIOD_FRAMES * ts;
      const coarse: Array<{ o: number; z: number }> = [];
      for (let o = 0; o < period; o += COARSE_STEP) {
        tried++;
        const r = evaluate(cum, floors, f0, f1, o, ts, delta, lay, false);
        if (r) coarse.push({ o, z: r.z });
      }
      coarse.sort((a, b) => b.z - a.z);
      for (const c of coarse.slice(0, 2)) {
        for (const o of [c.o - 1, c.o, c.o + 1]) {
          if (o < 0) continue;
          const r = evaluate(cum, floors, f0, f1, o, ts, delta, lay, true);
          if (r) consider({ ...r, timeScale: ts, freqScale: fsc, offsetFrames: o });
        }
      }
    }
  }
  return { best, tried };
}

/**
 * Per-band noise floor of a window: the 10th percentile of per-frame band energy, scaled to a
 * slot, but never below 3·10⁻⁴ of the band's mean. Tiles near this floor carry little mark
 * after noise or coding, so quads are weighted by how far their tiles rise above it.
 */
function noiseFloors(cum: Float64Array[], f0: number, f1: number, ts: number): Float64Array {
  const floors = new Float64Array(BANDS);
  const n = f1 - f0;
  const vals = new Float64Array(n);
  for (let b = 0; b < BANDS; b++) {
    let mean = 0;
    for (let f = 0; f < n; f++) {
      vals[f] = cum[b]![f0 + f + 1]! - cum[b]![f0 + f]!;
      mean += vals[f]!;
    }
    mean /= Math.max(1, n);
    vals.sort();
    const p10 = vals[Math.floor(n * 0.1)] ?? 0;
    floors[b] = Math.max(p10, mean * 3e-4) * FRAMES_PER_SLOT * ts + 1e-12;
  }
  return floors;
}

function evaluate(cum: Float64Array[], floors: Float64Array, f0: number, f1: number, o: number, ts: number, delta: number, lay: Layout, wantSoft: boolean):
  { z: number; soft: Float64Array; weight: number } | null {
  const slotLen = FRAMES_PER_SLOT * ts;
  // Slots m with boundaries f0 + o + m·slotLen inside [f0, f1); slot position = m mod SLOTS.
  const mStart = Math.ceil((-o) / slotLen - 1e-9);
  const count = Math.floor((f1 - f0 - o) / slotLen + 1e-9) - mStart;
  if (count < 2) return null;
  const diffs = scratch(0, count * BAND_PAIRS);
  const rel = scratch(1, count * BAND_PAIRS);
  const energies = scratch(2, count * BANDS);
  for (let i = 0; i < count; i++) {
    const m = mStart + i;
    const a = f0 + Math.round(o + m * slotLen);
    const b = f0 + Math.round(o + (m + 1) * slotLen);
    for (let band = 0; band < BANDS; band++) {
      const e = cum[band]![b]! - cum[band]![a]!;
      energies[i * BANDS + band] = e;
    }
  }
  let meanE = 0;
  for (let i = 0; i < count * BANDS; i++) meanE += energies[i]!;
  meanE /= count * BANDS;
  const rel0 = RELIABILITY_KNEE * meanE;
  for (let i = 0; i < count; i++) {
    for (let bp = 0; bp < BAND_PAIRS; bp++) {
      const e1 = energies[i * BANDS + 2 * bp]! + floors[2 * bp]! * 1e-3;
      const e2 = energies[i * BANDS + 2 * bp + 1]! + floors[2 * bp + 1]! * 1e-3;
      diffs[i * BAND_PAIRS + bp] = Math.log(e1 / e2);
      rel[i * BAND_PAIRS + bp] = Math.min(e1 / (e1 + rel0 + 3 * floors[2 * bp]!), e2 / (e2 + rel0 + 3 * floors[2 * bp + 1]!));
    }
  }
  let num = 0;
  let den = 0;
  const soft = wantSoft ? new Float64Array(CODED_BITS) : EMPTY;
  let weight = 0;
  for (let i = 0; i < count; i++) {
    const m = mStart + i;
    const t = ((m % SLOTS) + SLOTS) % SLOTS;
    if (!lay.first[t]) continue;
    const j = i + lay.distance[t]!;
    if (j >= count) continue;
    const sp = lay.pairOfFirst[t]!;
    for (let bp = 0; bp < BAND_PAIRS; bp++) {
      const w = Math.min(rel[i * BAND_PAIRS + bp]!, rel[j * BAND_PAIRS + bp]!);
      if (w <= 0.05) continue;
      const p = 0.5 * (diffs[i * BAND_PAIRS + bp]! - diffs[j * BAND_PAIRS + bp]!);
      const q = bp * SLOT_PAIRS + sp;
      const u = p / delta - lay.dither[q]!;
      num += w * cosTurns(2 * u);
      den += w * w;
      if (wantSoft) soft[lay.bitOfQuad[q]!] = soft[lay.bitOfQuad[q]!]! + w * cosTurns(u);
      weight += w;
    }
  }
  if (den <= 0) return null;
  return { z: num / Math.sqrt(den / 2), soft, weight };
}
const EMPTY = new Float64Array(0);
const scratchBuffers: Float64Array[] = [new Float64Array(1024), new Float64Array(1024), new Float64Array(2048)];
function scratch(i: number, n: number): Float64Array {
  if (scratchBuffers[i]!.length < n) scratchBuffers[i] = new Float64Array(n * 2);
  return scratchBuffers[i]!;
}

/** Detects the audio watermark in a mono signal at any sample rate. */
export function detectAudioWatermark(samples: Float32Array, sampleRate: number, options: { delta?: number; expectedPayload?: Uint8Array } = {}): AudioDetection {
  const x16 = sampleRate === AUDIO_WM_RATE ? samples : resample(samples, sampleRate, AUDIO_WM_RATE);
  // Tile contrasts are sensitive to sub-frame misalignment: analyse at two half-hop phases.
  const a = detectAtPhase(x16, options);
  if (a.has_watermark || x16.length <= ANA_HOP) return a;
  const b = detectAtPhase(x16.subarray(ANA_HOP / 2), options);
  if (b.has_watermark) return { ...b, offset_seconds: round(b.offset_seconds + ANA_HOP / 2 / AUDIO_WM_RATE, 4) };
  return a.sync_z >= b.sync_z ? a : b;
}

function detectAtPhase(x16: Float32Array, options: { delta?: number; expectedPayload?: Uint8Array }): AudioDetection {
  const delta = options.delta ?? DEFAULT_AUDIO_DELTA;
  const spec = spectrumOf(x16);
  const cums = new Map<number, Float64Array[]>();
  for (const ts of TIME_SCALES) if (!cums.has(ts)) cums.set(ts, bandPrefix(spec.power, spec.frames, bandBins(ts)));

  const windowFrames = Math.round((WINDOW_SECONDS * AUDIO_WM_RATE) / ANA_HOP);
  const windows: Array<[number, number]> = [];
  if (spec.frames <= windowFrames * 1.5) windows.push([0, spec.frames]);
  else {
    for (let f = 0; f + windowFrames <= spec.frames; f += windowFrames) windows.push([f, f + windowFrames]);
    const lastEnd = windows[windows.length - 1]![1];
    if (spec.frames - lastEnd > windowFrames / 4) windows.push([spec.frames - windowFrames, spec.frames]);
  }

  let bestOverall: (Candidate & { window: number; crc: boolean; decoded: Uint8Array; errors: number }) | null = null;
  let tried = 0;
  const combined = new Float64Array(CODED_BITS);
  let combinedCount = 0;
  for (let wi = 0; wi < windows.length; wi++) {
    const [f0, f1] = windows[wi]!;
    const { best, tried: n } = searchWindow(cums, f0, f1, delta, 3);
    tried += n;
    for (const c of best) {
      const dec = decodeSoft(c.soft);
      const cand = { ...c, window: wi, crc: dec.crc, decoded: dec.info, errors: dec.errors };
      if (!bestOverall || rank(cand) > rank(bestOverall)) bestOverall = cand;
    }
    const top = best[0];
    if (top && top.z > 2.5) {
      for (let k = 0; k < CODED_BITS; k++) combined[k] = combined[k]! + top.soft[k]!;
      combinedCount++;
    }
  }
  // Soft combining across windows (same codeword everywhere) rescues long, heavily attacked
  // inputs: when the best-synchronised window fails its CRC, the combined soft bits may pass.
  if (combinedCount >= 2 && bestOverall && !bestOverall.crc) {
    const dec = decodeSoft(combined);
    if (dec.crc) bestOverall = { ...bestOverall, soft: combined, crc: true, decoded: dec.info, errors: dec.errors, window: -1 };
  }
  if (!bestOverall) {
    return { has_watermark: false, confidence: 0, payload_hex: null, payload_bits: null, bit_errors: null, crc_ok: false, sync_z: 0, p_value: 1, time_scale: 1, offset_seconds: 0, windows: windows.length };
  }
  const payloadBits = bestOverall.decoded.subarray(0, AUDIO_PAYLOAD_BITS);
  const payloadBytes = bitsToBytes(payloadBits);
  let detected = bestOverall.crc && bestOverall.z >= SYNC_Z_THRESHOLD;
  if (detected && options.expectedPayload) detected = Buffer.compare(Buffer.from(options.expectedPayload), Buffer.from(payloadBytes)) === 0;
  const pValue = Math.min(1, normalTail(bestOverall.z) * Math.max(1, tried));
  return {
    has_watermark: detected,
    confidence: confidenceOf(bestOverall.z, bestOverall.crc),
    payload_hex: bestOverall.crc ? toHex(payloadBytes) : null,
    payload_bits: Array.from(payloadBits).join(''),
    bit_errors: bestOverall.errors,
    crc_ok: bestOverall.crc,
    sync_z: round(bestOverall.z, 3),
    p_value: pValue,
    time_scale: bestOverall.timeScale,
    offset_seconds: round((bestOverall.offsetFrames * ANA_HOP) / AUDIO_WM_RATE, 4),
    windows: windows.length,
  };
}

function rank(c: { crc: boolean; z: number }): number {
  return (c.crc ? 1000 : 0) + c.z;
}

/**
 * Maps the sync z-score to 0–1: a logistic centred on the decision threshold, so 0.5 means
 * "at the threshold" and a CRC failure caps the value below 0.5.
 */
function confidenceOf(z: number, crc: boolean): number {
  const c = 1 / (1 + Math.exp(-(z - SYNC_Z_THRESHOLD) * 1.2));
  return round(crc ? c : Math.min(c, 0.49) * 0.5, 4);
}

function decodeSoft(soft: Float64Array): { info: Uint8Array; crc: boolean; errors: number } {
  const info = viterbiDecode(soft, INFO_BITS);
  const payload = info.subarray(0, AUDIO_PAYLOAD_BITS);
  const crc = crc16(payload) === bitsToNumber(info.subarray(AUDIO_PAYLOAD_BITS));
  const re = convEncode(info);
  let errors = 0;
  for (let k = 0; k < CODED_BITS; k++) if (soft[k]! !== 0 && (soft[k]! > 0 ? 0 : 1) !== re[k]) errors++;
  return { info, crc, errors };
}

function round(v: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}

/** Signal-to-noise ratio of a mark against its host, in dB. */
export function snrDb(host: Float32Array, marked: Float32Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < host.length; i++) {
    s += host[i]! * host[i]!;
    const d = marked[i]! - host[i]!;
    n += d * d;
  }
  return n === 0 ? Infinity : 10 * Math.log10(s / n);
}

/** Diagnostics for tuning: lattice residuals (in lattice units, −0.5…0.5) at a known alignment. */
export function latticeResiduals(x16: Float32Array, payload: Uint8Array, delta = DEFAULT_AUDIO_DELTA): { residual: number[]; weight: number[] } {
  const lay = layout();
  const code = payloadCodeword(payload);
  const spec = spectrumOf(x16);
  const cum = bandPrefix(spec.power, spec.frames, bandBins(1));
  const slots = Math.floor(spec.frames / FRAMES_PER_SLOT);
  const residual: number[] = [];
  const weight: number[] = [];
  let meanE = 0;
  for (let s = 0; s < slots; s++) for (let b = 0; b < BANDS; b++) meanE += cum[b]![(s + 1) * 8]! - cum[b]![s * 8]!;
  meanE /= slots * BANDS;
  const E = (s: number, b: number) => cum[b]![(s + 1) * 8]! - cum[b]![s * 8]! + meanE * 1e-4 + 1e-12;
  for (let s1 = 0; s1 < slots; s1++) {
    const t = s1 % SLOTS;
    if (!lay.first[t]) continue;
    const s2 = s1 + lay.distance[t]!;
    if (s2 >= slots) continue;
    for (let bp = 0; bp < BAND_PAIRS; bp++) {
      const p = 0.5 * (Math.log(E(s1, 2 * bp)) - Math.log(E(s1, 2 * bp + 1)) - Math.log(E(s2, 2 * bp)) + Math.log(E(s2, 2 * bp + 1)));
      const q = bp * SLOT_PAIRS + lay.pairOfFirst[t]!;
      const u = p / delta - lay.dither[q]! - code[lay.bitOfQuad[q]!]! * 0.5;
      residual.push(u - Math.round(u));
      weight.push(Math.min(E(s1, 2 * bp), E(s1, 2 * bp + 1), E(s2, 2 * bp), E(s2, 2 * bp + 1)) / meanE);
    }
  }
  return { residual, weight };
}


/**
 * Audio watermark, version 4: dithered quantisation-index modulation (QIM, Chen & Wornell 2001)
 * of band log-ratios measured over 100 ms time slots. Designed for this project. Version 3 kept
 * version 2's layout, lattice and key, and changed what a cell measures, how cells are weighted
 * and how windows are combined. Version 4 keeps all of that and gives each band pair its own
 * lattice step (0.9 Δ below 906 Hz, 1.5–2 Δ above; see PAIR_STEP_SCALE). Marks made by an
 * earlier version are not read by a later one.
 *
 * - Working signal: mono, 16 kHz (other rates are resampled; the mark is resampled back).
 * - Cells: 20 bands over 156–3500 Hz, paired with their neighbour (10 pairs); eight 3-bin bands
 *   lie below 906 Hz. Cell (slot, pair) carries one coded bit in R = ln of the ratio of the two
 *   bands' tapered energy sums over the slot. A gain change (±6 dB) cancels in the ratio; a
 *   per-slot band gain moves R by the commanded amount up to slot-edge cross-fades.
 * - Reliability of a cell (soft-decision weight): the weaker band's share of the tile energy,
 *   times its energy over the window's noise floor (quietest 15 % of frames), so cells drowned
 *   by added noise or emptied by a codec do not vote.
 * - Period: 27 slots (2.7 s) × 10 pairs = 270 cells for 108 coded bits. Every coded bit has one
 *   cell in the four pairs below 906 Hz, so content with energy only below 1 kHz still carries
 *   the whole codeword once per period. Any 3 s excerpt holds a full period.
 * - Embedding: STFT (512, hop 256, sqrt-Hann). Magnitudes are multiplied per (slot, band), so
 *   the mark follows the host spectrum and silence stays silent. The ratio change goes to the
 *   two tiles in inverse proportion to their energy, which adds the least energy. Two passes
 *   (measure, correct). A guard scales the mark down if SNR would fall below 35.5 dB.
 * - Payload: 32 bits + CRC-16 → rate-1/2, K=7 convolutional code → 108 coded bits. The permutation
 *   and dither are keyed.
 * - Detection: STFT (512, hop 100) per window of ≤ 4 s, with R and its weight precomputed for
 *   every start frame. Every 1-frame offset over one period is tried, at four sub-frame phases
 *   25 samples apart: speech band ratios change so fast that the sync peak is only about ±25
 *   samples wide. The payload-independent sync statistic z ranks alignments (≈ N(0,1) per
 *   alignment on unmarked audio). The best four per phase are Viterbi-decoded. When no window
 *   decodes alone, windows are combined at a common alignment (joint sync, see
 *   detectAudioWatermark). Decision: CRC match, z ≥ 2.5, ≤ 22 coded-bit errors.
 * - Known-payload test: when blind decoding finds nothing, every alignment is correlated with
 *   the codeword of one expected payload (the named message's, else the default message's) and
 *   z ≥ KNOWN_PAYLOAD_Z counts as that mark (KnownCodeword). This is what finds marks after
 *   white noise at 20 dB SNR and, on most speech hosts, after Opus 32 kbps.
 * - Speed changes by resampling: a peak this narrow would need ~0.05 % time-scale steps, so the
 *   factor is estimated from the mark's own period instead (timeScaleCandidates; by default on
 *   inputs of ~6 s or more, see AudioDetectOptions.timeScaleSearch). Tempo changes that keep
 *   the pitch (version 4.3) get their own period scan, with the band layout unscaled, and their
 *   undo shifts the band layout by the frequency shift that resampling back brings.
 * - Known limits (measured, docs/watermarking.md): tempo changes on content with little energy
 *   above 1 kHz, speed changes in inputs too short for two periods or on hosts with little energy above 1 kHz
 *   but some above 2 kHz (those need the 'full' search; see LOW_BAND_SHARE), and Opus 32 kbps
 *   for blind decoding: after it no band pair keeps a lattice fit above ±0.12
 *   (bench/wm-audio-diag.ts), i.e. the codec moves R by more than a quarter lattice step almost
 *   everywhere; only the known-payload test, summing that faint fit over a whole file, reads it.
 */
import { PairedFft, gateLogistic, hann, normalTail, resample, seededRandom, shuffle } from './dsp.js';
import { bitsToBytes, bytesToBits, convEncode, crc16, numberToBits, bitsToNumber, payloadFromMessage, samePayload, toHex, viterbiDecode } from './ecc.js';
import { OffsetScanKernel } from './offset-scan-kernel.js';
import { LAG_TILE_FLOATS, PeriodLagKernel } from './period-lag-kernel.js';

export const AUDIO_WM_RATE = 16000;
export const AUDIO_PAYLOAD_BITS = 32;
const CRC_BITS = 16;
const INFO_BITS = AUDIO_PAYLOAD_BITS + CRC_BITS;
const CODED_BITS = 2 * (INFO_BITS + 6); // 108

const FRAME = 512;
const BINS = FRAME / 2 + 1;
const SYN_HOP = 256;
const ANA_HOP = 100;
const SLOT_SAMPLES = 1600;
const FRAMES_PER_SLOT = SLOT_SAMPLES / ANA_HOP; // 16
const SLOTS = 27;
/** Length of one full copy of the codeword; media-watermark.ts chunks files in multiples of it. */
export const AUDIO_PERIOD_SECONDS = (SLOTS * SLOT_SAMPLES) / AUDIO_WM_RATE; // 2.7
/**
 * Band boundaries in FFT bins (31.25 Hz): bin k belongs to band b when EDGE[b] ≤ k < EDGE[b+1].
 * Eight 3-bin bands from 156 to 906 Hz, then twelve bands spaced geometrically up to 3.5 kHz.
 */
const BAND_EDGE_BINS = [5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 36, 41, 45, 51, 57, 64, 71, 80, 89, 100, 112];
const BANDS = BAND_EDGE_BINS.length - 1; // 20
const PAIRS = BANDS / 2; // 10
const LOW_PAIRS = 4; // pairs wholly below 906 Hz
const CELLS = SLOTS * PAIRS; // 270
const KEY = 'discern/audio-watermark/v2';

/** Tile taper: no weight on the first/last MARGIN frames of a slot, linear ramps of RAMP frames. */
const MARGIN = 1;
const RAMP = 5;
/**
 * Cell reliability, part 1: a pair whose weaker band holds 0.5 % of the tile's mean band energy
 * weighs ½ (pauses and empty bands count little).
 */
const SHARE_KNEE = 0.005;
/**
 * Cell reliability, part 2 (the noise-aware weighting, searched beside the plain one): the tile
 * energy of the weaker band over the window's noise floor (the same band in the quietest
 * frames); a band 20 dB above its floor weighs ½. On clean
 * recordings the floor is near digital silence and this factor is 1; under added noise it
 * keeps the drowned weak-band cells, whose ratio is the noise's, out of the vote. Chosen on the
 * first 4 bench hosts with energy-sum tiles (white noise 20 dB: 2/4 with a 15 dB knee, 4/4 with
 * 20 dB, 2/4 with 25 dB; version 2's statistic without the factor: 0/4).
 *
 * Version 4.1: the knee per band pair. The high pairs (4–9, above 906 Hz) hold little of a speech
 * host's energy, so their weak band sits close to an added noise floor far more often; a knee of
 * 20 (13 dB) there keeps more of their cells voting, while the low pairs keep 100 (raising theirs
 * hurt: 1000 → 41/48, 10000 → 28/48). Chosen on the tuning hosts (48 French, white noise 20 dB):
 * 43/48 with 100 everywhere, 45/48 with 10, 20 or 30 on pairs 4–9.
 */
const SNR_KNEE = [100, 100, 100, 100, 20, 20, 20, 20, 20, 20];
/** Share of a window's frames (the quietest by total energy) that define its noise floor. */
const FLOOR_SHARE = 0.15;
/** Lattice step of the ratio (natural-log energy units). Larger = more robust, louder. */
export const DEFAULT_AUDIO_DELTA = 0.32;
/**
 * Version 4: each pair's lattice step is Δ times this factor (tileAt divides R by it, so the rest
 * of the code works in units of Δ). The high pairs hold little of a speech host's energy, so a
 * larger step there costs little SNR, and they are the cells added noise drowns first; the low
 * pairs hold most of it, so 10 % off their step pays for the rest. Chosen on the tuning hosts
 * (`WM_AUDIO_HOSTSET=tune`, 48 French hosts) against uniform steps: white noise 20 dB 38/48 →
 * 43/48, AAC 64k 46/48 → 48/48, 3 s after MP3 64k 47/48 → 48/48, SNR median 36.0 dB
 * (docs/watermarking.md). The time-scale search reads ratios in the same per-pair steps
 * (scaledHighTiles): on the raw Δ grid, steps of 1.5 and 2.5 Δ broke it (12/12 → 6–9/12), and
 * even 2 Δ lost the period peak of the unit test's espeak host (z 7.6 → below 4.4).
 */
const PAIR_STEP_SCALE = [0.9, 0.9, 0.9, 0.9, 1.5, 2, 2, 2, 2, 2];
const INV_PAIR_STEP_SCALE = PAIR_STEP_SCALE.map((v) => 1 / v);
/**
 * Decision: CRC-16 match, sync z ≥ SYNC_Z_THRESHOLD and at most MAX_CODED_ERRORS of the 108
 * coded bits disagreeing with the re-encoded payload. The CRC carries the false-positive
 * protection: 32 decoded candidates per 3 s window (4 per phase and weighting) × 2⁻¹⁶ ≈ 4.9·10⁻⁴
 * chance passes per clip (more for long files: the joint step adds its own decodes). On
 * unmarked clips the best decode disagreed on ≥ 15 coded bits (median 21, v2 measurement), true
 * decodes after MP3 64k on 8–21, so the error gate removes roughly half of the chance passes
 * while keeping real ones. The null's best z is about 3.3 (max of thousands of alignments),
 * so the z gate only rejects alignments that carry nothing.
 */
export const SYNC_Z_THRESHOLD = 2.5;
const MAX_CODED_ERRORS = 22;
/** The embedder scales the mark down where needed so no output falls below this SNR. */
export const MIN_AUDIO_SNR_DB = 35.5;
/** Inputs longer than this are cut into windows of about this length (drift stays < 10 ms). */
const MAX_WINDOW_SECONDS = 4.0;
/**
 * Measured on speech (bench/wm-audio-diag.ts): the sync z falls from 44 to 13 when the framing
 * moves by 25 samples (1.6 ms) and to 6 at 50 samples, because band ratios of speech change that fast. So every
 * analysis frame is tried, at four sub-frame phases 25 samples apart.
 */
const PHASES = [0, 25, 50, 75];
/**
 * Speed hypotheses. A ±5 % search in 1 % steps cannot help with a peak this narrow (it would
 * need ~0.05 % steps), so only the nominal speed is searched; see docs/watermarking.md.
 */
const SPEEDS = [1];
/** Candidates Viterbi-decoded per window; each adds ~2⁻¹⁶ chance of a CRC pass on noise. */
const DECODE_CANDIDATES = 4;

interface Layout {
  /** coded-bit index of cell (slot position · PAIRS + pair). */
  bitOfCell: Int16Array;
  /** dither of cell, in [0, 1) lattice units. */
  dither: Float64Array;
  /** 2·dither in cosine-table steps (for the offset scan's table index). */
  ditherIndex: Float64Array;
}

let layoutCache: Layout | null = null;
function layout(): Layout {
  if (layoutCache) return layoutCache;
  const rnd = seededRandom(KEY + '/layout');
  const bitOfCell = new Int16Array(CELLS);
  // Low cells (pairs 0–3, 108 of them) get every coded bit once; high cells get every bit once
  // and 54 bits a second time. So a low-passed host still carries the whole codeword.
  const all = () => Array.from({ length: CODED_BITS }, (_, i) => i);
  const low = shuffle(all(), rnd);
  const high = shuffle([...all(), ...shuffle(all(), rnd).slice(0, SLOTS * (PAIRS - LOW_PAIRS) - CODED_BITS)], rnd);
  let li = 0;
  let hi = 0;
  for (let t = 0; t < SLOTS; t++) {
    for (let p = 0; p < PAIRS; p++) bitOfCell[t * PAIRS + p] = p < LOW_PAIRS ? low[li++]! : high[hi++]!;
  }
  const dither = new Float64Array(CELLS);
  for (let c = 0; c < CELLS; c++) dither[c] = rnd();
  layoutCache = { bitOfCell, dither, ditherIndex: dither.map((d) => 2 * d * COS_TABLE_SIZE) };
  return layoutCache;
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

/** Bins any band can reach (up to a 5 % pitch scale); the rest of the spectrum is never read. */
const POWER_LO = 4;
const POWER_HI = 118;
/** Power arrays hold only those bins: power[f·POWER_BINS + k − POWER_LO]. */
const POWER_BINS = POWER_HI - POWER_LO;

/**
 * One FFT object and one analysis window for every call: building the twiddle and bit-reversal
 * tables (and, for PairedFft, a WebAssembly instance) per 3 s clip was a measurable share of a
 * clip's detection. The transform keeps no state between calls, so sharing it within a thread
 * is safe.
 */
let fftInstance: PairedFft | null = null;
let usePowerKernel = true;
const sharedFft = () => (fftInstance ??= new PairedFft(FRAME));
const ANALYSIS_WINDOW = hann(FRAME);

/**
 * Power spectra of analysis frames (Hann 512, hop 100; frame f centred at sample f·100), bins
 * POWER_LO…POWER_HI − 1. Four real frames per call of the paired FFT: frames f and f+1 as the
 * real and imaginary parts of lane 0, f+2 and f+3 of lane 1 (the pairs, and so every value, are
 * the ones a one-lane FFT of (f, f+1) gives). `first`/`count` compute only frames first …
 * first + count − 1 (returned from index 0), for the period scan's gaps.
 */
function analysisPowers(x: Float32Array, fft: PairedFft, window: Float64Array, first = 0, count = Math.floor(x.length / ANA_HOP) + 1 - first): { frames: number; power: Float64Array } {
  // The same values from the FFT kernel, which also windows and squares (bit for bit; a unit
  // test compares the two paths).
  if (usePowerKernel) return { frames: count, power: fft.framePowers(x, window, ANA_HOP, first, count, POWER_LO, POWER_HI) };
  const frames = count;
  const power = new Float64Array(frames * POWER_BINS);
  const d = fft.data;
  const n = x.length;
  for (let f = 0; f < frames; f += 4) {
    const s0 = (first + f) * ANA_HOP - FRAME / 2;
    if (s0 >= 0 && s0 + 3 * ANA_HOP + FRAME <= n && f + 3 < frames) {
      for (let i = 0, s = s0; i < FRAME; i++, s++) {
        const w = window[i]!;
        const o = 4 * i;
        d[o] = x[s]! * w;
        d[o + 1] = x[s + 2 * ANA_HOP]! * w;
        d[o + 2] = x[s + ANA_HOP]! * w;
        d[o + 3] = x[s + 3 * ANA_HOP]! * w;
      }
    } else {
      // Edges: samples outside the signal and frames past the last are zero.
      for (let q = 0; q < 4; q++) {
        const slot = (q & 1) * 2 + (q >> 1); // frame f+q → lane q>>1, real (q even) or imaginary part
        const start = s0 + q * ANA_HOP;
        const live = f + q < frames;
        for (let i = 0; i < FRAME; i++) {
          const a = start + i;
          d[4 * i + slot] = live && a >= 0 && a < n ? x[a]! * window[i]! : 0;
        }
      }
    }
    fft.transform();
    for (let lane = 0; lane < 2; lane++) {
      const fa = f + 2 * lane;
      if (fa >= frames) break;
      const two = fa + 1 < frames;
      const base0 = fa * POWER_BINS - POWER_LO;
      const base1 = base0 + POWER_BINS;
      for (let k = POWER_LO; k < POWER_HI; k++) {
        const ok = 4 * k + lane, on = 4 * (FRAME - k) + lane;
        const rk = d[ok]!, rn = d[on]!, ik = d[ok + 2]!, inn = d[on + 2]!;
        const ar = rk + rn, ai = ik - inn, br = ik + inn, bi = rn - rk;
        power[base0 + k] = 0.25 * (ar * ar + ai * ai);
        if (two) power[base1 + k] = 0.25 * (br * br + bi * bi);
      }
    }
  }
  return { frames, power };
}

/**
 * Band-energy series for a frequency scale: band b gathers bins whose span overlaps the scaled
 * band [(EDGE[b] − ½)·fs, (EDGE[b+1] − ½)·fs) in bin units, weighted by the overlap.
 * Returns e[b·frames + f] (bands below firstBand left at 0).
 */
function bandSeries(power: Float64Array, frames: number, fs: number, firstBand = 0): Float64Array {
  const e = new Float64Array(BANDS * frames);
  for (let b = firstBand; b < BANDS; b++) {
    const lo = (BAND_EDGE_BINS[b]! - 0.5) * fs;
    const hi = (BAND_EDGE_BINS[b + 1]! - 0.5) * fs;
    const k0 = Math.max(POWER_LO, Math.floor(lo + 0.5));
    const k1 = Math.min(POWER_HI - 1, Math.ceil(hi - 0.5));
    const ks: number[] = [];
    const ws: number[] = [];
    for (let k = k0; k <= k1; k++) {
      const w = Math.min(k + 0.5, hi) - Math.max(k - 0.5, lo);
      if (w > 1e-9) { ks.push(k); ws.push(Math.min(1, w)); }
    }
    const out = b * frames;
    for (let f = 0; f < frames; f++) {
      const base = f * POWER_BINS - POWER_LO;
      let acc = 0;
      for (let j = 0; j < ks.length; j++) acc += power[base + ks[j]!]! * ws[j]!;
      e[out + f] = acc;
    }
  }
  return e;
}

/** Trapezoid length parameter for a slot of L frames (the taper spans n + RAMP − 1 frames). */
function taperN(slotFrames: number): number {
  return Math.max(1, Math.round(slotFrames - 2 * MARGIN - RAMP + 1));
}

const taperCache = new Map<number, Float64Array>();
/** Trapezoid weights: a box of n frames convolved with a box of RAMP frames, peak 1. */
function taper(n: number): Float64Array {
  let t = taperCache.get(n);
  if (t) return t;
  t = new Float64Array(n + RAMP - 1);
  for (let i = 0; i < t.length; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (j <= i && i < j + RAMP) c++;
    t[i] = c / RAMP;
  }
  taperCache.set(n, t);
  return t;
}

/**
 * Per-band noise floor: the mean band energy of the quietest 15 % of frames (by total energy).
 * Speech has pauses, so these frames hold the background (added noise, a codec's noise fill).
 */
function noiseFloor(e: Float64Array, et: Float64Array, frames: number): Float64Array {
  const order = Array.from(et.keys()).sort((a, b) => et[a]! - et[b]!);
  const quiet = order.slice(0, Math.max(1, Math.floor(frames * FLOOR_SHARE)));
  const n = new Float64Array(BANDS);
  for (let b = 0; b < BANDS; b++) {
    let acc = 0;
    for (const f of quiet) acc += e[b * frames + f]!;
    n[b] = acc / quiet.length;
  }
  return n;
}

/**
 * Per-frame tables: e1/e2[p·F + f] = energy of pair p's two bands in frame f, et = frame
 * energy in all bands, floor = per-band noise floor of the window.
 */
interface FrameTables { frames: number; et: Float64Array; e1: Float64Array; e2: Float64Array; floor: Float64Array }
function frameTables(e: Float64Array, frames: number): FrameTables {
  const e1 = new Float64Array(PAIRS * frames);
  const e2 = new Float64Array(PAIRS * frames);
  const et = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let t = 0;
    for (let b = 0; b < BANDS; b++) t += e[b * frames + f]!;
    et[f] = t;
    for (let p = 0; p < PAIRS; p++) {
      e1[p * frames + f] = e[2 * p * frames + f]!;
      e2[p * frames + f] = e[(2 * p + 1) * frames + f]!;
    }
  }
  return { frames, et, e1, e2, floor: noiseFloor(e, et, frames) };
}

/**
 * Cell statistics of the tile starting at frame a: R[p] = ln of the ratio of the two bands'
 * tapered energy sums, divided by the pair's step factor (PAIR_STEP_SCALE). A slot gain scales
 * every frame of the slot, so R moves by the commanded amount, and a sum is led by the strong
 * frames, which added noise or a codec barely moves (a mean of per-frame log ratios, version 2's
 * statistic, gave weak frames as much say and lost the mark after white noise at 30 dB SNR). W[p] = reliability 0–1 from the energy share
 * (SHARE_KNEE); WN[p] = W[p] also scaled by the band's SNR over the noise floor (SNR_KNEE);
 * S1/S2 = the two sums (for the embedder's cost split).
 */
function tileAt(ft: FrameTables, a: number, tw: Float64Array, R: Float64Array, W: Float64Array, WN?: Float64Array, S1?: Float64Array, S2?: Float64Array): void {
  const F = ft.frames;
  let etile = 0;
  let tsum = 0;
  for (let i = 0; i < tw.length; i++) { etile += tw[i]! * ft.et[a + i]!; tsum += tw[i]!; }
  etile += 1e-30;
  // Tile-level floor keeps logs finite in digital silence and is unchanged by gain.
  const eps = 1e-6 * etile + 1e-24;
  for (let p = 0; p < PAIRS; p++) {
    let s1 = 0;
    let s2 = 0;
    const base = p * F + a;
    for (let i = 0; i < tw.length; i++) { s1 += tw[i]! * ft.e1[base + i]!; s2 += tw[i]! * ft.e2[base + i]!; }
    R[p] = Math.log((s1 + eps) / (s2 + eps)) * INV_PAIR_STEP_SCALE[p]!;
    const share = (BANDS * Math.min(s1, s2)) / etile;
    W[p] = share / (share + SHARE_KNEE);
    if (WN) {
      const snr = Math.min(s1 / (ft.floor[2 * p]! * tsum + 1e-30), s2 / (ft.floor[2 * p + 1]! * tsum + 1e-30));
      WN[p] = W[p]! * (snr / (snr + SNR_KNEE[p]!));
    }
    if (S1) { S1[p] = s1; S2![p] = s2; }
  }
}

const COS_TABLE_SIZE = 4096;
const COS_TABLE = (() => {
  const t = new Float64Array(COS_TABLE_SIZE);
  for (let i = 0; i < COS_TABLE_SIZE; i++) t[i] = Math.cos((2 * Math.PI * i) / COS_TABLE_SIZE);
  return t;
})();
function cosTurns(turns: number): number {
  const f = turns - Math.floor(turns);
  // The mask only matters for turns just below an integer, where f rounds up to 1 (and the
  // index would fall off the table); cos is 1 there.
  return COS_TABLE[((f * COS_TABLE_SIZE) | 0) & (COS_TABLE_SIZE - 1)]!;
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
  const m16 = embedAt16k(x16, payload, options);
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

/**
 * Returns the additive mark (marked − host) at 16 kHz: one gain per (slot, band), chosen so
 * each cell's tile statistic R lands on its lattice point, re-measured and corrected once
 * (cross-fades at slot edges move R slightly).
 */
function embedAt16k(x: Float32Array, payload: Uint8Array, options: AudioEmbedOptions): Float32Array {
  const delta = options.delta ?? DEFAULT_AUDIO_DELTA;
  const iterations = options.iterations ?? 2;
  const lay = layout();
  const code = payloadCodeword(payload);
  const fft = sharedFft();
  const d = fft.data;
  const synWin = hann(FRAME, true);
  const anaWin = hann(FRAME);
  const bandOfBin = new Int8Array(BINS).fill(-1);
  for (let b = 0; b < BANDS; b++) for (let k = BAND_EDGE_BINS[b]!; k < BAND_EDGE_BINS[b + 1]!; k++) bandOfBin[k] = b;
  const loBin = BAND_EDGE_BINS[0]!;
  const hiBin = BAND_EDGE_BINS[BANDS]!;
  const synFrames = Math.ceil(x.length / SYN_HOP) + 1;

  // Host STFT (sqrt-Hann 512, hop 256): frame g covers samples [g·256 − 128, g·256 + 384) and
  // takes the gain of the slot holding its centre, so gains cross-fade over one frame.
  const specRe = new Float64Array(synFrames * BINS);
  const specIm = new Float64Array(synFrames * BINS);
  // Four frames per paired FFT: (g, g+1) as real and imaginary parts of lane 0, (g+2, g+3) of lane 1.
  for (let g = 0; g < synFrames; g += 4) {
    for (let q = 0; q < 4; q++) {
      const slot = (q & 1) * 2 + (q >> 1);
      const start = g * SYN_HOP - 128 + q * SYN_HOP;
      const live = g + q < synFrames;
      for (let i = 0; i < FRAME; i++) {
        const a = start + i;
        d[4 * i + slot] = live && a >= 0 && a < x.length ? x[a]! * synWin[i]! : 0;
      }
    }
    fft.transform();
    for (let lane = 0; lane < 2; lane++) {
      const ga = g + 2 * lane;
      if (ga >= synFrames) break;
      const two = ga + 1 < synFrames;
      for (let k = loBin; k < hiBin; k++) {
        const ok = 4 * k + lane, on = 4 * (FRAME - k) + lane;
        specRe[ga * BINS + k] = (d[ok]! + d[on]!) / 2;
        specIm[ga * BINS + k] = (d[ok + 2]! - d[on + 2]!) / 2;
        if (two) {
          specRe[(ga + 1) * BINS + k] = (d[ok + 2]! + d[on + 2]!) / 2;
          specIm[(ga + 1) * BINS + k] = (d[on]! - d[ok]!) / 2;
        }
      }
    }
  }
  const totalSlots = Math.ceil(x.length / SLOT_SAMPLES);
  const slotOfFrame = new Int32Array(synFrames);
  for (let g = 0; g < synFrames; g++) slotOfFrame[g] = Math.min(totalSlots - 1, Math.floor((g * SYN_HOP + 128) / SLOT_SAMPLES));
  const logGain = new Float64Array(totalSlots * BANDS);

  const synthesizeMark = (): Float64Array => {
    const d = fft.data; // afresh: analysisPowers (the FFT kernel) may have grown its memory since
    const out = new Float64Array(x.length);
    const gains = new Float64Array(totalSlots * BANDS);
    for (let i = 0; i < gains.length; i++) gains[i] = Math.exp(logGain[i]!) - 1;
    const anyInLane = [false, false];
    for (let g = 0; g < synFrames; g += 4) {
      d.fill(0);
      for (let lane = 0; lane < 2; lane++) {
        const g0 = g + 2 * lane;
        anyInLane[lane] = false;
        if (g0 >= synFrames) continue;
        const two = g0 + 1 < synFrames;
        const ga = slotOfFrame[g0]! * BANDS;
        const gb = two ? slotOfFrame[g0 + 1]! * BANDS : 0;
        for (let k = loBin; k < hiBin; k++) {
          const band = bandOfBin[k]!;
          const fa = gains[ga + band]!;
          const fb = two ? gains[gb + band]! : 0;
          if (fa === 0 && fb === 0) continue;
          anyInLane[lane] = true;
          const ar = specRe[g0 * BINS + k]! * fa;
          const ai = specIm[g0 * BINS + k]! * fa;
          const br = two ? specRe[(g0 + 1) * BINS + k]! * fb : 0;
          const bi = two ? specIm[(g0 + 1) * BINS + k]! * fb : 0;
          // Pack two Hermitian spectra as A + iB and invert once.
          const ok = 4 * k + lane, on = 4 * (FRAME - k) + lane;
          d[ok] = ar - bi;
          d[ok + 2] = ai + br;
          d[on] = ar + bi;
          d[on + 2] = -ai + br;
        }
      }
      if (!anyInLane[0] && !anyInLane[1]) continue;
      fft.transform(true);
      for (let lane = 0; lane < 2; lane++) {
        if (!anyInLane[lane]) continue;
        const g0 = g + 2 * lane;
        const two = g0 + 1 < synFrames;
        const s0 = g0 * SYN_HOP - 128;
        for (let i = 0; i < FRAME; i++) {
          const a = s0 + i;
          if (a >= 0 && a < x.length) out[a] = out[a]! + (d[4 * i + lane]! / FRAME) * synWin[i]!;
          const b = a + SYN_HOP;
          if (two && b >= 0 && b < x.length) out[b] = out[b]! + (d[4 * i + 2 + lane]! / FRAME) * synWin[i]!;
        }
      }
    }
    return out;
  };

  const n = taperN(FRAMES_PER_SLOT);
  const tw = taper(n);
  const target = new Float64Array(totalSlots * PAIRS).fill(NaN);
  const R = new Float64Array(PAIRS), W = new Float64Array(PAIRS), S1 = new Float64Array(PAIRS), S2 = new Float64Array(PAIRS);
  let mark: Float64Array | null = null;
  const y = new Float32Array(x.length);
  for (let it = 0; it < iterations; it++) {
    if (mark) for (let i = 0; i < x.length; i++) y[i] = x[i]! + mark[i]!;
    else y.set(x);
    const { frames, power } = analysisPowers(y, fft, anaWin);
    const ft = frameTables(bandSeries(power, frames, 1), frames);
    for (let s = 0; s < totalSlots; s++) {
      const a = s * FRAMES_PER_SLOT + MARGIN;
      if (a + tw.length > frames) break;
      tileAt(ft, a, tw, R, W, undefined, S1, S2);
      const t = s % SLOTS;
      for (let p = 0; p < PAIRS; p++) {
        if (W[p]! < 0.02) continue; // silence or an empty band: nothing to carry the mark
        const cell = t * PAIRS + p;
        const ti = s * PAIRS + p;
        if (Number.isNaN(target[ti]!)) {
          const offset = (lay.dither[cell]! + code[lay.bitOfCell[cell]!]! * 0.5) * delta;
          target[ti] = Math.round((R[p]! - offset) / delta) * delta + offset;
        }
        const d = (target[ti]! - R[p]!) * PAIR_STEP_SCALE[p]!; // back to nats
        // Log-energy changes a1 − a2 = d with least added energy: a1 ∝ E2, a2 ∝ −E1; the
        // amplitude gain is half the log-energy change.
        const e1 = S1[p]! + 1e-30, e2 = S2[p]! + 1e-30;
        const i1 = s * BANDS + 2 * p;
        const i2 = i1 + 1;
        logGain[i1] = clampGain(logGain[i1]! + (d * e2) / (e1 + e2) / 2);
        logGain[i2] = clampGain(logGain[i2]! - (d * e1) / (e1 + e2) / 2);
      }
    }
    mark = synthesizeMark();
  }
  return Float32Array.from(mark ?? new Float64Array(x.length));
}

function clampGain(v: number): number {
  return Math.max(-0.5, Math.min(0.5, v));
}

export interface AudioDetection {
  has_watermark: boolean;
  /** Calibrated to the unmarked-audio null: 0.5 at the decision threshold. */
  confidence: number;
  payload_hex: string | null;
  /** Decoded payload bits, reported even when the CRC fails (for bit-accuracy measurements). */
  payload_bits: string | null;
  /**
   * Coded-bit disagreements between the soft input and the re-encoded decoded payload, plus
   * half (rounded up) of the coded bits with no evidence at all (see decodeSoft).
   */
  bit_errors: number | null;
  crc_ok: boolean;
  sync_z: number;
  /** One-sided null p-value of the sync statistic, corrected for the number of alignments tried. */
  p_value: number;
  /** Speed factor of the best alignment (1.03 = played 3 % faster). */
  time_scale: number;
  /** Present (true) when the mark was found by undoing a tempo change that kept the pitch. */
  pitch_kept?: boolean;
  offset_seconds: number;
  windows: number;
  /**
   * How the mark was found: 'decode' (blind Viterbi decoding, payload read from the audio) or
   * 'known_payload' (the correlation test of one named payload, see AudioDetectOptions.knownPayload);
   * 'decode_known': a blind decode after undoing a speed or tempo change that the time-scale
   * search accepted only because it reads exactly the tested payload (over the strict rule's
   * error count).
   */
  detected_by?: 'decode' | 'decode_known' | 'known_payload';
  /** Best z of the known-payload test over the alignments it tried, when it ran. */
  known_payload_z?: number;
}

interface Candidate { z: number; num: number; den: number; soft: Float64Array; speed: number; pitch: boolean; noiseAware: boolean; offsetFrames: number }

/**
 * Per-hypothesis tables for one window: ratio and weight per (pair, start frame). Every speed
 * comes twice, with the plain and the noise-aware cell weights: the noise-aware ones rescue
 * noisy and codec-damaged recordings, but on a clean 3 s excerpt with few pauses the "floor" is
 * quiet speech and they throw away good cells (3 s excerpts 10/12 with them alone, 12/12 plain).
 */
interface Hypothesis {
  speed: number; pitch: boolean; noiseAware: boolean; slotFrames: number; starts: number;
  /** Per (start a, pair p) at [a·PAIRS + p]: the pairs of one tile sit next to each other. */
  ratio: Float64Array; weight: Float64Array;
  /** 2R/Δ in cosine-table steps plus INDEX_OFFSET, so the offset scan only subtracts the dither. */
  syncIndex: Float64Array;
}

/**
 * Keeps the sync cosine's table index positive before truncation (|2R/Δ| stays far below 1024
 * turns: R is a log ratio bounded by the tile floor), so (x | 0) & mask is floor(x) mod size.
 */
const INDEX_OFFSET = 1024 * COS_TABLE_SIZE;

function buildHypotheses(power: Float64Array, frames: number, delta: number, bandScale = 1): Hypothesis[] {
  const out: Hypothesis[] = [];
  const tables = new Map<number, FrameTables>();
  const R = new Float64Array(PAIRS), W = new Float64Array(PAIRS), WN = new Float64Array(PAIRS);
  for (const speed of SPEEDS) {
    for (const pitch of speed === 1 ? [false] : [false, true]) {
      const fs = (pitch ? speed : 1) * bandScale;
      let ft = tables.get(fs);
      if (!ft) { ft = frameTables(bandSeries(power, frames, fs), frames); tables.set(fs, ft); }
      const slotFrames = FRAMES_PER_SLOT / speed;
      const tw = taper(taperN(slotFrames));
      const starts = Math.max(0, frames - tw.length + 1);
      const ratio = new Float64Array(PAIRS * starts);
      const weight = new Float64Array(PAIRS * starts);
      const weightNoise = new Float64Array(PAIRS * starts);
      for (let a = 0; a < starts; a++) {
        tileAt(ft, a, tw, R, W, WN);
        for (let p = 0; p < PAIRS; p++) {
          ratio[a * PAIRS + p] = R[p]!;
          weight[a * PAIRS + p] = W[p]! > 0.05 ? W[p]! : 0;
          weightNoise[a * PAIRS + p] = WN[p]! > 0.05 ? WN[p]! : 0;
        }
      }
      // The sync cosine's table index before the cell's dither is taken off (see alignmentSums).
      const syncIndex = new Float64Array(ratio.length);
      const scale = (2 * COS_TABLE_SIZE) / delta;
      for (let i = 0; i < ratio.length; i++) syncIndex[i] = ratio[i]! * scale + INDEX_OFFSET;
      out.push({ speed, pitch, noiseAware: false, slotFrames, starts, ratio, weight, syncIndex });
      out.push({ speed, pitch, noiseAware: true, slotFrames, starts, ratio, weight: weightNoise, syncIndex });
    }
  }
  return out;
}

/**
 * Walks the cells of one alignment: out[0..1] = sync numerator and weight sum with the
 * hypothesis' own weights; with weight2 (the noise-aware weights over the same ratios), also
 * out[2..3] for those, from the same cosine; with soft, adds each cell's soft bit. With index
 * and ditherIndex of a known codeword (KnownCodeword), the numerators are that codeword's
 * correlation instead of the sync statistic.
 */
function alignmentSums(h: Hypothesis, o: number, delta: number, lay: Layout, out: Float64Array, soft: Float64Array | null, weight2: Float64Array | null = null, index: Float64Array = h.syncIndex, ditherIndex: Float64Array = lay.ditherIndex): void {
  const L = h.slotFrames;
  const m = MARGIN / h.speed;
  let num = 0, den = 0, num2 = 0, den2 = 0;
  const kMin = Math.ceil((-o - m) / L - 1e-9);
  const invDelta = 1 / delta;
  for (let k = kMin; ; k++) {
    const a = Math.round(o + k * L + m);
    if (a < 0) continue;
    if (a >= h.starts) break;
    const cellBase = (((k % SLOTS) + SLOTS) % SLOTS) * PAIRS;
    const base = a * PAIRS;
    for (let p = 0; p < PAIRS; p++) {
      const idx = base + p;
      const w = h.weight[idx]!;
      if (w === 0) continue; // the noise-aware weight is never above the plain one
      const cell = cellBase + p;
      // cos(2π·2(R/Δ − dither)) by table: the same index cosTurns(2u) would take.
      const c = COS_TABLE[((index[idx]! - ditherIndex[cell]!) | 0) & (COS_TABLE_SIZE - 1)]!;
      num += w * c;
      den += w * w;
      if (weight2) { const w2 = weight2[idx]!; num2 += w2 * c; den2 += w2 * w2; }
      if (soft) soft[lay.bitOfCell[cell]!] = soft[lay.bitOfCell[cell]!]! + w * cosTurns(h.ratio[idx]! * invDelta - lay.dither[cell]!);
    }
  }
  out[0] = num; out[1] = den; out[2] = num2; out[3] = den2;
}

/** One per thread; it keeps a copy of the (single, cached) layout's dithers and the cosine table. */
let offsetKernel: OffsetScanKernel | null = null;
const sharedOffsetKernel = (lay: Layout) => (offsetKernel ??= new OffsetScanKernel(COS_TABLE, lay.ditherIndex));
/** offset-scan.wat is written for 27 slots of 10 pairs and a 4096-entry cosine table. */
const OFFSET_KERNEL_FITS = SLOTS === 27 && PAIRS === 10 && COS_TABLE_SIZE === 4096;
/** Tests turn the kernel off to compare it with the JavaScript loop. */
let useOffsetKernel = true;

/**
 * A payload tested by correlation (the known-payload test, detectAudioWatermark). For every cell
 * the expected coset is known, so cos(2π(R/Δ − dither − codebit/2)) is +1 on the mark and
 * averages 0 elsewhere: the same table walk as the sync statistic, at the first harmonic and with
 * the code bit folded into the dither. Per cell the first harmonic keeps far more of a damaged
 * mark than the sync statistic's second (a lattice fit f at the first is roughly f⁴ at the
 * second), and no decoder has to get 108 coded bits right, so the test reaches marks that
 * noise or a codec left too weak to decode blind, at the price of naming the payload first.
 */
interface KnownCodeword {
  payload: Uint8Array;
  code: Uint8Array;
  /** The payload in hex: names the dither table loaded into the offset-scan kernel. */
  key: string;
  /** (dither + codebit/2) in cosine-table steps, per cell. */
  ditherIndex: Float64Array;
}
const knownCodewords = new Map<string, KnownCodeword>();
function knownCodeword(payload: Uint8Array): KnownCodeword {
  const key = toHex(payload);
  let known = knownCodewords.get(key);
  if (!known) {
    const lay = layout();
    const code = payloadCodeword(payload);
    const ditherIndex = new Float64Array(CELLS);
    for (let c = 0; c < CELLS; c++) ditherIndex[c] = (lay.dither[c]! + 0.5 * code[lay.bitOfCell[c]!]!) * COS_TABLE_SIZE;
    known = { payload: Uint8Array.from(payload), code, key, ditherIndex };
    // A service tests the default payload and the odd custom message: a few are enough.
    if (knownCodewords.size >= 4) knownCodewords.delete(knownCodewords.keys().next().value!);
    knownCodewords.set(key, known);
  }
  return known;
}

/** R/Δ in cosine-table steps plus INDEX_OFFSET: the known-payload test's table index. */
function knownIndexOf(h: Hypothesis, delta: number): Float64Array {
  const index = new Float64Array(h.ratio.length);
  const scale = COS_TABLE_SIZE / delta;
  for (let i = 0; i < index.length; i++) index[i] = h.ratio[i]! * scale + INDEX_OFFSET;
  return index;
}

const scratchSums = new Float64Array(4);
/** Sync statistic (and optionally soft bits) of one alignment. */
function evaluate(h: Hypothesis, o: number, delta: number, lay: Layout, soft: Float64Array | null): { z: number; num: number; den: number } {
  alignmentSums(h, o, delta, lay, scratchSums, soft);
  const num = scratchSums[0]!, den = scratchSums[1]!;
  return { z: den > 0 ? num / Math.sqrt(den / 2) : 0, num, den };
}

/** The `keep` offsets with the highest sync z = num/√(den/2), best first (one linear pass). */
function topOffsets(num: Float64Array, den: Float64Array, keep: number): number[] {
  const best: number[] = [];
  const bestZ: number[] = [];
  for (let o = 0; o < num.length; o++) {
    const d = den[o]!;
    const z = d > 0 ? num[o]! / Math.sqrt(d / 2) : 0;
    if (best.length === keep && z <= bestZ[keep - 1]!) continue;
    let i = best.length < keep ? best.length : keep - 1;
    while (i > 0 && bestZ[i - 1]! < z) { if (i < keep) { best[i] = best[i - 1]!; bestZ[i] = bestZ[i - 1]!; } i--; }
    best[i] = o;
    bestZ[i] = z;
  }
  return best;
}

/**
 * Per-offset sync sums of one nominal-speed hypothesis of one window (for joint sync), and the
 * known codeword's correlation sums when one is tested (same weights, so the same den).
 */
interface SyncProfile { hyp: Hypothesis; num: Float64Array; den: Float64Array; knownNum: Float64Array | null }

/**
 * Searches all alignments of one window; returns the best candidates, the count tried and the
 * nominal-speed sync profiles, one per weighting (so detectAudioWatermark can add windows up).
 */
function searchWindow(x16: Float32Array, delta: number, keep: number, known: KnownCodeword | null = null, bandScale = 1): { best: Candidate[]; tried: number; profiles: SyncProfile[]; frames: number; power: Float64Array } {
  const lay = layout();
  const { frames, power } = analysisPowers(x16, sharedFft(), ANALYSIS_WINDOW);
  const hyps = buildHypotheses(power, frames, delta, bandScale);
  const best: Candidate[] = [];
  let tried = 0;
  const consider = (c: Candidate) => {
    // Keep distinct alignments only (neighbouring offsets of one peak decode alike).
    for (let i = 0; i < best.length; i++) {
      const b = best[i]!;
      if (b.speed === c.speed && b.pitch === c.pitch && b.noiseAware === c.noiseAware && Math.abs(b.offsetFrames - c.offsetFrames) <= 2) {
        if (c.z > b.z) { best[i] = c; best.sort((x, y) => y.z - x.z); }
        return;
      }
    }
    if (best.length < keep || c.z > best[best.length - 1]!.z) {
      best.push(c);
      best.sort((x, y) => y.z - x.z);
      if (best.length > keep) best.pop();
    }
  };
  const profiles: SyncProfile[] = [];
  const sums = new Float64Array(4);
  // Hypotheses come in (plain, noise-aware) pairs over the same ratios.
  for (let hi = 0; hi < hyps.length; hi += 2) {
    const pair = [hyps[hi]!, hyps[hi + 1]!];
    const period = SLOTS * pair[0]!.slotFrames;
    const nominal = pair[0]!.speed === 1 && !pair[0]!.pitch;
    const num = [new Float64Array(period), new Float64Array(period)];
    const den = [new Float64Array(period), new Float64Array(period)];
    const L = pair[0]!.slotFrames, m = MARGIN / pair[0]!.speed;
    // The known-payload test's correlation sums, when a payload is tested (nominal speed only).
    const knownNum = known && nominal ? [new Float64Array(period), new Float64Array(period)] : null;
    const knownIndex = knownNum ? knownIndexOf(pair[0]!, delta) : null;
    if (useOffsetKernel && OFFSET_KERNEL_FITS && Number.isInteger(L) && Number.isInteger(m)) {
      // The same sums from the WebAssembly kernel, bit for bit (integer slot lengths only), with
      // the known codeword's in the same walk when one is tested.
      const kernel = sharedOffsetKernel(lay);
      if (knownIndex) kernel.setKnownDither(known!.key, known!.ditherIndex);
      const out = knownIndex
        ? kernel.scanWithKnown(pair[0]!.weight, pair[1]!.weight, pair[0]!.syncIndex, knownIndex, pair[0]!.starts, period, L, m)
        : kernel.scan(pair[0]!.weight, pair[1]!.weight, pair[0]!.syncIndex, pair[0]!.starts, period, L, m);
      const stride = knownIndex ? 6 : 4;
      for (let o = 0; o < period; o++) {
        const at = stride * o;
        num[0]![o] = out[at]!; den[0]![o] = out[at + 1]!;
        num[1]![o] = out[at + 2]!; den[1]![o] = out[at + 3]!;
        if (knownNum) { knownNum[0]![o] = out[at + 4]!; knownNum[1]![o] = out[at + 5]!; }
      }
      tried += 2 * period;
    } else {
      for (let o = 0; o < period; o++) {
        tried += 2;
        alignmentSums(pair[0]!, o, delta, lay, sums, null, pair[1]!.weight);
        num[0]![o] = sums[0]!; den[0]![o] = sums[1]!;
        num[1]![o] = sums[2]!; den[1]![o] = sums[3]!;
        if (knownNum) {
          alignmentSums(pair[0]!, o, delta, lay, sums, null, pair[1]!.weight, knownIndex!, known!.ditherIndex);
          knownNum[0]![o] = sums[0]!; knownNum[1]![o] = sums[2]!;
        }
      }
    }
    for (let v = 0; v < 2; v++) {
      const h = pair[v]!;
      if (nominal) profiles.push({ hyp: h, num: num[v]!, den: den[v]!, knownNum: knownNum ? knownNum[v]! : null });
      for (const o of topOffsets(num[v]!, den[v]!, keep)) {
        const soft = new Float64Array(CODED_BITS);
        const r = evaluate(h, o, delta, lay, soft);
        consider({ ...r, soft, speed: h.speed, pitch: h.pitch, noiseAware: h.noiseAware, offsetFrames: o });
      }
    }
  }
  return { best, tried, profiles, frames, power };
}

/**
 * Windows whose sync profiles are added up for one joint decision. 16 windows of ≤ 4 s cover a
 * whole chunk of media-watermark.ts (20 periods, 54 s) and keep the stored tables to a few MB.
 */
const JOINT_WINDOWS = 16;
/** Joint alignments Viterbi-decoded per phase; each adds ~2⁻¹⁶ chance of a CRC pass on noise. */
const JOINT_CANDIDATES = 4;
/**
 * Joint alignments decoded beyond those, under the strict rule only. After white noise the
 * correct joint alignment's z is often no higher than the best chance alignment (null max
 * ≈ 3.3–5), so it ranks 5th–16th; it then decodes with few coded errors although its z is low.
 */
const JOINT_EXTRA_CANDIDATES = 12;
/**
 * Strict rule for those extra decodes: CRC match and at most this many coded-bit errors, at any
 * z. On unmarked audio the best decode disagrees on at least 15 coded bits (v2 notes, 1000
 * clips), so a chance CRC pass (2⁻¹⁶ per decode) that also clears 12 is far rarer still; the
 * correct extra decodes after noise had 12 and 18 errors on the 12 bench hosts (one-off run).
 */
const STRICT_CODED_ERRORS = 12;
/**
 * A single window's decode with more than STRICT_CODED_ERRORS errors, in a file of several
 * windows, must be confirmed by the others: their soft bits at the same alignment must lean
 * towards the decoded codeword with z ≥ CONFIRM_Z (≈ 7 % of chance decodes pass). A mark on the
 * whole file is present in every window, so even after an attack the others lean its way; a
 * chance CRC pass in one window has nothing behind it. Long unmarked files make hundreds of
 * decodes (a 54 s chunk about 576), so without this their chance passes would add up to a few
 * per thousand files. A clean decode (≤ 12 errors) needs no confirmation, so a marked clip
 * spliced into a longer unmarked recording is still found.
 */
const CONFIRM_Z = 1.5;
/**
 * The best JOINT_CANDIDATES joint decodes pass the ordinary rule only with at most this many
 * coded errors, or with z ≥ JOINT_HIGH_Z. Measured (eighth session, one-off instrumented runs):
 * of 7040 such decodes on the 220 unmarked 10 s bench files, 38.6 % clear z ≥ 2.5 and ≤ 22
 * errors, 14.6 % this rule too; the 37 correct joint detections on the 60 `WM_AUDIO_HOSTSET=more`
 * hosts after white noise, AAC 64k and a 3 s excerpt after MP3 64k had 3–19 errors, and the one
 * with 19 had z 3.13, so all 37 pass. The one unmarked file the v4 bench run flagged (a chance
 * CRC pass, z 2.74, 19 errors) does not.
 */
const JOINT_MAX_CODED_ERRORS = 18;
const JOINT_HIGH_Z = 3.0;

/**
 * Detects the audio watermark in a mono signal at any sample rate.
 *
 * Each window of ≤ 4 s is searched on its own (a file spliced from differently aligned pieces
 * still decodes piece by piece). Window starts sit on the analysis-frame grid, so an alignment of
 * one window is the same alignment, modulo the period, in every other window at the same phase.
 * When no single window decodes, the sync sums of all windows of a block are added per global
 * alignment and the soft bits of the best joint alignments are summed over the windows before
 * decoding: a 10 s file then decodes from ~3.7 copies of the codeword instead of one window's
 * ~1.2, which is what a codec or added noise needs (measured in docs/watermarking.md).
 */
export function detectAudioWatermark(samples: Float32Array, sampleRate: number, options: AudioDetectOptions = {}): AudioDetection {
  const x16 = sampleRate === AUDIO_WM_RATE ? samples : resample(samples, sampleRate, AUDIO_WM_RATE);
  const delta = options.delta ?? DEFAULT_AUDIO_DELTA;
  const knownPayload = options.knownPayload === undefined ? (options.expectedPayload ?? payloadFromMessage(null, AUDIO_PAYLOAD_BITS / 8)) : options.knownPayload;
  const known = knownPayload ? knownCodeword(knownPayload) : null;
  const nominal = detectAtNominalSpeed(x16, delta, known);
  let best = nominal;
  const mode = options.timeScaleSearch ?? 'auto';
  if (!nominal.accepted && mode !== 'off') {
    // Played faster or slower: estimate the factor from the mark's own period, undo it by
    // resampling (which restores time and frequency alike) and search again at nominal speed.
    // By default only estimates whose period peak stands well clear of what unmarked audio
    // shows get that search (TIME_SCALE_AUTO_Z), so unmarked input pays for the scan alone.
    // Content with almost nothing above 1–2 kHz (a low-passed recording, bass-heavy music)
    // leaves the scan only faint bands to read, so its true estimate rarely reaches the
    // automatic gate: such input gets the full search (LOW_BAND_SHARE).
    const estimates = timeScaleCandidates(x16, TIME_SCALE_CANDIDATES, nominal.powers);
    const lowBand = estimates.length > 0 && highBandShare(nominal.powers) < LOW_BAND_SHARE;
    // The low-band rule widens the speed search only: a tempo estimate always needs the gate.
    const candidates = estimates
      .filter((c) => mode === 'full' || c.z >= TIME_SCALE_AUTO_Z || (lowBand && !c.pitchKept))
      .sort((a, b) => b.z - a.z);
    // Strict rule only: each candidate is one more full search that a chance CRC pass could win
    // (or a known-payload detection, whose gate allows for these searches' alignments too). A
    // decode under the ordinary rule that reads exactly the tested payload also counts: a chance
    // CRC pass would have to land on those 32 bits as well (2⁻⁴⁸ per decode). After a tempo
    // change most true decodes come out this way, with 14–20 coded errors (bench, 12 hosts).
    const isKnown = (d: NominalDetection) => known != null && d.decodedPayload != null && samePayload(known.payload, d.decodedPayload);
    const strict = (d: NominalDetection) => d.crc_ok && (d.bit_errors ?? CODED_BITS) <= STRICT_CODED_ERRORS;
    const strictOk = (d: NominalDetection) => d.accepted && (d.detected_by === 'known_payload' || isKnown(d) || strict(d));
    let searches = 0;
    search: for (const { speed: estimate, pitchKept } of candidates) {
      // A near miss (CRC match, coded errors within the ordinary rule's reach but over the
      // strict rule's) gets two more tries at speeds a hair either side: see SPEED_NUDGE.
      for (const speed of [estimate, estimate * (1 - SPEED_NUDGE), estimate * (1 + SPEED_NUDGE)]) {
        // Resampling restores time and frequency alike; after a tempo change it restores time
        // and shifts every frequency by 1/speed, which the band layout then follows.
        const undone = detectAtNominalSpeed(resample(x16, AUDIO_WM_RATE, AUDIO_WM_RATE * speed), delta, known, pitchKept ? 1 / speed : 1);
        searches++;
        if (strictOk(undone)) {
          if (undone.detected_by === 'decode' && !strict(undone)) undone.detected_by = 'decode_known';
          best = { ...undone, time_scale: round(speed, 4), ...(pitchKept ? { pitch_kept: true } : {}), offset_seconds: round(undone.offset_seconds / speed, 4), windows: nominal.windows, p_value: Math.min(1, undone.p_value * Math.max(candidates.length, searches)) };
          break search;
        }
        if (!(undone.crc_ok && (undone.bit_errors ?? CODED_BITS) <= MAX_CODED_ERRORS)) break;
      }
    }
  }
  const { accepted, decodedPayload, powers: _powers, ...detection } = best;
  let detected = accepted;
  if (detected && options.expectedPayload) detected = decodedPayload != null && samePayload(options.expectedPayload, decodedPayload);
  const confidence = detected && detection.detected_by === 'known_payload' ? knownConfidenceOf(detection.known_payload_z!) : confidenceOf(detection.sync_z, detection.crc_ok, detected);
  return { ...detection, has_watermark: detected, confidence };
}

export type TimeScaleSearch = 'off' | 'auto' | 'full';

/**
 * Gate of the known-payload test's z (≈ N(0,1) per alignment on unmarked audio, the cells'
 * dithers being independent). One nominal search of a block tries 4 phases × 2 weightings ×
 * 432 offsets = 3456 alignments; a time-scale search adds up to 9 more searches. 6 σ puts
 * 35 000 alignments at about 3.5·10⁻⁵ per input by the Gaussian tail; the empirical null is in
 * docs/watermarking.md. Since version 4.3 the full search may also try three tempo estimates
 * (nine more searches with their nudges): 66 000 alignments, about 6.6·10⁻⁵ per input.
 */
export const KNOWN_PAYLOAD_Z = 6;

export interface AudioDetectOptions {
  delta?: number;
  /** has_watermark also requires this payload. */
  expectedPayload?: Uint8Array;
  /**
   * Payload for the known-payload test, which runs when blind decoding finds nothing: the
   * correlation of the audio with this payload's codeword at every alignment, accepted at z ≥
   * KNOWN_PAYLOAD_Z. Default: expectedPayload, else the default message's payload (what marks
   * applied without custom_message carry); null turns the test off (blind decoding only).
   */
  knownPayload?: Uint8Array | null;
  /**
   * Marks played up to ±5 % faster or slower (resampling speed change: time and pitch; or,
   * since version 4.3, a tempo change that keeps the pitch), looked for only when nothing is
   * found at nominal speed, on inputs of about 5.7 s or more:
   * - 'auto' (default): the period scan (timeScaleCandidates; on a 10 s file about as costly
   *   as the nominal search since both moved their inner loops to WebAssembly), then one more full search per estimate whose period z
   *   reaches TIME_SCALE_AUTO_Z — speech marks do, unmarked audio does not — and, on content
   *   with almost no energy above 2 kHz (LOW_BAND_SHARE), the full search;
   * - 'full': one more full search for each of the best three speed estimates and the best
   *   three tempo estimates whatever their z, which also finds weak marks (a host with little
   *   energy above 1 kHz) at several times the cost on unmarked input (the low-band rule of
   *   'auto' gives such content the speed estimates only);
   * - 'off': nominal speed only.
   */
  timeScaleSearch?: TimeScaleSearch;
}

/**
 * Relative speed step of the retries after a near miss of the strict rule. Once the speed is
 * right to within about 0.01 %, how many coded bits a search gets wrong depends mostly on where
 * the resampled signal's samples fall against the 25-sample analysis phases, not on the
 * remaining error: on a low-passed tuning host at 1.03 the undo at the estimate (0.01 % off)
 * gave 13 coded errors, at the true speed 4, and at ±0.005 % steps around the estimate
 * 2, 5, 5, 13, 4, 4, 6 (one-off script). Near misses are rare on unmarked input (they need a
 * chance CRC match), so the retries cost it almost nothing.
 */
const SPEED_NUDGE = 5e-5;

/**
 * Below this share of its band power above 2 kHz (highBandShare) an input counts as low-band
 * content, and the automatic search searches the best estimates as the full search does,
 * whatever their z. Chosen on the tuning hosts (48 French 10–34 s hosts) and the unit test's
 * espeak clip: speech 2.7·10⁻³–0.031 (median 8.2·10⁻³; espeak 0.063), the same low-passed at
 * 900 Hz (twice, as the bench does) 7.5·10⁻⁵ at most (the next 1.9·10⁻⁵; espeak 2.6·10⁻⁵,
 * 4.3·10⁻⁵ after +5 % speed, which moves the cut-off up). The share above 1125 Hz, where the scan's bands start,
 * separated them less (speech from 9.7·10⁻³, low-passed up to 0.028). On 12 of those hosts
 * low-passed, marked and played at 1.03, 0.95 and 1.05, the automatic search found 4, 5 and 4
 * of 12 without this rule and, like the full search, 10, 10 and 11 with it (one-off script,
 * docs/watermarking.md). It costs up to TIME_SCALE_CANDIDATES more searches, each under the
 * strict rule, on such input only.
 */
const LOW_BAND_SHARE = 4e-4;
/** highBandShare splits at the lower edge of band 15: bin 64, 2 kHz. */
const LOW_BAND_SPLIT_BAND = 15;

/**
 * Share of the analysed power (bins of bands 0–19, 156–3500 Hz) in bands 15–19 (2–3.5 kHz), over
 * the nominal search's phase-0 frames (the first TIME_SCALE_SCAN_SECONDS of the input).
 */
function highBandShare(powers: readonly WindowPowers[]): number {
  const lo = BAND_EDGE_BINS[0]! - POWER_LO;
  const mid = BAND_EDGE_BINS[LOW_BAND_SPLIT_BAND]! - POWER_LO;
  const hi = BAND_EDGE_BINS[BANDS]! - POWER_LO;
  let high = 0;
  let all = 0;
  for (const w of powers) {
    if (w.phase !== 0) continue;
    for (let f = 0; f < w.frames; f++) {
      const base = f * POWER_BINS;
      for (let k = lo; k < mid; k++) all += w.power[base + k]!;
      for (let k = mid; k < hi; k++) high += w.power[base + k]!;
    }
  }
  all += high;
  return all > 0 ? high / all : 0;
}

type NominalDetection = AudioDetection & { accepted: boolean; decodedPayload: Uint8Array | null; powers: WindowPowers[] };

/**
 * A window's power spectra from the nominal search (frame f centred at sample start + f·100 of
 * the analysis phase's signal, zero outside [start, start + length)), kept for the period
 * scan, which reads the same frames of the whole input.
 */
interface WindowPowers { phase: number; start: number; length: number; frames: number; power: Float64Array }

/** One search at nominal speed over the whole 16 kHz signal (windows, phases, joint sync). */
function detectAtNominalSpeed(x16: Float32Array, delta: number, known: KnownCodeword | null = null, bandScale = 1): NominalDetection {
  const total = x16.length;
  const maxLen = Math.round(MAX_WINDOW_SECONDS * AUDIO_WM_RATE);
  const nWin = total <= maxLen * 1.5 ? 1 : Math.ceil(total / maxLen);
  const winLen = Math.ceil(total / nWin);
  const period = SLOTS * FRAMES_PER_SLOT;
  const lay = layout();
  type Decoded = Candidate & { window: number; crc: boolean; decoded: Uint8Array; errors: number; accepted: boolean; knownZ?: number };
  const candidates: Decoded[] = [];
  let tried = 0;
  const offer = (d: Decoded) => { candidates.push(d); };
  const powers: WindowPowers[] = [];
  // Single-window decodes of the current block awaiting confirmation by its other windows.
  let pending: Array<{ cand: Decoded; phase: number; startFrame: number; localOffset: number }> = [];
  const accepted = (d: { crc: boolean; z: number; errors: number }, strict = false) =>
    d.crc && (strict ? d.errors <= STRICT_CODED_ERRORS : d.z >= SYNC_Z_THRESHOLD && d.errors <= MAX_CODED_ERRORS);

  let block: Array<{ startFrame: number; phase: number; profile: SyncProfile }> = [];
  let blockWindows = 0;
  let blockDecoded = false;
  const confirmPending = () => {
    for (const { cand, phase, startFrame, localOffset } of pending) {
      if (cand.errors <= STRICT_CODED_ERRORS) continue;
      const others = block.filter((b) => b.phase === phase && b.startFrame !== startFrame && b.profile.hyp.noiseAware === cand.noiseAware);
      if (others.length === 0) continue; // a one-window input: nothing to confirm with
      const g = (localOffset + startFrame) % period;
      const soft = new Float64Array(CODED_BITS);
      for (const b of others) evaluate(b.profile.hyp, (((g - b.startFrame) % period) + period) % period, delta, lay, soft);
      const code = convEncode(cand.decoded);
      let agree = 0;
      let energy = 0;
      for (let k = 0; k < CODED_BITS; k++) { agree += soft[k]! * (code[k] ? -1 : 1); energy += soft[k]! * soft[k]!; }
      if (!(energy > 0 && agree / Math.sqrt(energy) >= CONFIRM_Z)) cand.accepted = false;
    }
    pending = [];
  };
  /** Soft bits and sync sums of global alignment g (frames mod period), over a block's windows. */
  const jointAt = (parts: typeof block, g: number) => {
    const soft = new Float64Array(CODED_BITS);
    let num = 0;
    let den = 0;
    for (const b of parts) {
      const r = evaluate(b.profile.hyp, (((g - b.startFrame) % period) + period) % period, delta, lay, soft);
      num += r.num;
      den += r.den;
    }
    return { soft, num, den, z: den > 0 ? num / Math.sqrt(den / 2) : 0 };
  };
  // The known-payload test's best alignment so far, over all blocks (reported even below the gate).
  let knownBest: { z: number; cand: Decoded | null } | null = null;
  let knownTried = 0;
  const testKnownPayload = () => {
    if (!known) return;
    let top: { z: number; g: number; phase: number; noiseAware: boolean; parts: typeof block } | null = null;
    for (const [phase, noiseAware] of PHASES.flatMap((ph) => [[ph, false], [ph, true]] as const)) {
      const parts = block.filter((b) => b.phase === phase && b.profile.hyp.noiseAware === noiseAware && b.profile.knownNum);
      if (parts.length === 0) continue;
      const num = new Float64Array(period);
      const den = new Float64Array(period);
      for (const b of parts) {
        for (let o = 0; o < period; o++) {
          const g = (o + b.startFrame) % period;
          num[g] = num[g]! + b.profile.knownNum![o]!;
          den[g] = den[g]! + b.profile.den[o]!;
        }
      }
      knownTried += period;
      for (let g = 0; g < period; g++) {
        const z = den[g]! > 0 ? num[g]! / Math.sqrt(den[g]! / 2) : -Infinity;
        if (!top || z > top.z) top = { z, g, phase, noiseAware, parts };
      }
    }
    if (!top || !Number.isFinite(top.z) || (knownBest && top.z <= knownBest.z)) return; // (all-silent input: no z)
    // Below the gate only the z is reported; the decode is for an alignment that will be claimed.
    if (top.z < KNOWN_PAYLOAD_Z) { knownBest = { z: top.z, cand: null }; return; }
    // Soft bits and sync sums at that alignment, for the report and the conflict check.
    const { z, g, phase, noiseAware, parts } = top;
    const { soft, num: n, den: d, z: syncZ } = jointAt(parts, g);
    const dec = decodeSoft(soft);
    let errors = 0;
    let blind = 0;
    for (let k = 0; k < CODED_BITS; k++) {
      if (soft[k]! === 0) blind++;
      else if ((soft[k]! > 0 ? 0 : 1) !== known.code[k]) errors++;
    }
    // A blind decode of another CRC-valid payload at this very alignment that the ordinary
    // rule would take means some other mark is there: its codeword can share much of this one's.
    const conflict = dec.crc && dec.errors <= MAX_CODED_ERRORS && !samePayload(bitsToBytes(dec.info.subarray(0, AUDIO_PAYLOAD_BITS)), known.payload);
    knownBest = {
      z,
      cand: { z: syncZ, num: n, den: d, soft, speed: 1, pitch: false, noiseAware, offsetFrames: g + phase / ANA_HOP, window: -1, crc: dec.crc, decoded: dec.info, errors: errors + Math.ceil(blind / 2), accepted: !conflict, knownZ: z },
    };
  };
  const decodeBlockJointly = () => {
    confirmPending();
    if (!candidates.some((c) => c.accepted)) blockDecoded = false;
    if (!blockDecoded && blockWindows >= 2) {
      for (const [phase, noiseAware] of PHASES.flatMap((ph) => [[ph, false], [ph, true]] as const)) {
        const parts = block.filter((b) => b.phase === phase && b.profile.hyp.noiseAware === noiseAware);
        if (parts.length < 2) continue;
        const num = new Float64Array(period);
        const den = new Float64Array(period);
        for (const b of parts) {
          for (let o = 0; o < period; o++) {
            const g = (o + b.startFrame) % period;
            num[g] = num[g]! + b.profile.num[o]!;
            den[g] = den[g]! + b.profile.den[o]!;
          }
        }
        tried += period;
        const zOf = (g: number) => (den[g]! > 0 ? num[g]! / Math.sqrt(den[g]! / 2) : -Infinity);
        const order = Array.from({ length: period }, (_, g) => g).sort((x, y) => zOf(y) - zOf(x));
        const picked: number[] = [];
        for (const g of order) {
          if (picked.length >= JOINT_CANDIDATES + JOINT_EXTRA_CANDIDATES) break;
          if (picked.some((q) => Math.min(Math.abs(q - g), period - Math.abs(q - g)) <= 2)) continue;
          picked.push(g);
        }
        for (const [rankInList, g] of picked.entries()) {
          const { soft, num: n, den: d, z } = jointAt(parts, g);
          const dec = decodeSoft(soft);
          const strict = rankInList >= JOINT_CANDIDATES;
          const jointOk = strict || dec.errors <= JOINT_MAX_CODED_ERRORS || z >= JOINT_HIGH_Z;
          offer({ z, num: n, den: d, soft, speed: 1, pitch: false, noiseAware, offsetFrames: g + phase / ANA_HOP, window: -1, crc: dec.crc, decoded: dec.info, errors: dec.errors, accepted: jointOk && accepted({ crc: dec.crc, z, errors: dec.errors }, strict) });
        }
      }
    }
    // Only when blind decoding of the whole block found nothing (the test names its payload).
    if (!candidates.some((c) => c.accepted)) testKnownPayload();
    block = [];
    blockWindows = 0;
    blockDecoded = false;
  };

  for (let wi = 0; wi < nWin; wi++) {
    const start = Math.floor(Math.min(wi * winLen, Math.max(0, total - winLen)) / ANA_HOP) * ANA_HOP;
    blockWindows++;
    for (const phase of PHASES) {
      const win = x16.subarray(start + phase, Math.min(total, start + winLen));
      if (win.length < SLOT_SAMPLES * 2) continue;
      const { best, tried: n, profiles, frames, power } = searchWindow(win, delta, DECODE_CANDIDATES, known, bandScale);
      tried += n;
      if (start < TIME_SCALE_SCAN_SECONDS * AUDIO_WM_RATE) powers.push({ phase, start, length: win.length, frames, power });
      for (const profile of profiles) block.push({ startFrame: start / ANA_HOP, phase, profile });
      let found = false;
      for (const c of best) {
        const dec = decodeSoft(c.soft);
        const cand: Decoded = { ...c, offsetFrames: c.offsetFrames + (start + phase) / ANA_HOP, window: wi, crc: dec.crc, decoded: dec.info, errors: dec.errors, accepted: false };
        cand.accepted = accepted(cand);
        offer(cand);
        if (cand.accepted) { found = true; pending.push({ cand, phase, startFrame: start / ANA_HOP, localOffset: c.offsetFrames }); }
      }
      if (found) { blockDecoded = true; break; } // a decoded, synchronised copy: other phases cannot do better
    }
    if (blockWindows >= JOINT_WINDOWS) decodeBlockJointly();
  }
  decodeBlockJointly();
  let winner: Decoded | null = null;
  for (const c of candidates) if (!winner || rank(c) > rank(winner)) winner = c;
  // (TypeScript does not see testKnownPayload's assignment, hence the cast.)
  const knownResult = knownBest as { z: number; cand: Decoded | null } | null;
  const knownZ = knownResult ? round(knownResult.z, 3) : undefined;
  const knownWin = knownResult?.cand?.accepted && !(winner?.accepted) ? knownResult.cand : null;
  if (knownWin && known) {
    // Found by the known-payload test: payload_hex names the tested payload, while payload_bits,
    // crc_ok and sync_z stay what blind decoding read at that alignment.
    const bits = knownWin.decoded.subarray(0, AUDIO_PAYLOAD_BITS);
    return {
      has_watermark: true,
      confidence: knownConfidenceOf(knownWin.knownZ!),
      payload_hex: toHex(known.payload),
      payload_bits: Array.from(bits).join(''),
      bit_errors: knownWin.errors,
      crc_ok: knownWin.crc,
      sync_z: round(knownWin.z, 3),
      p_value: Math.min(1, normalTail(knownWin.knownZ!) * Math.max(1, knownTried)),
      time_scale: 1,
      offset_seconds: round((knownWin.offsetFrames * ANA_HOP) / AUDIO_WM_RATE, 4),
      windows: nWin,
      detected_by: 'known_payload',
      known_payload_z: knownZ,
      accepted: true,
      decodedPayload: Uint8Array.from(known.payload),
      powers,
    };
  }
  if (!winner) {
    return { has_watermark: false, confidence: 0, payload_hex: null, payload_bits: null, bit_errors: null, crc_ok: false, sync_z: 0, p_value: 1, time_scale: 1, offset_seconds: 0, windows: nWin, ...(knownZ !== undefined ? { known_payload_z: knownZ } : {}), accepted: false, decodedPayload: null, powers };
  }
  const payloadBits = winner.decoded.subarray(0, AUDIO_PAYLOAD_BITS);
  const payloadBytes = bitsToBytes(payloadBits);
  const pValue = Math.min(1, normalTail(winner.z) * Math.max(1, tried));
  return {
    has_watermark: winner.accepted,
    confidence: confidenceOf(winner.z, winner.crc, winner.accepted),
    payload_hex: winner.crc ? toHex(payloadBytes) : null,
    payload_bits: Array.from(payloadBits).join(''),
    bit_errors: winner.errors,
    crc_ok: winner.crc,
    sync_z: round(winner.z, 3),
    p_value: pValue,
    time_scale: winner.speed,
    offset_seconds: round((winner.offsetFrames * ANA_HOP) / AUDIO_WM_RATE, 4),
    windows: nWin,
    ...(winner.accepted ? { detected_by: 'decode' as const } : {}),
    ...(knownZ !== undefined ? { known_payload_z: knownZ } : {}),
    accepted: winner.accepted,
    decodedPayload: payloadBytes,
    powers,
  };
}

/** confidenceOf's logistic, centred on the known-payload test's gate instead of the sync gate. */
function knownConfidenceOf(z: number): number {
  return round(Math.max(0.5, gateLogistic(z, KNOWN_PAYLOAD_Z)), 4);
}

function rank(c: { crc: boolean; z: number; accepted: boolean }): number {
  return (c.accepted ? 2000 : 0) + (c.crc ? 1000 : 0) + c.z;
}

/**
 * Maps the sync z-score to 0–1: a logistic centred on the z gate, kept on the side of 0.5 that
 * the decision took (a strict-rule detection with a low z reads 0.5; a CRC pass that failed a
 * gate stays below 0.5), and halved when the CRC fails.
 */
function confidenceOf(z: number, crc: boolean, accepted: boolean): number {
  const c = gateLogistic(z, SYNC_Z_THRESHOLD);
  if (accepted) return round(Math.max(0.5, c), 4);
  return round(crc ? Math.min(c, 0.49) : Math.min(c, 0.49) * 0.5, 4);
}

function decodeSoft(soft: Float64Array): { info: Uint8Array; crc: boolean; errors: number } {
  const info = viterbiDecode(soft, INFO_BITS);
  const payload = info.subarray(0, AUDIO_PAYLOAD_BITS);
  const crc = crc16(payload) === bitsToNumber(info.subarray(AUDIO_PAYLOAD_BITS));
  const re = convEncode(info);
  let errors = 0;
  let blind = 0;
  for (let k = 0; k < CODED_BITS; k++) {
    if (soft[k]! === 0) blind++;
    else if ((soft[k]! > 0 ? 0 : 1) !== re[k]) errors++;
  }
  // A coded bit no cell voted on (every one of its cells in digital silence, or empty) is
  // counted as half an error, what a guess would score: the error gates were set for decodes in
  // which every coded bit carries evidence, and the decoder can agree with the rest at no cost.
  // Measured: an unmarked, low-passed 10 s cut of klettres syllables, 60 % digital silence,
  // had 39 such bits and passed the CRC by chance with 7 disagreements (bench, WM_FP_LOWPASS=1).
  return { info, crc, errors: errors + Math.ceil(blind / 2) };
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

/** Diagnostics for tuning: sync z and soft bits at one given alignment (16 kHz input). */
export function audioAlignmentScore(x16: Float32Array, offsetFrames: number, speed = 1, pitch = false, delta = DEFAULT_AUDIO_DELTA): { z: number; soft: number[] } {
  const { frames, power } = analysisPowers(x16, sharedFft(), ANALYSIS_WINDOW);
  const h = buildHypotheses(power, frames, delta).find((c) => c.speed === speed && c.pitch === pitch)!;
  const soft = new Float64Array(CODED_BITS);
  const r = evaluate(h, offsetFrames, delta, layout(), soft);
  return { z: r.z, soft: Array.from(soft) };
}

/** Diagnostics: weighted RMS change of tile ratios when the framing moves by `shift` frames. */
export function ratioShiftSensitivity(x16: Float32Array, shift: number): number {
  const { frames, power } = analysisPowers(x16, sharedFft(), ANALYSIS_WINDOW);
  const h = buildHypotheses(power, frames, DEFAULT_AUDIO_DELTA)[0]!;
  let num = 0, den = 0;
  for (let a = MARGIN; a + shift < h.starts; a += FRAMES_PER_SLOT) {
    for (let p = 0; p < PAIRS; p++) {
      const w = Math.min(h.weight[a * PAIRS + p]!, h.weight[(a + shift) * PAIRS + p]!);
      const d = (h.ratio[(a + shift) * PAIRS + p]! - h.ratio[a * PAIRS + p]!) * PAIR_STEP_SCALE[p]!;
      num += w * d * d; den += w;
    }
  }
  return Math.sqrt(num / Math.max(1e-9, den));
}

/**
 * Diagnostics for docs/watermarking.md: per band pair, the reliability-weighted mean of
 * cos(4π(R/Δ − dither)) over the slots of a signal marked at offset 0 (1 = every cell on its
 * lattice, ≈ 0 = nothing left), and the mean reliability (noise-aware or plain weights).
 */
export function pairLatticeFit(x16: Float32Array, noiseAware = true, delta = DEFAULT_AUDIO_DELTA): Array<{ fit: number; weight: number }> {
  const { frames, power } = analysisPowers(x16, sharedFft(), ANALYSIS_WINDOW);
  const h = buildHypotheses(power, frames, delta).find((c) => c.speed === 1 && c.noiseAware === noiseAware)!;
  const lay = layout();
  const out: Array<{ fit: number; weight: number }> = [];
  for (let p = 0; p < PAIRS; p++) {
    let num = 0;
    let den = 0;
    let n = 0;
    for (let k = 0; ; k++) {
      const a = Math.round(k * h.slotFrames + MARGIN);
      if (a >= h.starts) break;
      const w = h.weight[a * PAIRS + p]!;
      const cell = (k % SLOTS) * PAIRS + p;
      num += w * Math.cos(4 * Math.PI * (h.ratio[a * PAIRS + p]! / delta - lay.dither[cell]!));
      den += w;
      n++;
    }
    out.push({ fit: num / Math.max(1e-9, den), weight: den / Math.max(1, n) });
  }
  return out;
}


/**
 * Time-scale search. A resampling speed change by s moves every slot boundary by a growing
 * amount (0.5 % error drifts 240 samples over a 3 s window, while the sync peak is ±25 samples
 * wide) and scales every frequency, so the nominal search finds nothing at ±1 % already. But
 * the layout repeats every SLOTS slots: in a marked signal the tile ratio one period later sits
 * on the same lattice point (same dither, same coded bit) whatever the host does there, so
 * cos(2π(R(t + λ) − R(t))/Δ), summed over tiles, peaks at the period as played,
 * λ = 43 200 samples / s. That is measured on the raw input, for band layouts scaled in 1 %
 * steps (0.25 % when refining) and lags on the 25-sample phase grid, and each peak gives an estimate of s to about
 * 0.06 %; undoing it by resampling leaves a residual well inside the ±0.15 % the nominal search
 * tolerates (measured: docs/watermarking.md).
 *
 * Only the pairs above 1.1 kHz are used: their bands are 9–12 bins wide, so the unscaled
 * 512-sample analysis window barely changes their energies under a frequency scale. The
 * narrow low bands (3 bins, below 906 Hz) are dominated by leakage from the nearest
 * harmonics, which a scale moves relative to the window (measured ratio error 0.37–0.49 there
 * against 0.05–0.15 above 1.1 kHz, after +3 %). A host with no energy above 1 kHz therefore
 * gets no estimate, and one with little gets weak ones.
 */
const TIME_SCALE_MAX = 0.05;
/** Band layouts of the coarse scan are scaled in 1 % steps; each covers the speeds within ±0.5 %. */
const TIME_SCALE_TILE_STEP = 0.01;
/** ... and refinement layouts in 0.25 % steps, so the refinements of nearby peaks share them. */
const TIME_SCALE_FINE_STEP = 0.0025;
/** Speeds this close to nominal are the ordinary search's (its sync peak tolerates them). */
const TIME_SCALE_NOMINAL_REACH = 0.0015;
/** The coarse scan reaches this far past TIME_SCALE_MAX. */
const TIME_SCALE_EDGE = 0.0035;
/** Map keys for scaled layouts: scales computed two ways land on one key. */
const onGrid = (scale: number) => Math.round(scale * 1e6) / 1e6;
const TIME_SCALE_FIRST_PAIR = 5;
/** Best distinct estimates tried by the full search; each costs one search of the file. */
const TIME_SCALE_CANDIDATES = 3;
/**
 * The automatic search (the default) only searches estimates whose period z reaches this. A
 * cost gate: the strict decision rule still guards every search it lets through. Measured with
 * this scan (one-off scripts, docs/watermarking.md): the best estimate of 1095 unmarked 10 s
 * files reached z 9.32 at most (99.9th percentile 8.90, median 5.44); marked tuning hosts
 * (French prompts) at 0.95, 0.97, 1.03, 1.05 gave the true speed z ≥ 14.4, and ≥ 18.5 after
 * MP3 64 kbps on top (that figure from the scan one step before its final lag layout); hosts low-passed at 900 Hz only 6.2–13.6, hence the low-band rule (LOW_BAND_SHARE).
 * The tempo scan (version 4.3) has the same gate. In a one-off instrumented bench run its best
 * estimate on 996 unmarked 10 s files reached 8.11 at most (99th percentile 7.49, median 5.53),
 * and on the 12 standard speech hosts after atempo 1.04 and 0.95 the true tempo 10.2–25.9.
 */
const TIME_SCALE_AUTO_Z = 10;
/** Coarse peaks refined before the best TIME_SCALE_CANDIDATES are kept. */
const TIME_SCALE_REFINED = 5;
/** The scan reads at most this much of the input (a few periods are enough). */
const TIME_SCALE_SCAN_SECONDS = 30;
/** Lag grid: the analysis phases are 25 samples apart. */
const LAG_STEP = ANA_HOP / PHASES.length;

/** A time-scale estimate: `speed` 1.03 = played 3 % faster; `pitchKept` for a tempo change. */
export interface TimeScaleEstimate { speed: number; z: number; pitchKept: boolean }

/**
 * Speed factors (1.03 = played 3 % faster) whose period lag stands out: the speed scan's best
 * `keep`, then the tempo scan's (`pitchKept`), each best first (`kinds` turns either off). Needs
 * two periods as played (up to 5.7 s); returns [] for shorter inputs.
 */
export function timeScaleCandidates(x16: Float32Array, keep = TIME_SCALE_CANDIDATES, reuse: readonly WindowPowers[] = [], kinds: { speed: boolean; tempo: boolean } = { speed: true, tempo: true }): TimeScaleEstimate[] {
  const x = x16.subarray(0, Math.min(x16.length, TIME_SCALE_SCAN_SECONDS * AUDIO_WM_RATE));
  const periodSamples = SLOTS * SLOT_SAMPLES;
  // Tiles a period apart must overlap for at least a period (about 5.7 s of input at −5 %).
  if (x.length < (2 * periodSamples) / (1 - TIME_SCALE_MAX)) return [];
  const fft = sharedFft();
  const kernel = sharedLagKernel();
  kernel.reset(); // this call's tiles replace the last call's
  const perPhase = PHASES.map((ph) => phaseTables(x.subarray(ph), ph, fft, reuse));
  const stride = tileRowBytes(Math.max(...perPhase.map((t) => t.frames)));
  const rows: TileRows = { ptr: kernel.alloc(TILE_ROWS * stride), stride };
  const tileCache = new Map<number, HighTiles[]>();
  const tempoTileCache = new Map<number, HighTiles[]>();
  const tilesAt = (scale: number) => {
    let tiles = tileCache.get(scale);
    if (!tiles) {
      const n = taperN(FRAMES_PER_SLOT / scale);
      tiles = perPhase.map((t) => scaledHighTiles(t, scale, n, rows));
      tileCache.set(scale, tiles);
    }
    return tiles;
  };
  const tempoTilesAt = (scale: number) => {
    const n = taperN(FRAMES_PER_SLOT / scale);
    let tiles = tempoTileCache.get(n);
    if (!tiles) {
      tiles = perPhase.map((t) => scaledHighTiles(t, 1, n, rows));
      tempoTileCache.set(n, tiles);
    }
    return tiles;
  };
  /** Local maxima of the lag z for speeds in [slow, fast], as speed estimates. */
  const peaks = (slow: number, fast: number, tiles: HighTiles[], multiples: readonly number[]) => {
    const lo = Math.ceil(periodSamples / fast / LAG_STEP);
    const hi = Math.floor(periodSamples / slow / LAG_STEP);
    const zs: number[] = [];
    for (let l = lo; l <= hi; l++) zs.push(periodLagZ(tiles, l * LAG_STEP, multiples));
    const out: Array<{ speed: number; z: number }> = [];
    for (let j = 0; j < zs.length; j++) {
      const z = zs[j]!;
      if ((j > 0 && zs[j - 1]! > z) || (j + 1 < zs.length && zs[j + 1]! >= z)) continue;
      // Parabolic interpolation between the neighbouring lags refines the peak below 25 samples.
      let frac = 0;
      if (j > 0 && j + 1 < zs.length) {
        const a = zs[j - 1]!, c = zs[j + 1]!;
        const curv = a - 2 * z + c;
        if (curv < 0) frac = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / curv));
      }
      out.push({ speed: periodSamples / ((lo + j + frac) * LAG_STEP), z });
    }
    return out;
  };
  /**
   * Coarse scan, then refinement, with the band layout that `bandsAt` gives for a speed: every
   * lag for speeds 0.15–5.35 % off nominal (the nominal search covers ±0.15 %), each read with
   * the layout at the nearest 1 % step and one period apart only; then the strongest coarse
   * peaks with the layout within 0.125 % of the estimate (a layout 0.5 % off blurs the peak and
   * biases it), lags within ±0.15 %, tiles one and two periods apart, `iterations` times (the
   * best `refine` coarse peaks). A chance peak usually collapses under refinement; the mark's
   * sharpens.
   */
  const scan = (bandsAt: (scale: number) => HighTiles[], refine: number, iterations: number) => {
    const found: Array<{ speed: number; z: number }> = [];
    const grid = Math.round(TIME_SCALE_MAX / TIME_SCALE_TILE_STEP);
    for (let k = 1; k <= grid; k++) {
      const near = Math.max(TIME_SCALE_NOMINAL_REACH, (k - 0.5) * TIME_SCALE_TILE_STEP);
      const far = k === grid ? TIME_SCALE_MAX + TIME_SCALE_EDGE : (k + 0.5) * TIME_SCALE_TILE_STEP;
      for (const sign of [1, -1]) {
        const tiles = bandsAt(onGrid(1 + sign * k * TIME_SCALE_TILE_STEP));
        found.push(...(sign > 0 ? peaks(1 + near, 1 + far, tiles, [1]) : peaks(1 - far, 1 - near, tiles, [1])));
      }
    }
    found.sort((a, b) => b.z - a.z);
    const refined: Array<{ speed: number; z: number }> = [];
    for (const f of found.slice(0, refine)) {
      let r = f;
      for (let it = 0; it < iterations; it++) {
        const tiles = bandsAt(onGrid(1 + Math.round((r.speed - 1) / TIME_SCALE_FINE_STEP) * TIME_SCALE_FINE_STEP));
        r = peaks(r.speed * (1 - 0.0015), r.speed * (1 + 0.0015), tiles, [1, 2]).sort((a, b) => b.z - a.z)[0] ?? r;
      }
      refined.push(r);
    }
    refined.sort((a, b) => b.z - a.z);
    const best: Array<{ speed: number; z: number }> = [];
    for (const r of refined) {
      if (best.length >= keep) break;
      if (best.some((o) => Math.abs(o.speed - r.speed) < 0.0015)) continue;
      best.push(r);
    }
    return best;
  };
  const out: TimeScaleEstimate[] = [];
  if (kinds.speed) out.push(...scan(tilesAt, TIME_SCALE_REFINED, 2).map((e) => ({ ...e, pitchKept: false })));
  // A tempo change that keeps the pitch (WSOLA) scales time only: the same lags, read with the
  // band layout unscaled and only the slot length (its taper) following the speed. That layout
  // does not move with the estimate, so one refinement pass of the best three peaks does (the
  // speed scan's second pass is there to refine with the layout of the first pass's estimate).
  if (kinds.tempo) out.push(...scan(tempoTilesAt, TIME_SCALE_CANDIDATES, 1).map((e) => ({ ...e, pitchKept: true })));
  return out;
}

/**
 * What the period scan needs of one analysis phase: per frame, the running sum of the power
 * over bins (cum[j·frames + f] = power of bins POWER_LO … POWER_LO + j − 1 in frame f; stored
 * by j so a band's pass over the frames reads contiguous rows), so a band with fractional,
 * scaled edges costs a few lookups per frame whatever its width, and the frame energy over the
 * bands' bins (the reliability weight's reference; unscaled). With the tile kernel, cum sits in
 * the period-lag kernel's memory at byte offset cumPtr (else −1), and the view `cum` must be
 * taken afresh after any allocation there.
 */
interface PhaseTables { frames: number; cum: Float64Array; cumPtr: number; et: Float64Array; etTiles: Map<number, Float64Array> }
function phaseTables(y: Float32Array, phase: number, fft: PairedFft, reuse: readonly WindowPowers[]): PhaseTables {
  const { frames, power } = scanPowers(y, phase, fft, reuse);
  return powerTables(power, frames, useTileKernel && TILE_KERNEL_FITS ? sharedLagKernel() : undefined);
}

/**
 * analysisPowers of one phase's signal y, taking every frame the nominal search already
 * computed over exactly the same samples (a frame whose span a window's edge cuts, where the
 * signal goes on, is not the same) and computing only the rest. On a 10 s file that leaves a
 * few frames at each window boundary, and saves the scan about a fifth of its time. A reused
 * frame can differ from a fresh one in the last bits: the paired FFT shares its rounding with
 * the frame it is paired with.
 */
function scanPowers(y: Float32Array, phase: number, fft: PairedFft, reuse: readonly WindowPowers[]): { frames: number; power: Float64Array } {
  const Ly = y.length;
  const frames = Math.floor(Ly / ANA_HOP) + 1;
  const power = new Float64Array(frames * POWER_BINS);
  const have = new Uint8Array(frames);
  for (const w of reuse) {
    if (w.phase !== phase) continue;
    const g0 = w.start / ANA_HOP;
    for (let f = 0; f < w.frames; f++) {
      const g = g0 + f;
      if (g >= frames) break;
      if (have[g]) continue;
      const lo = g * ANA_HOP - FRAME / 2, hi = lo + FRAME;
      const a0 = Math.max(lo, 0), a1 = Math.min(hi, Ly);
      const b0 = Math.max(lo, w.start), b1 = Math.min(hi, w.start + w.length);
      if (!(a0 === b0 && a1 === b1) && !(a1 <= a0 && b1 <= b0)) continue;
      power.set(w.power.subarray(f * POWER_BINS, (f + 1) * POWER_BINS), g * POWER_BINS);
      have[g] = 1;
    }
  }
  for (let g = 0; g < frames;) {
    if (have[g]) { g++; continue; }
    let end = g;
    while (end < frames && !have[end]) end++;
    power.set(analysisPowers(y, fft, ANALYSIS_WINDOW, g, end - g).power, g * POWER_BINS);
    g = end;
  }
  return { frames, power };
}

function powerTables(power: Float64Array, frames: number, kernel?: PeriodLagKernel): PhaseTables {
  const length = frames * (POWER_BINS + 1);
  const cumPtr = kernel ? kernel.alloc(length * 8) : -1;
  const cum = kernel ? kernel.f64(cumPtr, length) : new Float64Array(length);
  cum.fill(0, 0, frames); // row 0: nothing below the first bin (kernel memory is reused unzeroed)
  const et = new Float64Array(frames);
  const lo = BAND_EDGE_BINS[0]! - POWER_LO, hi = BAND_EDGE_BINS[BANDS]! - POWER_LO;
  for (let f = 0; f < frames; f++) {
    const pb = f * POWER_BINS;
    let acc = 0;
    for (let j = 0; j < POWER_BINS; j++) { acc += power[pb + j]!; cum[(j + 1) * frames + f] = acc; }
    et[f] = cum[hi * frames + f]! - cum[lo * frames + f]!;
  }
  return { frames, cum, cumPtr, et, etTiles: new Map() };
}

/**
 * Where a continuous bin position falls in a frame's running power sums (bin k spans
 * [k − ½, k + ½)): cum[j] + frac · power[j] is the power below it, the bandSeries overlap
 * weighting.
 */
function cutAt(pos: number): { j: number; frac: number } {
  const q = Math.min(POWER_BINS, Math.max(0, pos + 0.5 - POWER_LO));
  const j = Math.min(POWER_BINS - 1, Math.floor(q));
  return { j, frac: q - j };
}

/**
 * S[a] = Σ taper(n)[i] · series[a + i] for a < starts, in O(1) per start: the taper is a box of
 * n frames convolved with a box of RAMP frames (divided by RAMP), so two running sums give it.
 * Rounding in the running sums is relative to the whole series, far below a lattice step here.
 */
function trapezoidSums(series: Float64Array, from: number, frames: number, n: number, starts: number, out: Float64Array): void {
  // The running sums live in scratch arrays kept between calls: allocating (and zeroing) them
  // per band was about half of this function's time in the scan.
  if (trapezoidScratch.length < 2 * (frames + 1)) trapezoidScratch = new Float64Array(2 * (frames + 1));
  const P = trapezoidScratch.subarray(0, frames + 1);
  const Q = trapezoidScratch.subarray(frames + 1);
  P[0] = 0;
  for (let f = 0; f < frames; f++) P[f + 1] = P[f]! + series[from + f]!;
  const boxes = frames - RAMP + 1;
  Q[0] = 0;
  for (let f = 0; f < boxes; f++) Q[f + 1] = Q[f]! + (P[f + RAMP]! - P[f]!);
  for (let a = 0; a < starts; a++) out[a] = Math.max(0, (Q[a + n]! - Q[a]!) / RAMP);
}
let trapezoidScratch = new Float64Array(0);

/**
 * Band b's energy per frame with its edges scaled by `scale`, from the running bin sums: the
 * same overlap weighting as bandSeries (which the embedder and the nominal search use), in two
 * lookups per frame instead of one per bin. A unit test holds the two to each other.
 */
function scaledBand(t: PhaseTables, b: number, scale: number, out: Float64Array): void {
  const { frames, cum } = t;
  const lo = cutAt((BAND_EDGE_BINS[b]! - 0.5) * scale);
  const hi = cutAt((BAND_EDGE_BINS[b + 1]! - 0.5) * scale);
  const jl = lo.j * frames, fl = lo.frac, jh = hi.j * frames, fh = hi.frac;
  for (let f = 0; f < frames; f++) {
    const below = cum[jh + f]! + fh * (cum[jh + frames + f]! - cum[jh + f]!);
    const above = cum[jl + f]! + fl * (cum[jl + frames + f]! - cum[jl + f]!);
    out[f] = below > above ? below - above : 0;
  }
}

const HIGH_PAIRS = PAIRS - TIME_SCALE_FIRST_PAIR;
/**
 * Tiles of the pairs from TIME_SCALE_FIRST_PAIR up, with the band layout scaled by `scale`, at
 * every start frame (the tileAt statistic with plain weights, restricted), stored as what the
 * lag statistic multiplies: w·cos(2πu), w·sin(2πu) and w², u = ratio in the pair's own lattice
 * steps. They sit in the period-lag kernel's memory (byte offset `ptr`), LAG_TILE_FLOATS single
 * precision values per start in the layout period-lag.wat reads; the lag sums are kept in double.
 */
interface HighTiles { starts: number; ptr: number }
/** Where pair q's cos, sin and weight products sit in a tile (period-lag.wat's layout). */
const TILE_COS = [0, 2, 4, 6, 8];
const TILE_WEIGHT = [12, 13, 14, 15, 10];
let lagKernel: PeriodLagKernel | null = null;
/** The band series and its ten tile-sum rows, kept between calls (the scan makes some 80). */
let tileScratch = new Float64Array(0);
const sharedLagKernel = () => (lagKernel ??= new PeriodLagKernel({
  cosTable: COS_TABLE, pairFactors: INV_PAIR_STEP_SCALE.slice(TIME_SCALE_FIRST_PAIR), bands: BANDS, shareKnee: SHARE_KNEE, invDelta: 1 / DEFAULT_AUDIO_DELTA,
}));
/** The tile cells' kernel is written for five high pairs and a 4096-entry cosine table. */
const TILE_KERNEL_FITS = HIGH_PAIRS === 5 && COS_TABLE_SIZE === 4096;
let useTileKernel = true;
/** Rows of the kernel's block: ten band-sum rows, the tile energies, the running sums' scratch (two). */
const TILE_ROWS = 2 * HIGH_PAIRS + 3;
/** Where scaledHighTiles puts the band-sum rows for the kernel: one block per scan. */
interface TileRows { ptr: number; stride: number }
/** Bytes per band-sum row for `frames` frames: 16-byte aligned, with room for a two-lane read past the last start. */
const tileRowBytes = (frames: number) => Math.ceil((frames + 1) / 2) * 16;

function scaledHighTiles(t: PhaseTables, scale: number, n: number, rows: TileRows | null): HighTiles {
  const { frames, et } = t;
  const T = n + RAMP - 1;
  const starts = Math.max(0, frames - T + 1);
  // The frame energy is not scaled, and n takes only three values over ±5 %: sum it once each.
  let etile = t.etTiles.get(n);
  if (!etile) {
    etile = new Float64Array(starts);
    trapezoidSums(et, 0, frames, n, starts, etile);
    t.etTiles.set(n, etile);
  }
  const kernel = sharedLagKernel();
  const { ptr, view: v } = kernel.allocTiles(starts); // before any view below (growing detaches them)
  if (t.cumPtr >= 0) t.cum = kernel.f64(t.cumPtr, frames * (POWER_BINS + 1));
  if (useTileKernel && TILE_KERNEL_FITS && rows != null && rows.stride >= tileRowBytes(frames) && t.cumPtr >= 0) {
    // Band sums and cells in WebAssembly (period-lag.wat): the same double operations as the
    // loops below but for the kernel's own log (Math.log's last bits may differ; a test holds
    // the tiles to the loops'). Rows: ten band sums, the tile energies, the running sums' scratch.
    const scratch = rows.ptr + (2 * HIGH_PAIRS + 1) * rows.stride;
    for (let b = 2 * TIME_SCALE_FIRST_PAIR, k = 0; b < BANDS; b++, k++) {
      const lo = cutAt((BAND_EDGE_BINS[b]! - 0.5) * scale);
      const hi = cutAt((BAND_EDGE_BINS[b + 1]! - 0.5) * scale);
      kernel.bandSums(t.cumPtr, frames, lo.j * frames, lo.frac, hi.j * frames, hi.frac, n, RAMP, starts, scratch, rows.ptr + k * rows.stride);
    }
    const etilePtr = rows.ptr + 2 * HIGH_PAIRS * rows.stride;
    kernel.f64(etilePtr, starts).set(etile);
    kernel.tileCells(rows.ptr, rows.stride, etilePtr, starts, ptr);
    return { starts, ptr };
  }
  if (tileScratch.length < (2 * HIGH_PAIRS + 1) * frames) tileScratch = new Float64Array((2 * HIGH_PAIRS + 1) * frames);
  const band = tileScratch.subarray(0, frames);
  const sums: Float64Array[] = [];
  for (let b = 2 * TIME_SCALE_FIRST_PAIR; b < BANDS; b++) {
    scaledBand(t, b, scale, band);
    const k = sums.length;
    const s = tileScratch.subarray((k + 1) * frames, (k + 1) * frames + starts);
    trapezoidSums(band, 0, frames, n, starts, s);
    sums.push(s);
  }
  const invDelta = 1 / DEFAULT_AUDIO_DELTA;
  for (let a = 0; a < starts; a++) {
    const e = etile[a]! + 1e-30;
    const eps = 1e-6 * e + 1e-24;
    const base = a * LAG_TILE_FLOATS;
    for (let q = 0; q < HIGH_PAIRS; q++) {
      const s1 = sums[2 * q]![a]!, s2 = sums[2 * q + 1]![a]!;
      const share = (BANDS * Math.min(s1, s2)) / e;
      const w = share / (share + SHARE_KNEE);
      if (!(w > 0.05)) continue;
      const u = Math.log((s1 + eps) / (s2 + eps)) * INV_PAIR_STEP_SCALE[q + TIME_SCALE_FIRST_PAIR]! * invDelta;
      v[base + TILE_COS[q]!] = w * cosTurns(u);
      v[base + TILE_COS[q]! + 1] = w * cosTurns(u - 0.25);
      v[base + TILE_WEIGHT[q]!] = w * w;
    }
  }
  return { starts, ptr };
}

/**
 * Period self-similarity z at one lag (samples, a multiple of LAG_STEP): Σ w·w'·cos(2π(u' − u))
 * over tile pairs one (and two) periods apart, as Σ (c·c' + s·s'). Only tiles that start
 * on a slot boundary sit on lattice points, and the slot grid's offset is unknown, so the sums
 * are kept per position within the slot as played (lag/SLOTS samples, in LAG_STEP classes) and
 * the best window of three neighbouring classes counts: the other ~60 classes would only add
 * noise to the sum.
 */
function periodLagZ(tiles: HighTiles[], lag: number, multiples: readonly number[]): number {
  const slot = lag / SLOTS;
  const classes = Math.max(3, Math.round(slot / LAG_STEP));
  const kernel = sharedLagKernel();
  const { num, den } = kernel.startSums(classes);
  const perSample = classes / slot;
  // Tile start t = 100·a + 25·pb is frame a of phase pb; t + m·lag is frame a + L of another
  // phase. Two periods apart (m = 2) the tiles sit on the same lattice points too, which adds
  // pairs in files of only a few periods.
  for (const m of multiples) for (let pb = 0; pb < tiles.length; pb++) {
    const base = tiles[pb]!;
    const shifted = pb * LAG_STEP + m * lag;
    const other = tiles[(shifted % ANA_HOP) / LAG_STEP]!;
    const L = Math.floor(shifted / ANA_HOP);
    const n = Math.min(base.starts, other.starts - L);
    // Tile a starts (pb·LAG_STEP + a·ANA_HOP) mod slot samples into the slot as played.
    kernel.lagSums(base.ptr, other.ptr + L * LAG_TILE_FLOATS * 4, n, (pb * LAG_STEP) % slot, ANA_HOP, slot, perSample, classes);
  }
  let best = -Infinity;
  for (let c = 0; c < classes; c++) {
    const c0 = (c + classes - 1) % classes, c2 = (c + 1) % classes;
    const d = den[c0]! + den[c]! + den[c2]!;
    if (d > 0) best = Math.max(best, (num[c0]! + num[c]! + num[c2]!) / Math.sqrt(d / 2));
  }
  return best === -Infinity ? 0 : best;
}


/**
 * Internals the unit tests hold to each other (the period scan's fast band energies and tile
 * sums against the embedder's bandSeries and taper). Not part of the module's interface.
 */
export const audioWatermarkInternalsForTests = {
  BANDS, POWER_LO, POWER_BINS, RAMP, bandSeries, decodeSoft, powerTables, scaledBand, taper, trapezoidSums,
  analysisPowers: (x: Float32Array, first?: number, count?: number) => analysisPowers(x, sharedFft(), ANALYSIS_WINDOW, first, count),
  scanPowers: (y: Float32Array, phase: number, reuse: readonly WindowPowers[]) => scanPowers(y, phase, sharedFft(), reuse),
  /** highBandShare of an input, from a nominal search of it. */
  highBandShareOf: (x16: Float32Array) => highBandShare(detectAtNominalSpeed(x16, DEFAULT_AUDIO_DELTA).powers),
  setOffsetKernel(on: boolean): void { useOffsetKernel = on; },
  setTileKernel(on: boolean): void { useTileKernel = on; },
  setPowerKernel(on: boolean): void { usePowerKernel = on; },
  /** The period scan's tiles for one phase's samples at one scale, as stored in the lag kernel's memory. */
  scanTiles(y: Float32Array, scale: number): Float32Array {
    const kernel = sharedLagKernel();
    kernel.reset();
    const t = phaseTables(y, 0, sharedFft(), []);
    const stride = tileRowBytes(t.frames);
    const tiles = scaledHighTiles(t, scale, taperN(FRAMES_PER_SLOT / scale), { ptr: kernel.alloc(TILE_ROWS * stride), stride });
    return Float32Array.from(kernel.f32(tiles.ptr, tiles.starts * LAG_TILE_FLOATS));
  },
};

/**
 * Small signal-processing helpers shared by the watermark schemes: a radix-2 FFT (`Fft`, plain
 * JavaScript, the reference) and the same transform two at a time in WebAssembly SIMD
 * (`PairedFft`, what the schemes run; bit-identical to Fft, a test checks), an arbitrary-ratio
 * windowed-sinc resampler, and a seeded PRNG so the embedder and the detector derive the same
 * pseudo-random layout from a key string.
 */
import { createHash } from 'node:crypto';
import { FFT_PAIR_WASM_BASE64 } from './fft-pair-wasm.js';
import { ensureMemory, instantiateKernel } from './wasm-kernel.js';

/** In-place iterative radix-2 complex FFT of a fixed power-of-two size. */
export class Fft {
  readonly size: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly rev: Uint32Array;

  constructor(size: number) {
    if (size < 2 || (size & (size - 1)) !== 0) throw new Error(`FFT size must be a power of two, got ${size}`);
    this.size = size;
    this.cos = new Float64Array(size / 2);
    this.sin = new Float64Array(size / 2);
    for (let i = 0; i < size / 2; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / size);
      this.sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
    this.rev = new Uint32Array(size);
    const bits = Math.log2(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
  }

  /**
   * Forward transform (sign -1) when inverse is false; inverse is unscaled. The first two
   * stages have trivial twiddles (±1, ∓i) and are done without multiplications; later stages
   * run two at a time (radix-2², twiddles loaded once per k). This FFT dominates the audio
   * mark's cost.
   */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.size;
    const rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        let t = re[i]!; re[i] = re[j]!; re[j] = t;
        t = im[i]!; im[i] = im[j]!; im[j] = t;
      }
    }
    for (let i = 0; i < n; i += 2) {
      const ar = re[i]!, ai = im[i]!, br = re[i + 1]!, bi = im[i + 1]!;
      re[i] = ar + br; im[i] = ai + bi;
      re[i + 1] = ar - br; im[i + 1] = ai - bi;
    }
    if (n >= 4) {
      for (let i = 0; i < n; i += 4) {
        let ar = re[i]!, ai = im[i]!, br = re[i + 2]!, bi = im[i + 2]!;
        re[i] = ar + br; im[i] = ai + bi;
        re[i + 2] = ar - br; im[i + 2] = ai - bi;
        ar = re[i + 1]!; ai = im[i + 1]!; br = re[i + 3]!; bi = im[i + 3]!;
        // b·w with w = −i (forward) or +i (inverse).
        const xr = inverse ? -bi : bi;
        const xi = inverse ? br : -br;
        re[i + 1] = ar + xr; im[i + 1] = ai + xi;
        re[i + 3] = ar - xr; im[i + 3] = ai - xi;
      }
    }
    const sgn = inverse ? -1 : 1;
    const cos = this.cos;
    const sin = this.sin;
    let len = 8;
    // An odd number of remaining stages: one plain radix-2 stage first.
    if ((Math.log2(n) - 2) % 2 === 1 && len <= n) {
      this.radix2Stage(re, im, len, sgn);
      len <<= 1;
    }
    // Then stages L and 2L merged: each element is loaded and stored once per two stages, which
    // is what this loop's cost is made of in JS (the multiplications are the same four).
    for (; 2 * len <= n; len <<= 2) {
      const half = len >> 1;
      const step1 = n / len;
      const step2 = step1 >> 1;
      const block = len << 1;
      for (let k = 0; k < half; k++) {
        const w1r = cos[k * step1]!, w1i = sgn * sin[k * step1]!;
        const w2r = cos[k * step2]!, w2i = sgn * sin[k * step2]!;
        for (let j = k; j < n; j += block) {
          const i1 = j + half, i2 = j + len, i3 = i2 + half;
          // stage L: (j, i1) and (i2, i3) with W_L^k
          let br = re[i1]!, bi = im[i1]!;
          let xr = br * w1r - bi * w1i, xi = br * w1i + bi * w1r;
          const a0r = re[j]! + xr, a0i = im[j]! + xi, a1r = re[j]! - xr, a1i = im[j]! - xi;
          br = re[i3]!; bi = im[i3]!;
          xr = br * w1r - bi * w1i; xi = br * w1i + bi * w1r;
          const a2r = re[i2]! + xr, a2i = im[i2]! + xi, a3r = re[i2]! - xr, a3i = im[i2]! - xi;
          // stage 2L: (j, i2) with W_2L^k, (i1, i3) with W_2L^(k+L/2) = W_2L^k · (∓i)
          const t2r = a2r * w2r - a2i * w2i, t2i = a2r * w2i + a2i * w2r;
          const ur = a3r * w2r - a3i * w2i, ui = a3r * w2i + a3i * w2r;
          const t3r = sgn * ui, t3i = -sgn * ur;
          re[j] = a0r + t2r; im[j] = a0i + t2i;
          re[i2] = a0r - t2r; im[i2] = a0i - t2i;
          re[i1] = a1r + t3r; im[i1] = a1i + t3i;
          re[i3] = a1r - t3r; im[i3] = a1i - t3i;
        }
      }
    }
  }

  private radix2Stage(re: Float64Array, im: Float64Array, len: number, sgn: number): void {
    const n = this.size;
    const half = len >> 1;
    const step = n / len;
    for (let k = 0; k < half; k++) {
      const wr = this.cos[k * step]!;
      const wi = sgn * this.sin[k * step]!;
      for (let a = k; a < n; a += len) {
        const b = a + half;
        const br = re[b]!, bi = im[b]!;
        const xr = br * wr - bi * wi;
        const xi = br * wi + bi * wr;
        const ar = re[a]!, ai = im[a]!;
        re[b] = ar - xr; im[b] = ai - xi;
        re[a] = ar + xr; im[a] = ai + xi;
      }
    }
  }
}

interface FftPairExports {
  memory: WebAssembly.Memory;
  fft(data: number, tw: number, rev: number, n: number, inverse: number, odd: number): void;
  framePowers(data: number, tw: number, rev: number, n: number, odd: number, buf: number, win: number, hop: number, count: number, out: number, lo: number, hi: number): void;
}

/** Frames per framePowers call: a multiple of four (the grouping), bounding the kernel's buffers. */
const POWER_CHUNK = 256;

/**
 * Two complex FFTs of one size per call, in WebAssembly SIMD (fft-pair.wat): the same butterflies
 * as Fft.transform, one transform per f64x2 lane, with bit-identical results (a test compares
 * them). Callers that pack two real frames per complex transform, as the audio watermark does,
 * so get four real frames per call. The input and output are the `data` view: element i of
 * lane L (0 or 1) has its real part at data[4i + L] and its imaginary part at data[4i + 2 + L].
 */
export class PairedFft {
  readonly size: number;
  private dataView: Float64Array;
  private readonly kernel: FftPairExports;
  private readonly dataPtr: number;
  private readonly forwardPtr: number;
  private readonly inversePtr: number;
  private readonly revPtr: number;
  private readonly odd: number;
  private readonly winPtr: number;
  private readonly bufPtr: number;
  private outPtr = 0;

  constructor(size: number) {
    if (size < 8 || (size & (size - 1)) !== 0) throw new Error(`FFT size must be a power of two ≥ 8, got ${size}`);
    this.size = size;
    this.kernel = instantiateKernel<FftPairExports>(FFT_PAIR_WASM_BASE64);
    // Layout: data (32 bytes per element), forward and inverse twiddles (32 bytes each per k < n/2), bit-reversal table.
    this.dataPtr = 0;
    this.forwardPtr = size * 32;
    this.inversePtr = this.forwardPtr + size * 16;
    this.revPtr = this.inversePtr + size * 16;
    this.winPtr = this.revPtr + size * 4;
    this.bufPtr = this.winPtr + size * 8;
    ensureMemory(this.kernel.memory, this.bufPtr);
    const memory = this.kernel.memory.buffer;
    this.dataView = new Float64Array(memory, this.dataPtr, size * 4);
    // The same twiddle values as Fft's constructor, each stored twice (one per lane).
    const forward = new Float64Array(memory, this.forwardPtr, size * 2);
    const inverse = new Float64Array(memory, this.inversePtr, size * 2);
    for (let k = 0; k < size / 2; k++) {
      const c = Math.cos((2 * Math.PI * k) / size);
      const s = -Math.sin((2 * Math.PI * k) / size);
      forward[4 * k] = forward[4 * k + 1] = c;
      forward[4 * k + 2] = forward[4 * k + 3] = s;
      inverse[4 * k] = inverse[4 * k + 1] = c;
      inverse[4 * k + 2] = inverse[4 * k + 3] = -s;
    }
    const rev = new Uint32Array(memory, this.revPtr, size);
    const bits = Math.log2(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev[i] = r;
    }
    this.odd = (bits - 2) % 2 === 1 ? 1 : 0;
  }

  /** The transform's input and output (see the class comment); take it again after framePowers, which may grow the memory. */
  get data(): Float64Array {
    if (this.dataView.buffer !== this.kernel.memory.buffer) this.dataView = new Float64Array(this.kernel.memory.buffer, this.dataPtr, this.size * 4);
    return this.dataView;
  }

  /**
   * Power spectra (bins lo … hi − 1, hi ≤ size/2) of `count` windowed real frames of x, frame
   * f centred at sample (first + f)·hop, samples outside x zero; four frames per transform,
   * grouped from `first` in fours (frames f, f+1 in lane 0, f+2, f+3 in lane 1). Returns
   * count × (hi − lo) values, frame-major. The values are those of packing the frames into
   * `data` and calling transform() (a unit test compares the two); this does the windowing,
   * the transform and the squaring in the kernel, without a JavaScript loop per sample.
   */
  framePowers(x: Float32Array, window: Float64Array, hop: number, first: number, count: number, lo: number, hi: number): Float64Array {
    const n = this.size;
    if (window.length !== n || lo < 1 || hi > n / 2 || lo >= hi) throw new Error('framePowers: window length must be the FFT size and 1 ≤ lo < hi ≤ size/2');
    const bins = hi - lo;
    const out = new Float64Array(count * bins);
    const bufSamples = (POWER_CHUNK - 1) * hop + n;
    this.outPtr = this.bufPtr + Math.ceil((bufSamples * 4) / 16) * 16;
    ensureMemory(this.kernel.memory, this.outPtr + POWER_CHUNK * bins * 8);
    const memory = this.kernel.memory.buffer;
    new Float64Array(memory, this.winPtr, n).set(window);
    const buf = new Float32Array(memory, this.bufPtr, bufSamples);
    for (let c = 0; c < count; c += POWER_CHUNK) {
      const m = Math.min(POWER_CHUNK, count - c);
      // The chunk's samples, zero outside x: frame c + f reads buf from f·hop.
      const start = (first + c) * hop - n / 2;
      const len = (Math.ceil(m / 4) * 4 - 1) * hop + n;
      const from = Math.max(0, start), to = Math.min(x.length, start + len);
      buf.fill(0, 0, len);
      if (to > from) buf.set(x.subarray(from, to), from - start);
      this.kernel.framePowers(this.dataPtr, this.forwardPtr, this.revPtr, n, this.odd, this.bufPtr, this.winPtr, hop, m, this.outPtr, lo, hi);
      out.set(new Float64Array(memory, this.outPtr, m * bins), c * bins);
    }
    return out;
  }

  /** Forward transform of both lanes in place (sign −1); inverse is unscaled, like Fft's. */
  transform(inverse = false): void {
    this.kernel.fft(this.dataPtr, inverse ? this.inversePtr : this.forwardPtr, this.revPtr, this.size, inverse ? 1 : 0, this.odd);
  }
}

/** Periodic Hann window, optionally square-rooted (for analysis/synthesis pairs at 50% overlap). */
export function hann(size: number, sqrt = false): Float64Array {
  const w = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const v = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size);
    w[i] = sqrt ? Math.sqrt(v) : v;
  }
  return w;
}

/**
 * Arbitrary-ratio resampler: Blackman-windowed sinc evaluated from a dense lookup table.
 * The cut-off sits at 0.92 of the lower Nyquist frequency, which keeps 0–3.6 kHz intact for
 * every rate this project meets (8 kHz and up).
 */
export function resample(input: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return new Float32Array(input);
  const ratio = toRate / fromRate;
  const outLen = Math.max(0, Math.floor(input.length * ratio));
  const out = new Float32Array(outLen);
  const cutoff = 0.92 * Math.min(1, ratio); // relative to the input Nyquist
  const halfTaps = Math.ceil(12 / Math.min(1, ratio));
  const tableRes = 512;
  const table = kernelTable(halfTaps, cutoff, tableRes);
  const step = fromRate / toRate;
  for (let n = 0; n < outLen; n++) {
    const t = n * step;
    const center = Math.floor(t);
    const frac = t - center;
    let acc = 0;
    const lo = Math.max(0, center - halfTaps + 1);
    const hi = Math.min(input.length - 1, center + halfTaps);
    for (let k = lo; k <= hi; k++) {
      const x = Math.abs(k - center - frac) * tableRes;
      const i = x | 0;
      if (i >= table.length - 1) continue;
      const f = x - i;
      acc += input[k]! * (table[i]! + f * (table[i + 1]! - table[i]!));
    }
    out[n] = acc;
  }
  return out;
}

const kernelCache = new Map<string, Float64Array>();
function kernelTable(halfTaps: number, cutoff: number, res: number): Float64Array {
  const key = `${halfTaps}:${cutoff}:${res}`;
  const hit = kernelCache.get(key);
  if (hit) return hit;
  const table = new Float64Array(halfTaps * res + 2);
  for (let i = 0; i < table.length; i++) {
    const x = i / res;
    if (x >= halfTaps) { table[i] = 0; continue; }
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * cutoff * x) / (Math.PI * cutoff * x);
    const u = 0.5 + x / (2 * halfTaps); // Blackman over [-halfTaps, halfTaps]
    const win = 0.42 - 0.5 * Math.cos(2 * Math.PI * u) + 0.08 * Math.cos(4 * Math.PI * u);
    table[i] = cutoff * sinc * win;
  }
  kernelCache.set(key, table);
  return table;
}

/** Deterministic 32-bit PRNG (mulberry32) seeded from a key string. */
export function seededRandom(key: string): () => number {
  let s = createHash('sha256').update(key).digest().readUInt32LE(0);
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rnd: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = items[i]!; items[i] = items[j]!; items[j] = t;
  }
  return items;
}

/** Standard normal tail probability P(Z > z). */
/** The watermark detectors' confidence curve: a logistic in a z-score, 0.5 at its gate. */
export function gateLogistic(z: number, gate: number): number {
  return 1 / (1 + Math.exp(-(z - gate) * 1.2));
}

export function normalTail(z: number): number {
  // Abramowitz–Stegun 7.1.26 on erfc; accurate to ~1e-7, ample for reporting.
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  const erfc = x >= 0 ? y : 2 - y;
  return erfc / 2;
}

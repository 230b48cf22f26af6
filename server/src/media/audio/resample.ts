/**
 * Streaming sample-rate converter for the in-process decoders (mp3.ts): Kaiser-windowed sinc,
 * fed in pieces so a long recording never has to sit in memory at its source rate.
 *
 * Its parameters follow ffmpeg's default resampler (libswresample: cut-off at 0.97 of the lower
 * Nyquist frequency, Kaiser window β = 9, 16 zero crossings either side at the lower rate), because
 * the detector was trained and calibrated on audio that ffmpeg decoded: the two paths should feed
 * it the same spectrum up to 8 kHz. Output sample n sits at input time n · from/to, as in ffmpeg.
 */

const CUTOFF = 0.97;
const ZERO_CROSSINGS = 16;
const KAISER_BETA = 9;
/** More distinct sub-sample phases than this would make the filter bank large; no MP3 rate pair needs more than 640. */
const MAX_PHASES = 4096;

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for x ≤ 20). */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

interface FilterBank { halfWidth: number; phases: number; taps: Float32Array[] }
const banks = new Map<string, FilterBank>();

/**
 * Polyphase filter bank: output sample n lies `phase / phases` of an input sample after input
 * sample floor(n · from/to), and only `phases` = to / gcd(from, to) distinct offsets occur, so each
 * gets its own precomputed taps and the inner loop is a plain dot product.
 */
function filterBank(fromRate: number, toRate: number): FilterBank {
  const key = `${fromRate}:${toRate}`;
  const hit = banks.get(key);
  if (hit) return hit;
  const phases = toRate / gcd(fromRate, toRate);
  if (phases > MAX_PHASES) throw new RangeError(`rate pair ${fromRate} → ${toRate} needs ${phases} filter phases (at most ${MAX_PHASES})`);
  const scale = Math.min(1, toRate / fromRate); // < 1 when down-sampling
  const cutoff = CUTOFF * scale; // relative to the input Nyquist frequency
  const halfWidth = Math.ceil(ZERO_CROSSINGS / scale); // input samples either side
  const norm = besselI0(KAISER_BETA);
  const kernel = (x: number) => {
    const ax = Math.abs(x);
    if (ax >= halfWidth) return 0;
    const sinc = ax === 0 ? 1 : Math.sin(Math.PI * cutoff * ax) / (Math.PI * cutoff * ax);
    const r = ax / halfWidth;
    return cutoff * sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / norm);
  };
  const taps: Float32Array[] = [];
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    const t = new Float32Array(2 * halfWidth);
    // Tap j multiplies input sample center − halfWidth + 1 + j.
    for (let j = 0; j < t.length; j++) t[j] = kernel(j - halfWidth + 1 - frac);
    taps.push(t);
  }
  const bank = { halfWidth, phases, taps };
  banks.set(key, bank);
  return bank;
}

export class StreamingResampler {
  private readonly bank: FilterBank;
  /** Pending input; `pending[0]` is input sample number `pendingStart`. */
  private pending = new Float32Array(0);
  private pendingStart = 0;
  private inputCount = 0;
  /** Next output sample number. */
  private next = 0;

  constructor(readonly fromRate: number, readonly toRate: number) {
    if (!(Number.isInteger(fromRate) && Number.isInteger(toRate) && fromRate > 0 && toRate > 0)) throw new RangeError(`invalid rates ${fromRate} → ${toRate}`);
    this.bank = filterBank(fromRate, toRate);
  }

  /** Adds input samples and returns every output sample that no longer depends on later input. */
  push(input: Float32Array): Float32Array {
    if (this.fromRate === this.toRate) return input.slice();
    const joined = new Float32Array(this.pending.length + input.length);
    joined.set(this.pending);
    joined.set(input, this.pending.length);
    this.pending = joined;
    this.inputCount += input.length;
    return this.produce(false);
  }

  /** The remaining output, with silence assumed after the last input sample. */
  flush(): Float32Array {
    if (this.fromRate === this.toRate) return new Float32Array(0);
    return this.produce(true);
  }

  private produce(final: boolean): Float32Array {
    const { fromRate, toRate, pending, pendingStart } = this;
    const { halfWidth, phases, taps } = this.bank;
    const end = pendingStart + pending.length;
    const phaseUnit = toRate / phases; // = gcd(from, to)
    // Output n needs input up to floor(n·from/to) + halfWidth; at the end, only up to the input's length.
    const total = final ? Math.floor((this.inputCount * toRate) / fromRate) : Infinity;
    const capacity = Math.max(0, Math.min(total, Math.ceil((end * toRate) / fromRate) + 1) - this.next);
    const out = new Float32Array(capacity);
    let produced = 0;
    while (produced < capacity) {
      const n = this.next;
      if (n >= total) break;
      const num = n * fromRate; // exact: below 2^53 for any recording this server accepts
      const center = Math.floor(num / toRate);
      if (!final && center + halfWidth >= end) break;
      const h = taps[(num - center * toRate) / phaseUnit]!;
      const base = center - halfWidth + 1 - pendingStart;
      const jlo = Math.max(0, -base), jhi = Math.min(h.length, pending.length - base);
      // Four partial sums: independent additions pipeline better than one dependent chain.
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let j = jlo;
      for (; j + 3 < jhi; j += 4) {
        const i = base + j;
        a0 += pending[i]! * h[j]!;
        a1 += pending[i + 1]! * h[j + 1]!;
        a2 += pending[i + 2]! * h[j + 2]!;
        a3 += pending[i + 3]! * h[j + 3]!;
      }
      for (; j < jhi; j++) a0 += pending[base + j]! * h[j]!;
      out[produced++] = a0 + a1 + a2 + a3;
      this.next++;
    }
    // Keep only the input later outputs can still reach.
    const keepFrom = Math.max(pendingStart, Math.floor((this.next * fromRate) / toRate) - halfWidth + 1);
    if (keepFrom > pendingStart) {
      this.pending = pending.slice(keepFrom - pendingStart);
      this.pendingStart = keepFrom;
    }
    return out.subarray(0, produced);
  }
}

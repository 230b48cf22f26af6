/**
 * Streaming sample-rate converter for the in-process decoders (mp3.ts): Kaiser-windowed sinc,
 * fed in pieces so a long recording never has to sit in memory at its source rate.
 *
 * Its parameters follow ffmpeg's default resampler (libswresample: cut-off at 0.97 of the lower
 * Nyquist frequency, Kaiser window β = 9, 16 zero crossings either side at the lower rate), because
 * the detector was trained and calibrated on audio that ffmpeg decoded: the two paths should feed
 * it the same spectrum up to 8 kHz. Output sample n sits at input time n · from/to, as in ffmpeg.
 */

import { POLYPHASE_WASM_BASE64 } from './polyphase-wasm.js';

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

/**
 * Polyphase filter bank: output sample n lies `phase / phases` of an input sample after input
 * sample floor(n · from/to), and only `phases` = to / gcd(from, to) distinct offsets occur, so each
 * gets its own precomputed taps. Phase p's taps are `taps[p·stride … p·stride + 2·halfWidth)`,
 * zero-padded to `stride` (a multiple of 4, for the SIMD kernel).
 */
interface FilterBank { halfWidth: number; phases: number; stride: number; taps: Float32Array }
const banks = new Map<string, FilterBank>();

function filterBank(fromRate: number, toRate: number): FilterBank {
  const key = `${fromRate}:${toRate}`;
  const hit = banks.get(key);
  if (hit) return hit;
  const phases = toRate / gcd(fromRate, toRate);
  if (phases > MAX_PHASES) throw new RangeError(`rate pair ${fromRate} → ${toRate} needs ${phases} filter phases (at most ${MAX_PHASES})`);
  const scale = Math.min(1, toRate / fromRate); // < 1 when down-sampling
  const cutoff = CUTOFF * scale; // relative to the input Nyquist frequency
  const halfWidth = Math.ceil(ZERO_CROSSINGS / scale); // input samples either side
  const stride = Math.ceil((2 * halfWidth) / 4) * 4;
  const norm = besselI0(KAISER_BETA);
  const kernel = (x: number) => {
    const ax = Math.abs(x);
    if (ax >= halfWidth) return 0;
    const sinc = ax === 0 ? 1 : Math.sin(Math.PI * cutoff * ax) / (Math.PI * cutoff * ax);
    const r = ax / halfWidth;
    return cutoff * sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / norm);
  };
  const taps = new Float32Array(phases * stride);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    // Tap j multiplies input sample center − halfWidth + 1 + j.
    for (let j = 0; j < 2 * halfWidth; j++) taps[p * stride + j] = kernel(j - halfWidth + 1 - frac);
  }
  const bank = { halfWidth, phases, stride, taps };
  banks.set(key, bank);
  return bank;
}

/** The dot-product loop (polyphase.wat), compiled once; each resampler gets its own instance and memory. */
let kernelModule: WebAssembly.Module | null = null;
interface PolyphaseExports {
  memory: WebAssembly.Memory;
  polyphase(x: number, taps: number, stride: number, out: number, count: number, base: number, phase: number, step: number, phases: number): void;
}

function polyphaseKernel(): PolyphaseExports {
  kernelModule ??= new WebAssembly.Module(Buffer.from(POLYPHASE_WASM_BASE64, 'base64'));
  return new WebAssembly.Instance(kernelModule, {}).exports as unknown as PolyphaseExports;
}

export class StreamingResampler {
  private readonly bank: FilterBank;
  private readonly kernel: PolyphaseExports | null = null;
  /**
   * Pending input lives in the kernel's memory, after the filter bank: `pendingLength` samples
   * from byte `xAt`, the first being input sample number `pendingStart`. It starts with
   * halfWidth − 1 zeros before sample 0 (silence before the recording, as in ffmpeg), so every
   * output sample's window lies inside it and all of them go through the same kernel.
   */
  private readonly xAt: number = 0;
  private pendingLength: number;
  private pendingStart: number;
  private inputCount = 0;
  /** Next output sample number. */
  private next = 0;

  constructor(readonly fromRate: number, readonly toRate: number) {
    if (!(Number.isInteger(fromRate) && Number.isInteger(toRate) && fromRate > 0 && toRate > 0)) throw new RangeError(`invalid rates ${fromRate} → ${toRate}`);
    this.bank = filterBank(fromRate, toRate);
    this.pendingLength = this.bank.halfWidth - 1;
    this.pendingStart = -(this.bank.halfWidth - 1);
    if (fromRate !== toRate) {
      this.kernel = polyphaseKernel();
      this.xAt = this.bank.taps.length * 4;
      this.ensureMemory(this.xAt + (this.pendingLength + this.bank.stride) * 4);
      // The bank sits at the start of the instance's memory for the resampler's lifetime; fresh
      // WebAssembly memory is zeroed, which is the leading silence.
      new Float32Array(this.kernel.memory.buffer, 0, this.bank.taps.length).set(this.bank.taps);
    }
  }

  /** Adds input samples and returns every output sample that no longer depends on later input. */
  push(input: Float32Array): Float32Array {
    if (this.fromRate === this.toRate) return input.slice();
    this.append(input);
    this.inputCount += input.length;
    return this.produce(false);
  }

  /** The remaining output, with silence assumed after the last input sample. */
  flush(): Float32Array {
    if (this.fromRate === this.toRate) return new Float32Array(0);
    this.append(new Float32Array(this.bank.halfWidth + 1));
    return this.produce(true);
  }

  private append(input: Float32Array): void {
    this.ensureMemory(this.xAt + (this.pendingLength + input.length) * 4);
    new Float32Array(this.kernel!.memory.buffer, this.xAt + this.pendingLength * 4, input.length).set(input);
    this.pendingLength += input.length;
  }

  /** Grows the kernel's memory to at least `bytes` (views made before this are then stale). */
  private ensureMemory(bytes: number): void {
    const memory = this.kernel!.memory;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  }

  private produce(final: boolean): Float32Array {
    const { fromRate, toRate, pendingLength, pendingStart, xAt } = this;
    const { halfWidth, phases, stride } = this.bank;
    const end = pendingStart + pendingLength;
    const phaseUnit = toRate / phases; // = gcd(from, to)
    // Output n reads input center − halfWidth + 1 … center + halfWidth, center = floor(n·from/to),
    // so it is ready once center ≤ end − halfWidth − 1; at the end, only outputs within the input's
    // length exist (flush appended the silence they read).
    const lastCenter = end - halfWidth - 1;
    const ready = lastCenter < 0 ? 0 : Math.floor(((lastCenter + 1) * toRate - 1) / fromRate) + 1;
    const total = final ? Math.floor((this.inputCount * toRate) / fromRate) : Infinity;
    const count = Math.max(0, Math.min(ready, total) - this.next);
    const out = new Float32Array(count);
    // Memory: [taps][pending + stride of slack, read only against zero taps][output].
    const outAt = xAt + (pendingLength + stride) * 4;
    this.ensureMemory(outAt + count * 4);
    const buffer = this.kernel!.memory.buffer;
    if (count > 0) {
      const num = this.next * fromRate; // exact: below 2^53 for any recording this server accepts
      const center = Math.floor(num / toRate);
      new Float32Array(buffer, xAt + pendingLength * 4, stride).fill(0);
      this.kernel!.polyphase(xAt, 0, stride, outAt, count, center - halfWidth + 1 - pendingStart,
        (num - center * toRate) / phaseUnit, fromRate / phaseUnit, phases);
      out.set(new Float32Array(buffer, outAt, count));
      this.next += count;
    }
    // Keep only the input later outputs can still reach, moved to the front of the region.
    const keepFrom = Math.max(pendingStart, Math.floor((this.next * fromRate) / toRate) - halfWidth + 1);
    if (keepFrom > pendingStart) {
      const drop = keepFrom - pendingStart;
      new Float32Array(buffer, xAt, pendingLength).copyWithin(0, drop);
      this.pendingLength = pendingLength - drop;
      this.pendingStart = keepFrom;
    }
    return out;
  }
}

/**
 * Error control for the watermark payloads: CRC-16/CCITT for integrity and a rate-1/2,
 * constraint-length-7 convolutional code (generators 171/133 octal) with a soft-input Viterbi
 * decoder. Soft inputs are real numbers, positive meaning "bit 0 more likely".
 */
import { createHash } from 'node:crypto';
import { VITERBI_WASM_BASE64 } from './viterbi-wasm.js';
import { instantiateKernel } from './wasm-kernel.js';

export const CONV_K = 7;
const G1 = 0o171;
const G2 = 0o133;
const STATES = 1 << (CONV_K - 1);

function parity(x: number): number {
  x ^= x >> 16; x ^= x >> 8; x ^= x >> 4; x ^= x >> 2; x ^= x >> 1;
  return x & 1;
}

/** Encodes bits (0/1) plus K-1 zero tail bits; output length 2 * (bits.length + K - 1). */
export function convEncode(bits: ArrayLike<number>): Uint8Array {
  const total = bits.length + CONV_K - 1;
  const out = new Uint8Array(total * 2);
  let reg = 0;
  for (let i = 0; i < total; i++) {
    const b = i < bits.length ? bits[i]! & 1 : 0;
    reg = ((reg << 1) | b) & ((1 << CONV_K) - 1);
    out[2 * i] = parity(reg & G1);
    out[2 * i + 1] = parity(reg & G2);
  }
  return out;
}

/**
 * Branch outputs, indexed by predecessor state · 2 + input bit: bit 1 = first generator's
 * output, bit 0 = the second's. Built once (the decoder runs some hundred times per file).
 */
const BRANCH_CODE = (() => {
  const t = new Uint8Array(STATES * 2);
  for (let s = 0; s < STATES; s++) {
    for (let b = 0; b < 2; b++) {
      const reg = (s << 1) | b;
      t[s * 2 + b] = (parity(reg & G1) << 1) | parity(reg & G2);
    }
  }
  return t;
})();

/**
 * Soft Viterbi decoding of a tail-terminated codeword; returns the info bits.
 *
 * Written as butterflies: states lo and lo | STATES/2 are the two predecessors of successors
 * 2·lo and 2·lo + 1, so each successor is one compare and the four branch metrics are computed
 * once per step (about a quarter less time than the textbook loop over predecessors). Ties
 * and unreachable states resolve as that loop's would (the lower predecessor wins a tie), so
 * the decisions are the same; a unit test holds the two to each other.
 */
export function viterbiDecode(soft: ArrayLike<number>, infoBits: number): Uint8Array {
  const steps = infoBits + CONV_K - 1;
  if (soft.length < steps * 2) throw new Error('soft input shorter than the codeword');
  if (useViterbiKernel && steps <= KERNEL_MAX_STEPS) return kernelDecode(soft, steps, infoBits);
  const half = STATES >> 1;
  let metric = new Float64Array(STATES).fill(-Infinity);
  metric[0] = 0;
  let next = new Float64Array(STATES);
  const back = new Uint8Array(steps * STATES); // 1 where the upper predecessor won
  const bm = new Float64Array(4);
  for (let t = 0; t < steps; t++) {
    const s0 = +soft[2 * t]!;
    const s1 = +soft[2 * t + 1]!;
    // Metric of a branch whose outputs are (o1, o2): (o1 ? −s0 : s0) + (o2 ? −s1 : s1).
    bm[0] = s0 + s1; bm[1] = s0 + -s1; bm[2] = -s0 + s1; bm[3] = -s0 + -s1;
    const row = t * STATES;
    // While the zero tail flushes the register only input 0 occurs: odd states are unreachable.
    const inputs = t < infoBits ? 2 : 1;
    for (let lo = 0; lo < half; lo++) {
      const hi = lo | half;
      const mLo = metric[lo]!, mHi = metric[hi]!;
      for (let b = 0; b < inputs; b++) {
        const ns = (lo << 1) | b;
        const vLo = mLo + bm[BRANCH_CODE[lo * 2 + b]!]!;
        const vHi = mHi + bm[BRANCH_CODE[hi * 2 + b]!]!;
        let best = -Infinity;
        if (vLo > best) best = vLo;
        if (vHi > best) { best = vHi; back[row + ns] = 1; }
        next[ns] = best;
      }
      if (inputs === 1) next[(lo << 1) | 1] = -Infinity;
    }
    const tmp = metric; metric = next; next = tmp;
  }
  // Trace back from state 0 (the tail forces it).
  const bits = new Uint8Array(steps);
  let state = 0;
  for (let t = steps - 1; t >= 0; t--) {
    bits[t] = state & 1;
    const hi = back[t * STATES + state]!;
    state = (state >> 1) | (hi << (CONV_K - 2));
  }
  return bits.subarray(0, infoBits);
}

/**
 * The same decoder in WebAssembly (viterbi.wat), for words up to KERNEL_MAX_STEPS steps (the
 * payloads here have 54 and 86): every metric is the same double sum and every decision the
 * same comparison, so the bits are the loop's above (a unit test runs both against the
 * textbook decoder).
 */
interface ViterbiExports { memory: WebAssembly.Memory; viterbi(steps: number, info: number, back: number, bits: number): void }
const KERNEL_SOFT = 1280;
const KERNEL_MAX_STEPS = 640; // soft, decisions and bits fit the kernel's one 64 KiB page
let viterbiKernel: ViterbiExports | null = null;
let useViterbiKernel = true;
function kernelDecode(soft: ArrayLike<number>, steps: number, infoBits: number): Uint8Array {
  if (!viterbiKernel) {
    viterbiKernel = instantiateKernel<ViterbiExports>(VITERBI_WASM_BASE64);
    new Uint8Array(viterbiKernel.memory.buffer, 0, BRANCH_CODE.length).set(BRANCH_CODE);
  }
  const k = viterbiKernel;
  const input = new Float64Array(k.memory.buffer, KERNEL_SOFT, 2 * steps);
  for (let i = 0; i < 2 * steps; i++) input[i] = +soft[i]!;
  const back = KERNEL_SOFT + 16 * steps;
  const bits = back + 64 * steps;
  k.viterbi(steps, infoBits, back, bits);
  return new Uint8Array(k.memory.buffer.slice(bits, bits + infoBits));
}

/** Tests switch between the kernel and the JavaScript loop (both must decide alike). */
export function setViterbiKernelForTests(on: boolean): void {
  useViterbiKernel = on;
}

export function crc16(bits: ArrayLike<number>): number {
  let crc = 0xffff;
  for (let i = 0; i < bits.length; i++) {
    const top = ((crc >> 15) & 1) ^ (bits[i]! & 1);
    crc = (crc << 1) & 0xffff;
    if (top) crc ^= 0x1021;
  }
  return crc;
}

export function bytesToBits(bytes: Uint8Array): Uint8Array {
  const bits = new Uint8Array(bytes.length * 8);
  for (let i = 0; i < bits.length; i++) bits[i] = (bytes[i >> 3]! >> (7 - (i & 7))) & 1;
  return bits;
}

export function bitsToBytes(bits: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) bytes[i >> 3]! |= 1 << (7 - (i & 7));
  return bytes;
}

export function numberToBits(value: number, width: number): Uint8Array {
  const bits = new Uint8Array(width);
  for (let i = 0; i < width; i++) bits[i] = (value >>> (width - 1 - i)) & 1;
  return bits;
}

export function bitsToNumber(bits: ArrayLike<number>): number {
  let v = 0;
  for (let i = 0; i < bits.length; i++) v = (v * 2) + (bits[i]! & 1);
  return v;
}

export const DEFAULT_MESSAGE = 'resembleai';

/** Payload bytes derived from a custom message: the first `bytes` of SHA-256(message). */
export function payloadFromMessage(message: string | undefined | null, bytes: number): Uint8Array {
  const text = message == null || message === '' ? DEFAULT_MESSAGE : message;
  return new Uint8Array(createHash('sha256').update(text, 'utf8').digest().subarray(0, bytes));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Whether two payloads hold the same bytes (a decoded payload against an expected or tested one). */
export function samePayload(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

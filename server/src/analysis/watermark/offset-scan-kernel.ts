/**
 * The WebAssembly kernel of the audio watermark's nominal-speed offset scan (offset-scan.wat):
 * the sync sums of every offset of one period, bit-identical to alignmentSums' JavaScript loop.
 * The constant tables (cosine table, cell dithers) are copied in once; each scan copies one
 * hypothesis' weights and table indices in (a few hundred kB for a 4 s window).
 */
import { OFFSET_SCAN_WASM_BASE64 } from './offset-scan-wasm.js';
import { ensureMemory, instantiateKernel } from './wasm-kernel.js';

interface OffsetScanExports {
  memory: WebAssembly.Memory;
  offsetScan(weight: number, weight2: number, sync: number, dither: number, cos: number, starts: number, period: number, L: number, m: number, out: number, known: number, kdither: number): void;
}

export class OffsetScanKernel {
  private readonly kernel: OffsetScanExports;
  private readonly cosPtr = 0;
  private readonly ditherPtr: number;
  /** The known codeword's dither table (same length as the sync dithers), see setKnownDither. */
  private readonly knownDitherPtr: number;
  private knownKey: string | null = null;
  private readonly heapStart: number;

  constructor(cosTable: Float64Array, ditherIndex: Float64Array) {
    this.kernel = instantiateKernel<OffsetScanExports>(OFFSET_SCAN_WASM_BASE64);
    this.ditherPtr = cosTable.length * 8;
    this.knownDitherPtr = this.ditherPtr + ditherIndex.length * 8;
    this.heapStart = this.knownDitherPtr + ditherIndex.length * 8;
    ensureMemory(this.kernel.memory, this.heapStart);
    new Float64Array(this.kernel.memory.buffer, this.cosPtr, cosTable.length).set(cosTable);
    new Float64Array(this.kernel.memory.buffer, this.ditherPtr, ditherIndex.length).set(ditherIndex);
  }

  /**
   * Sums of offsets 0 … period − 1 (integer slot length L and margin m, in frames): returns
   * [num, den, num2, den2] per offset, four values apart, in a view that the next scan
   * overwrites. weight, weight2 and sync hold starts × 10 values ([a · 10 + pair]).
   */
  scan(weight: Float64Array, weight2: Float64Array, sync: Float64Array, starts: number, period: number, L: number, m: number): Float64Array {
    return this.run(weight, weight2, sync, null, starts, period, L, m);
  }

  /** Loads a known codeword's dither table (key names it, so reloading the same one is free). */
  setKnownDither(key: string, knownDitherIndex: Float64Array): void {
    if (this.knownKey === key) return;
    new Float64Array(this.kernel.memory.buffer, this.knownDitherPtr, knownDitherIndex.length).set(knownDitherIndex);
    this.knownKey = key;
  }

  /**
   * scan's sums plus the known codeword's correlation (index array `known`, dithers from
   * setKnownDither) in the same walk: [num, den, num2, den2, knum, knum2] per offset, six
   * values apart.
   */
  scanWithKnown(weight: Float64Array, weight2: Float64Array, sync: Float64Array, known: Float64Array, starts: number, period: number, L: number, m: number): Float64Array {
    return this.run(weight, weight2, sync, known, starts, period, L, m);
  }

  private run(weight: Float64Array, weight2: Float64Array, sync: Float64Array, known: Float64Array | null, starts: number, period: number, L: number, m: number): Float64Array {
    const n = weight.length;
    const wPtr = this.heapStart, w2Ptr = wPtr + n * 8, syncPtr = w2Ptr + n * 8;
    const knownPtr = known ? syncPtr + n * 8 : 0;
    const outPtr = syncPtr + n * 8 * (known ? 2 : 1);
    const perOffset = known ? 6 : 4;
    ensureMemory(this.kernel.memory, outPtr + period * perOffset * 8);
    const buffer = this.kernel.memory.buffer;
    new Float64Array(buffer, wPtr, n).set(weight);
    new Float64Array(buffer, w2Ptr, n).set(weight2);
    new Float64Array(buffer, syncPtr, n).set(sync);
    if (known) new Float64Array(buffer, knownPtr, n).set(known);
    this.kernel.offsetScan(wPtr, w2Ptr, syncPtr, this.ditherPtr, this.cosPtr, starts, period, L, m, outPtr, knownPtr, known ? this.knownDitherPtr : 0);
    return new Float64Array(this.kernel.memory.buffer, outPtr, period * perOffset);
  }
}

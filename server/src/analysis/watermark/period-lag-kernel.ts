/**
 * The WebAssembly kernels of the audio watermark's period scan (period-lag.wat) and the memory
 * they share: bandSums turns running bin sums into a scaled band's tapered tile sums, tileCells
 * turns those into tiles, lagSums multiplies tiles a period apart. The running bin sums and the
 * tiles live in the kernel's own memory, allocated from a bump pointer that each scan resets,
 * so no step copies them. The memory grows to what the largest scan needed and is kept for the
 * next one. By arithmetic, tiles take 18 layouts (15 for speed, 3 for tempo) × 4 phases × 64 bytes per start frame and the
 * running sums 4 phases × 115 rows × 8 bytes per frame: about 13 MB for a 10 s input, 40 MB
 * for the 30 s a scan reads at most. Each thread that scans has its own instance.
 */
import { PERIOD_LAG_WASM_BASE64 } from './period-lag-wasm.js';
import { ensureMemory, instantiateKernel } from './wasm-kernel.js';

interface PeriodLagExports {
  memory: WebAssembly.Memory;
  lagSums(b: number, o: number, n: number, pos: number, hop: number, slot: number, perSample: number, classes: number, num: number, den: number, acc: number): void;
  tileCells(sums: number, stride: number, etile: number, starts: number, out: number, cos: number, factors: number, bands: number, knee: number, invDelta: number): void;
  ln2(p: number): void;
  bandSums(cum: number, frames: number, jl: number, fl: number, jh: number, fh: number, n: number, ramp: number, starts: number, scratch: number, out: number): void;
}

/** Constants of tileCells (see period-lag.wat): the cosine table and the five pairs' factors. */
export interface TileCellConstants { cosTable: Float64Array; pairFactors: readonly number[]; bands: number; shareKnee: number; invDelta: number }

/** Floats per tile: the kernel's layout (see period-lag.wat). */
export const LAG_TILE_FLOATS = 16;
/** Sum slots at the start of memory: more position classes than any slot length gives. */
const MAX_CLASSES = 128;

export class PeriodLagKernel {
  private readonly kernel: PeriodLagExports;
  private next = 0;
  private readonly numPtr = 0;
  private readonly denPtr = MAX_CLASSES * 8;
  private readonly cosPtr = 2 * MAX_CLASSES * 8;
  private readonly factorsPtr: number;
  /** lagSums' per-class single-precision accumulators (32 bytes per class). */
  private readonly accPtr: number;
  private readonly heapStart: number;

  constructor(private readonly constants?: TileCellConstants) {
    this.kernel = instantiateKernel<PeriodLagExports>(PERIOD_LAG_WASM_BASE64);
    const tableBytes = (constants?.cosTable.length ?? 0) * 8;
    this.factorsPtr = this.cosPtr + tableBytes;
    this.accPtr = this.factorsPtr + 64;
    this.heapStart = this.accPtr + MAX_CLASSES * 32;
    this.next = this.heapStart;
    ensureMemory(this.kernel.memory, this.heapStart);
    if (constants) {
      if (constants.cosTable.length !== 4096 || constants.pairFactors.length !== 5) throw new Error('period-lag kernel: tileCells expects a 4096-entry table and five pair factors');
      new Float64Array(this.kernel.memory.buffer, this.cosPtr, 4096).set(constants.cosTable);
      new Float64Array(this.kernel.memory.buffer, this.factorsPtr, 5).set(constants.pairFactors);
    }
  }

  /** Forgets every tile block (their byte offsets become invalid). */
  reset(): void {
    this.next = this.heapStart;
  }

  /**
   * A zeroed block for `tiles` tiles; returns its byte offset and a view to fill. The view is
   * only good until the next allocation (growing the memory detaches it); the offset stays good
   * until reset().
   */
  allocTiles(tiles: number): { ptr: number; view: Float32Array } {
    const ptr = this.alloc(tiles * LAG_TILE_FLOATS * 4);
    const view = new Float32Array(this.kernel.memory.buffer, ptr, tiles * LAG_TILE_FLOATS);
    view.fill(0);
    return { ptr, view };
  }

  /** A block of `bytes` (rounded up to 16, plus 16 so a two-lane load may pass its end); byte offset. */
  alloc(bytes: number): number {
    const ptr = this.next;
    this.next += Math.ceil(bytes / 16) * 16 + 16;
    ensureMemory(this.kernel.memory, this.next);
    return ptr;
  }

  /** A single-precision view of memory at a byte offset (tiles); good until the next allocation. */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.kernel.memory.buffer, ptr, length);
  }

  /** A double view of memory at a byte offset; good until the next allocation. */
  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.kernel.memory.buffer, ptr, length);
  }

  /**
   * Fills `starts` zeroed tiles at byte offset `out` from band-sum rows (ten rows of doubles,
   * `stride` bytes apart, from `sums`) and tile energies (doubles at `etile`); see
   * period-lag.wat. Needs the constants the kernel was built with.
   */
  tileCells(sums: number, stride: number, etile: number, starts: number, out: number): void {
    const c = this.constants;
    if (!c) throw new Error('period-lag kernel built without tileCells constants');
    this.kernel.tileCells(sums, stride, etile, starts, out, this.cosPtr, this.factorsPtr, c.bands, c.shareKnee, c.invDelta);
  }

  /**
   * One scaled band's tapered tile sums into `starts` doubles at byte offset `out`, from running
   * bin sums at byte offset `cum` (rows of `frames` doubles; edges in rows jl/jh, given as element
   * offsets, at fractions fl/fh); `scratch` holds 2 (frames + 1) doubles. See period-lag.wat.
   */
  bandSums(cum: number, frames: number, jl: number, fl: number, jh: number, fh: number, n: number, ramp: number, starts: number, scratch: number, out: number): void {
    this.kernel.bandSums(cum, frames, jl, fl, jh, fh, n, ramp, starts, scratch, out);
  }

  /** The kernel's natural log, for its test: ln of each value (two at a time). */
  ln(values: Float64Array): Float64Array {
    const ptr = this.alloc(16);
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i += 2) {
      const v = this.f64(ptr, 2);
      v[0] = values[i]!; v[1] = values[i + 1] ?? 1;
      this.kernel.ln2(ptr);
      out[i] = v[0]!;
      if (i + 1 < values.length) out[i + 1] = v[1]!;
    }
    this.next = ptr;
    return out;
  }

  /**
   * Starts a lag's sums over `classes` position classes (zeroed) and returns the views that
   * lagSums adds into (good until the next allocation).
   */
  startSums(classes: number): { num: Float64Array; den: Float64Array } {
    if (classes > MAX_CLASSES) throw new Error(`period scan: ${classes} position classes, at most ${MAX_CLASSES}`);
    const buffer = this.kernel.memory.buffer;
    const num = new Float64Array(buffer, this.numPtr, classes);
    const den = new Float64Array(buffer, this.denPtr, classes);
    num.fill(0);
    den.fill(0);
    return { num, den };
  }

  /**
   * Adds the products of n consecutive base tiles (from byte offset b) with the tiles from
   * byte offset o into the current sums; see period-lag.wat for the arguments.
   */
  lagSums(b: number, o: number, n: number, pos: number, hop: number, slot: number, perSample: number, classes: number): void {
    this.kernel.lagSums(b, o, n, pos, hop, slot, perSample, classes, this.numPtr, this.denPtr, this.accPtr);
  }
}

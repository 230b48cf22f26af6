/**
 * The WebAssembly kernel of the audio watermark's period scan (period-lag.wat) and the memory
 * it reads: the scan's tiles live in the kernel's own memory, allocated from a bump pointer
 * that each scan resets, so a lag's sums never copy them. The memory grows to what the
 * largest scan needed (by arithmetic, 15 layouts × 4 phases × 64 bytes per start frame: about
 * 6 MB for a 10 s input, 18 MB for the 30 s a scan reads at most)
 * and is kept for the next one; each thread that scans has its own instance.
 */
import { PERIOD_LAG_WASM_BASE64 } from './period-lag-wasm.js';

interface PeriodLagExports {
  memory: WebAssembly.Memory;
  lagSums(b: number, o: number, n: number, pos: number, hop: number, slot: number, perSample: number, classes: number, num: number, den: number): void;
}

/** Floats per tile: the kernel's layout (see period-lag.wat). */
export const LAG_TILE_FLOATS = 16;
/** Sum slots at the start of memory: more position classes than any slot length gives. */
const MAX_CLASSES = 128;

let lagModule: WebAssembly.Module | null = null;

export class PeriodLagKernel {
  private readonly kernel: PeriodLagExports;
  private next = 0;
  private readonly numPtr = 0;
  private readonly denPtr = MAX_CLASSES * 8;
  private readonly heapStart = 2 * MAX_CLASSES * 8;

  constructor() {
    lagModule ??= new WebAssembly.Module(Buffer.from(PERIOD_LAG_WASM_BASE64, 'base64'));
    this.kernel = new WebAssembly.Instance(lagModule, {}).exports as unknown as PeriodLagExports;
    this.next = this.heapStart;
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
    const ptr = this.next;
    const bytes = tiles * LAG_TILE_FLOATS * 4;
    this.next += bytes;
    const have = this.kernel.memory.buffer.byteLength;
    if (this.next > have) this.kernel.memory.grow(Math.ceil((this.next - have) / 65536));
    const view = new Float32Array(this.kernel.memory.buffer, ptr, tiles * LAG_TILE_FLOATS);
    view.fill(0);
    return { ptr, view };
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
    this.kernel.lagSums(b, o, n, pos, hop, slot, perSample, classes, this.numPtr, this.denPtr);
  }
}

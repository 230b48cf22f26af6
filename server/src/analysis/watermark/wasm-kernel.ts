/**
 * What every WebAssembly kernel of the watermark engine needs from JavaScript: its module,
 * compiled once per process from the base64 bytes scripts/build-wasm.mjs generates, an
 * instance with its own memory for each caller, and growing that memory to a size.
 */
const modules = new Map<string, WebAssembly.Module>();

/** A fresh instance of the kernel whose bytes are `base64` (the module is compiled once). */
export function instantiateKernel<T extends { memory: WebAssembly.Memory }>(base64: string): T {
  let module = modules.get(base64);
  if (!module) {
    module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
    modules.set(base64, module);
  }
  return new WebAssembly.Instance(module, {}).exports as unknown as T;
}

/** Grows `memory` to at least `bytes` (whole 64 KiB pages). Views on the old buffer detach. */
export function ensureMemory(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}

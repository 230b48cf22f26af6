import { describe, expect, it } from 'vitest';
import { StreamingResampler } from './resample.js';
import { POLYPHASE_WASM_BASE64 } from './polyphase-wasm.js';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { compilePolyphase } from '../../../../scripts/build-wasm.mjs';

/**
 * The resampler's definition written out directly, in double precision and without a filter
 * bank: y[n] = Σ_k x[k] · c · sinc(c · (t − k)) · kaiser((t − k) / W), t = n · from/to, with the
 * cut-off c and half-width W (input samples) as in libswresample's defaults. It checks the SIMD
 * kernel's indexing (which phase, which input window, how both step) independently of resample.ts.
 */
function reference(x: Float32Array, from: number, to: number): Float64Array {
  const scale = Math.min(1, to / from);
  const cutoff = 0.97 * scale;
  const half = Math.ceil(16 / scale);
  const i0 = (v: number) => { let s = 1, t = 1; for (let k = 1; k < 50; k++) { t *= (v / (2 * k)) ** 2; s += t; } return s; };
  const out = new Float64Array(Math.floor((x.length * to) / from));
  for (let n = 0; n < out.length; n++) {
    const t = (n * from) / to;
    let acc = 0;
    for (let k = Math.floor(t) - half + 1; k <= Math.floor(t) + half; k++) {
      if (k < 0 || k >= x.length) continue;
      const d = Math.abs(t - k);
      if (d >= half) continue;
      const sinc = d === 0 ? 1 : Math.sin(Math.PI * cutoff * d) / (Math.PI * cutoff * d);
      acc += x[k]! * cutoff * sinc * (i0(9 * Math.sqrt(1 - (d / half) ** 2)) / i0(9));
    }
    out[n] = acc;
  }
  return out;
}

describe('resampler kernel', () => {
  it('matches the filter written out directly at every MP3 rate, from the first output sample to the last', () => {
    let state = 7;
    const noise = (n: number) => Float32Array.from({ length: n }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 31 - 1;
    });
    for (const from of [8000, 11025, 12000, 22050, 24000, 32000, 44100, 48000]) {
      const x = noise(Math.round(from * 0.3));
      const r = new StreamingResampler(from, 16000);
      const pieces: number[] = [];
      for (let at = 0; at < x.length; at += 1151) pieces.push(...r.push(x.subarray(at, at + 1151)));
      pieces.push(...r.flush());
      const want = reference(x, from, 16000);
      expect(pieces.length, `${from} Hz`).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(pieces[i]! - want[i]!));
      // Float32 taps and sums against a double-precision reference: far below 16-bit quantisation.
      expect(worst, `${from} Hz`).toBeLessThan(2e-5);
    }
  });

  it('ships the WebAssembly that polyphase.wat compiles to (rerun scripts/build-wasm.mjs after editing it)', async () => {
    const bytes: Buffer = await compilePolyphase();
    expect(bytes.toString('base64')).toBe(POLYPHASE_WASM_BASE64);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnalysisError } from '../types.js';
import { AUDIO_WM_RATE, audioWatermarkInternalsForTests, detectAudioWatermark, embedAudioWatermark, snrDb } from './audio-watermark.js';
import { convEncode, crc16, viterbiDecode, payloadFromMessage, setViterbiKernelForTests } from './ecc.js';
import { VITERBI_WASM_BASE64 } from './viterbi-wasm.js';
import { Fft, PairedFft } from './dsp.js';
import { FFT_PAIR_WASM_BASE64 } from './fft-pair-wasm.js';
import { PERIOD_LAG_WASM_BASE64 } from './period-lag-wasm.js';
import { OFFSET_SCAN_WASM_BASE64 } from './offset-scan-wasm.js';
import { LAG_TILE_FLOATS, PeriodLagKernel } from './period-lag-kernel.js';
import { compileKernel, KERNELS } from '../../../../scripts/build-wasm.mjs';
import { decodeAudio } from './ffmpeg.js';
import { applyImageWatermark, boxBlur, detectImageWatermark, imagePayloadFromMessage } from './image-watermark.js';
import { applyWatermarkToFile, detectWatermarkInFile } from './media-watermark.js';

const dir = mkdtempSync(join(tmpdir(), 'wm-test-'));
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
let speech: Float32Array;

beforeAll(async () => {
  execFileSync('espeak-ng', ['-w', join(dir, 'speech.wav'), 'The watermark must survive compression, resampling and cropping. '
    + 'We check that every excerpt still carries the payload, and that clean recordings never do.']);
  speech = await decodeAudio(join(dir, 'speech.wav'), { sampleRate: AUDIO_WM_RATE, channels: 1 });
});

describe('FFT', () => {
  it('matches a direct DFT, forward and inverse, for odd and even stage counts', () => {
    let state = 3;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
    for (const n of [8, 16, 64, 512]) {
      const fft = new Fft(n);
      const xr = Float64Array.from({ length: n }, rnd), xi = Float64Array.from({ length: n }, rnd);
      for (const inverse of [false, true]) {
        const re = xr.slice(), im = xi.slice();
        fft.transform(re, im, inverse);
        const sign = inverse ? 1 : -1;
        let worst = 0;
        for (let k = 0; k < n; k++) {
          let ar = 0, ai = 0;
          for (let t = 0; t < n; t++) {
            const a = (sign * 2 * Math.PI * k * t) / n;
            ar += xr[t]! * Math.cos(a) - xi[t]! * Math.sin(a);
            ai += xr[t]! * Math.sin(a) + xi[t]! * Math.cos(a);
          }
          worst = Math.max(worst, Math.abs(ar - re[k]!), Math.abs(ai - im[k]!));
        }
        expect(worst, `n ${n} ${inverse ? 'inverse' : 'forward'}`).toBeLessThan(1e-9);
      }
    }
  });

  it('the WebAssembly paired FFT gives Fft\'s output bit for bit in both lanes', () => {
    // Bit-identical, not merely close: the watermark's decisions must not depend on which of the
    // two transforms ran. Sizes with odd and even stage counts, both directions, and values
    // spanning many magnitudes (rounding differences would show in the low bits).
    let state = 11;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return (state / 4294967296 - 0.5) * 10 ** ((state % 7) - 3); };
    for (const n of [8, 16, 32, 512, 2048]) {
      const scalar = new Fft(n);
      const paired = new PairedFft(n);
      for (const inverse of [false, true]) {
        const lanes = [0, 1].map(() => ({ re: Float64Array.from({ length: n }, rnd), im: Float64Array.from({ length: n }, rnd) }));
        lanes.forEach((l, lane) => { for (let i = 0; i < n; i++) { paired.data[4 * i + lane] = l.re[i]!; paired.data[4 * i + 2 + lane] = l.im[i]!; } });
        paired.transform(inverse);
        let differing = 0;
        lanes.forEach((l, lane) => {
          scalar.transform(l.re, l.im, inverse);
          for (let i = 0; i < n; i++) {
            if (!Object.is(paired.data[4 * i + lane], l.re[i])) differing++;
            if (!Object.is(paired.data[4 * i + 2 + lane], l.im[i])) differing++;
          }
        });
        expect(differing, `n ${n} ${inverse ? 'inverse' : 'forward'}`).toBe(0);
      }
    }
  });

  it('ships the WebAssembly that fft-pair.wat compiles to (rerun scripts/build-wasm.mjs after editing it)', async () => {
    const bytes: Buffer = await compileKernel(KERNELS.fftPair);
    expect(bytes.toString('base64')).toBe(FFT_PAIR_WASM_BASE64);
  });
});

describe('box blur (image watermark mask and whitening)', () => {
  it('equals the edge-clamped window mean for widths that are not a multiple of the column strip', () => {
    let state = 7;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return (state / 4294967296) * 255; };
    for (const [w, h, r] of [[37, 23, 2], [16, 5, 4], [1, 9, 3], [50, 1, 6]] as const) {
      const src = Float32Array.from({ length: w * h }, rnd);
      const got = boxBlur(src, w, h, r);
      let worst = 0;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        // Row means first, then the mean of those over the column window (the separable definition).
        let sum = 0;
        const y0 = Math.max(0, y - r), y1 = Math.min(h, y + r + 1), x0 = Math.max(0, x - r), x1 = Math.min(w, x + r + 1);
        for (let yy = y0; yy < y1; yy++) {
          let row = 0;
          for (let xx = x0; xx < x1; xx++) row += src[yy * w + xx]!;
          sum += Math.fround(row / (x1 - x0));
        }
        worst = Math.max(worst, Math.abs(got[y * w + x]! - sum / (y1 - y0)));
      }
      expect(worst, `${w}×${h} r ${r}`).toBeLessThan(1e-3);
    }
  });
});

describe('error control', () => {
  it('Viterbi corrects scattered errors and CRC catches corruption', () => {
    const bits = Uint8Array.from({ length: 48 }, (_, i) => (i * 7 + 3) % 5 > 2 ? 1 : 0);
    const coded = convEncode(bits);
    const soft = Array.from(coded, (b) => (b ? -1 : 1));
    for (const k of [3, 20, 41, 70, 99]) soft[k] = -soft[k]!;
    expect(Array.from(viterbiDecode(soft, 48))).toEqual(Array.from(bits));
    const flipped = bits.slice(); flipped[5] ^= 1;
    expect(crc16(flipped)).not.toBe(crc16(bits));
  });

  it('the per-state Viterbi decides as the textbook predecessor loop, ties and all', () => {
    // Reference: for each state and input, relax the successor; the first strict improvement wins.
    const reference = (soft: number[], infoBits: number): number[] => {
      const K = 7, S = 64, par = (x: number) => { let p = 0; while (x) { p ^= x & 1; x >>= 1; } return p; };
      const steps = infoBits + K - 1;
      let metric = new Array<number>(S).fill(-Infinity); metric[0] = 0;
      const back: number[][] = [];
      for (let t = 0; t < steps; t++) {
        const next = new Array<number>(S).fill(-Infinity);
        const row = new Array<number>(S).fill(0);
        for (let s = 0; s < S; s++) {
          if (metric[s] === -Infinity) continue;
          for (let b = 0; b < (t < infoBits ? 2 : 1); b++) {
            const reg = (s << 1) | b, ns = reg & (S - 1);
            const v = metric[s]! + ((par(reg & 0o171) ? -soft[2 * t]! : soft[2 * t]!) + (par(reg & 0o133) ? -soft[2 * t + 1]! : soft[2 * t + 1]!));
            if (v > next[ns]!) { next[ns] = v; row[ns] = s >> (K - 2); }
          }
        }
        back.push(row); metric = next;
      }
      const out: number[] = [];
      let state = 0;
      for (let t = steps - 1; t >= 0; t--) { out.unshift(state & 1); state = (state >> 1) | (back[t]![state]! << (K - 2)); }
      return out.slice(0, infoBits);
    };
    let seed = 5;
    const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
    for (let trial = 0; trial < 300; trial++) {
      const infoBits = [8, 48, 80][trial % 3]!;
      const bits = Array.from({ length: infoBits }, () => (rnd() < 0.5 ? 1 : 0));
      const noise = trial % 4 === 0 ? 0.2 : trial % 4 === 1 ? 1 : 3;
      const soft = Array.from(convEncode(bits), (b) => {
        const r = rnd();
        // Some inputs exactly tied (0, ±1 steps) so equal path metrics occur; a few NaN.
        if (trial % 5 === 0 && r < 0.3) return 0;
        if (trial % 7 === 0) return Math.round((b ? -1 : 1) + noise * (rnd() - 0.5) * 4);
        if (trial === 13 && r < 0.02) return NaN;
        return (b ? -1 : 1) + noise * (rnd() - 0.5) * 4;
      });
      const want = reference(soft, infoBits);
      // Both decoders: the WebAssembly kernel (the default) and the JavaScript loop.
      expect(Array.from(viterbiDecode(soft, infoBits)), `kernel, trial ${trial}`).toEqual(want);
      setViterbiKernelForTests(false);
      expect(Array.from(viterbiDecode(soft, infoBits)), `loop, trial ${trial}`).toEqual(want);
      setViterbiKernelForTests(true);
    }
  });

  it('ships the WebAssembly that viterbi.wat compiles to (rerun scripts/build-wasm.mjs after editing it)', async () => {
    const bytes: Buffer = await compileKernel(KERNELS.viterbi);
    expect(bytes.toString('base64')).toBe(VITERBI_WASM_BASE64);
  });
});

describe('audio watermark: the period scan\'s fast sums', () => {
  const { BANDS, POWER_BINS, RAMP, bandSeries, powerTables, scaledBand, taper, trapezoidSums } = audioWatermarkInternalsForTests;
  let state = 11;
  const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296; };

  it('scaled band energies from running bin sums equal bandSeries at every scale the search uses', () => {
    const frames = 37;
    // Powers spanning six decades, as speech spectra do, so a cancellation error would show.
    const power = Float64Array.from({ length: frames * POWER_BINS }, () => 10 ** (6 * rnd() - 3));
    const tables = powerTables(power, frames);
    const out = new Float64Array(frames);
    let worst = 0;
    for (const scale of [0.95, 0.9625, 0.99, 1, 1.0075, 1.03, 1.05]) {
      const reference = bandSeries(power, frames, scale);
      for (let b = 0; b < BANDS; b++) {
        scaledBand(tables, b, scale, out);
        for (let f = 0; f < frames; f++) {
          const want = reference[b * frames + f]!;
          worst = Math.max(worst, Math.abs(out[f]! - want) / want);
        }
      }
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('trapezoid tile sums from two running sums equal the taper-weighted sums', () => {
    // Lengths that grow and shrink, since the running sums reuse scratch arrays between calls.
    for (const [frames, n] of [[120, 7], [120, 10], [60, 11], [120, 12], [200, 10], [130, 9], [401, 11], [402, 10]] as const) {
      const series = Float64Array.from({ length: frames }, () => 10 ** (4 * rnd() - 2));
      const tw = taper(n);
      expect(tw.length).toBe(n + RAMP - 1);
      const starts = frames - tw.length + 1;
      const got = new Float64Array(starts);
      trapezoidSums(series, 0, frames, n, starts, got);
      for (let a = 0; a < starts; a++) {
        let want = 0;
        for (let i = 0; i < tw.length; i++) want += tw[i]! * series[a + i]!;
        expect(Math.abs(got[a]! - want) / want, `${frames} frames, n ${n}, start ${a}`).toBeLessThan(1e-9);
      }
    }
  });
});

describe('audio watermark: the period scan reuses the nominal search\'s spectra', () => {
  const { POWER_BINS, analysisPowers, scanPowers } = audioWatermarkInternalsForTests;
  let state = 3;
  const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
  const x = Float32Array.from({ length: 40_123 }, (_, i) => 0.3 * Math.sin(i * 0.07) + rnd() * (i % 3000 < 1500 ? 0.2 : 0.01));

  it('computes any run of frames as the whole signal\'s analysis does (exactly when it keeps the FFT\'s frame pairs)', () => {
    const all = analysisPowers(x);
    for (const [first, count] of [[0, 6], [6, 38], [102, 1], [3, 9], [399, 3], [40, 5]] as const) {
      const run = analysisPowers(x, first, count);
      expect(run.frames).toBe(count);
      for (let i = 0; i < count * POWER_BINS; i++) {
        const want = all.power[first * POWER_BINS + i]!, got = run.power[i]!;
        // The paired FFT shares rounding between frames 2j and 2j + 1 (or a zero partner).
        if (first % 2 === 0 && count % 2 === 0) expect(got).toBe(want);
        else expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * (want + 1e-3));
      }
    }
  });

  it('gets the same powers, bit for bit, from the FFT kernel\'s windowing and squaring as from the JavaScript loop', () => {
    const { setPowerKernel } = audioWatermarkInternalsForTests;
    const short = x.subarray(0, 300); // shorter than one frame
    for (const [signal, first, count] of [[x, 0, undefined], [x, 3, 9], [x, 102, 1], [x, 0, 257], [x, 398, 4], [short, 0, undefined], [x.subarray(7, 20_007), 0, undefined]] as const) {
      setPowerKernel(true);
      const kernel = analysisPowers(signal, first, count);
      setPowerKernel(false);
      const js = analysisPowers(signal, first, count);
      setPowerKernel(true);
      expect(kernel.frames).toBe(js.frames);
      expect(kernel.power.length).toBe(js.power.length);
      expect(Buffer.compare(Buffer.from(kernel.power.buffer), Buffer.from(js.power.buffer)), `${signal.length} samples from frame ${first}`).toBe(0);
    }
    // The embedder measures its cells through the same function: its output does not move either.
    const payload = new Uint8Array([9, 8, 7, 6]);
    const withKernel = embedAudioWatermark(x, AUDIO_WM_RATE, payload);
    setPowerKernel(false);
    const withLoop = embedAudioWatermark(x, AUDIO_WM_RATE, payload);
    setPowerKernel(true);
    expect(Buffer.compare(Buffer.from(withKernel.buffer), Buffer.from(withLoop.buffer))).toBe(0);
  });

  it('takes the frames windows computed over the same samples and computes the rest', () => {
    for (const phase of [0, 25, 75]) {
      const y = x.subarray(phase, 36_000); // the scan may read less than the windows cover
      const fresh = analysisPowers(y);
      // Windows as the nominal search cuts them: starts on the 100-sample grid, odd and even
      // frame numbers, the last one running past the scan's end.
      const windows = [[0, 13_400], [13_300, 13_400], [26_700, 13_423 - phase]].map(([start, len]) => {
        const win = x.subarray(start! + phase, start! + phase + len!);
        const { frames, power } = analysisPowers(win);
        return { phase, start: start!, length: win.length, frames, power };
      });
      const got = scanPowers(y, phase, windows);
      expect(got.frames).toBe(fresh.frames);
      let worst = 0;
      for (let f = 0; f < fresh.frames; f++) {
        let energy = 1e-12;
        for (let k = 0; k < POWER_BINS; k++) energy += fresh.power[f * POWER_BINS + k]!;
        for (let k = 0; k < POWER_BINS; k++) worst = Math.max(worst, Math.abs(got.power[f * POWER_BINS + k]! - fresh.power[f * POWER_BINS + k]!) / energy);
      }
      expect(worst, `phase ${phase}`).toBeLessThan(1e-12);
      // Frames a window's edge cuts must not be taken from it: a window that stops early would
      // otherwise leave its zero padding in the scan's frames.
      const short = [{ ...windows[0]!, length: 13_000, ...analysisPowers(x.subarray(phase, phase + 13_000)) }];
      const partial = scanPowers(y, phase, short);
      for (let i = 0; i < fresh.frames * POWER_BINS; i++) worst = Math.max(worst, Math.abs(partial.power[i]! - fresh.power[i]!));
      expect(worst, `phase ${phase}, short window`).toBeLessThan(1e-9);
      // No windows: exactly the fresh analysis.
      expect(Buffer.compare(Buffer.from(scanPowers(y, phase, []).power.buffer), Buffer.from(fresh.power.buffer))).toBe(0);
    }
  });
});

describe('period-lag kernel (WebAssembly)', () => {
  it('builds the scan\'s tiles as the JavaScript loop does, value for value', () => {
    const { scanTiles, setTileKernel } = audioWatermarkInternalsForTests;
    let state = 9;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
    // A swept tone over noise bursts and near-silence, so cells pass and fail the weight gate;
    // an odd and an even number of start frames (the kernel takes two at a time).
    for (const length of [120_000, 47_950]) {
      const y = Float32Array.from({ length }, (_, i) => 0.3 * Math.sin(i * 0.05 + 3 * Math.sin(i * 0.0003)) + rnd() * (i % 8000 < 5000 ? 0.1 : 0.001));
      for (const scale of [0.95, 0.99, 1.0125, 1.05]) {
        setTileKernel(true);
        const kernel = scanTiles(y, scale);
        setTileKernel(false);
        const js = scanTiles(y, scale);
        setTileKernel(true);
        expect(kernel.length).toBe(js.length);
        let differing = 0, live = 0;
        for (let i = 0; i < js.length; i++) { if (kernel[i] !== js[i]) differing++; if (js[i] !== 0) live++; }
        // Only the log is the kernel's own (within 5e-13 of Math.log); a table index could move
        // by one where u sits that close to a boundary, which no cell here does.
        expect(differing, `${length} samples, scale ${scale}`).toBe(0);
        expect(live).toBeGreaterThan(js.length / 4);
        expect(live).toBeLessThan((js.length * 15) / 16);
      }
    }
  });

  it('takes natural logs within 5e-13 of Math.log over the range the tiles need', () => {
    let state = 4;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
    const xs = Float64Array.from({ length: 20_001 }, (_, i) => (i < 6 ? [1, 2, 0.5, Math.SQRT2, Math.SQRT1_2, 1e-300][i]! : Math.exp(rnd() * 160)));
    const got = new PeriodLagKernel().ln(xs);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(got[i]! - Math.log(xs[i]!)));
    expect(worst).toBeLessThan(5e-13);
  });

  it('adds per-class tile products as a plain double-precision loop does', () => {
    let state = 5;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
    const kernel = new PeriodLagKernel();
    const tiles = 700;
    const a = kernel.allocTiles(tiles);
    const aValues = Float32Array.from({ length: tiles * LAG_TILE_FLOATS }, (_, i) => (i % LAG_TILE_FLOATS === 11 ? 0 : rnd()));
    a.view.set(aValues);
    const b = kernel.allocTiles(tiles); // may grow the memory: a's view is stale now, its offset is not
    const bValues = Float32Array.from({ length: tiles * LAG_TILE_FLOATS }, (_, i) => (i % LAG_TILE_FLOATS === 11 ? 0 : rnd()));
    b.view.set(bValues);
    // Layout: cos/sin of pairs 0–4 in floats 0–9, weight² of pair 4 in 10, of pairs 0–3 in 12–15.
    const cosSin = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], weights = [10, 12, 13, 14, 15];
    for (const { slot, classes, shift, n, pos0 } of [
      { slot: 1600, classes: 64, shift: 17, n: 600, pos0: 25 },
      { slot: 1543.7, classes: 62, shift: 0, n: 700, pos0: 1500 },
      { slot: 1681.2, classes: 67, shift: 3, n: 1, pos0: 0 },
    ]) {
      const perSample = classes / slot;
      const { num, den } = kernel.startSums(classes);
      kernel.lagSums(a.ptr, b.ptr + shift * LAG_TILE_FLOATS * 4, Math.min(n, tiles - shift), pos0, 100, slot, perSample, classes);
      const wantNum = new Float64Array(classes), wantDen = new Float64Array(classes);
      let pos = pos0;
      for (let t = 0; t < Math.min(n, tiles - shift); t++, pos += 100) {
        while (pos >= slot) pos -= slot;
        const cl = Math.min(classes - 1, Math.floor(pos * perSample));
        for (const k of cosSin) wantNum[cl] += aValues[t * LAG_TILE_FLOATS + k]! * bValues[(t + shift) * LAG_TILE_FLOATS + k]!;
        for (const k of weights) wantDen[cl] += aValues[t * LAG_TILE_FLOATS + k]! * bValues[(t + shift) * LAG_TILE_FLOATS + k]!;
      }
      for (let c = 0; c < classes; c++) {
        // The kernel sums a class's products of one call in single precision, then adds them in double.
        expect(Math.abs(num[c]! - wantNum[c]!)).toBeLessThan(1e-5 * (1 + Math.abs(wantNum[c]!)));
        expect(Math.abs(den[c]! - wantDen[c]!)).toBeLessThan(1e-5 * (1 + Math.abs(wantDen[c]!)));
      }
      expect(wantDen.some((v) => v !== 0)).toBe(true);
    }
  });

  it('ships the WebAssembly that period-lag.wat compiles to (rerun scripts/build-wasm.mjs after editing it)', async () => {
    const bytes: Buffer = await compileKernel(KERNELS.periodLag);
    expect(bytes.toString('base64')).toBe(PERIOD_LAG_WASM_BASE64);
  });
});

describe('audio watermark', () => {
  const payload = payloadFromMessage('resembleai', 4);
  const hex = Buffer.from(payload).toString('hex');
  let marked: Float32Array;
  const encode = async (x: Float32Array, args: string[], ext: string): Promise<Float32Array> => {
    writeFileSync(join(dir, 'm.raw'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    ff('-f', 'f32le', '-ar', '16000', '-ac', '1', '-i', join(dir, 'm.raw'), ...args, join(dir, `att.${ext}`));
    return decodeAudio(join(dir, `att.${ext}`), { sampleRate: AUDIO_WM_RATE, channels: 1 });
  };
  it('the WebAssembly offset scan gives the JavaScript loop\'s detections bit for bit', () => {
    const { setOffsetKernel } = audioWatermarkInternalsForTests;
    const m = embedAudioWatermark(speech, AUDIO_WM_RATE, payload);
    let state = 21;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296 - 0.5; };
    const noisy = m.map((v) => v + 0.01 * rnd());
    try {
      for (const x of [speech, m, noisy, m.subarray(5000, 5000 + 3 * AUDIO_WM_RATE), speech.subarray(3000, 3000 + 3 * AUDIO_WM_RATE)]) {
        setOffsetKernel(false);
        const js = detectAudioWatermark(x, AUDIO_WM_RATE, { timeScaleSearch: 'off' });
        setOffsetKernel(true);
        const wasm = detectAudioWatermark(x, AUDIO_WM_RATE, { timeScaleSearch: 'off' });
        expect(wasm).toStrictEqual(js);
      }
    } finally {
      setOffsetKernel(true);
    }
  });

  it('ships the WebAssembly that offset-scan.wat compiles to (rerun scripts/build-wasm.mjs after editing it)', async () => {
    const bytes: Buffer = await compileKernel(KERNELS.offsetScan);
    expect(bytes.toString('base64')).toBe(OFFSET_SCAN_WASM_BASE64);
  });

  it('round-trips with SNR >= 35 dB and leaves unmarked speech unflagged', () => {
    marked = embedAudioWatermark(speech, AUDIO_WM_RATE, payload);
    expect(snrDb(speech, marked)).toBeGreaterThanOrEqual(35);
    const det = detectAudioWatermark(marked, AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(hex);
    const clean = detectAudioWatermark(speech, AUDIO_WM_RATE);
    expect(clean.has_watermark).toBe(false);
    expect(clean.confidence).toBeLessThan(0.5);
  });
  it('decodes 3 s excerpts cut at arbitrary sample offsets', () => {
    // Offsets off every analysis grid (100-sample hop, 25-sample phases, 1600-sample slots).
    for (const start of [0.0371, 1.513, 2.9087]) {
      const s0 = Math.round(start * AUDIO_WM_RATE);
      const det = detectAudioWatermark(marked.subarray(s0, s0 + 3 * AUDIO_WM_RATE), AUDIO_WM_RATE);
      expect(det.has_watermark, `excerpt at ${start} s`).toBe(true);
      expect(det.payload_hex).toBe(hex);
    }
  });
  it('survives MP3 64 kbps on the whole clip and on a 3 s excerpt, and MP3 128 kbps at 44.1 kHz on a 3 s excerpt', async () => {
    const back = await encode(marked, ['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3');
    const det = detectAudioWatermark(back, AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(hex);
    const e0 = Math.round(0.3 * AUDIO_WM_RATE);
    expect(detectAudioWatermark(back.subarray(e0, e0 + 3 * AUDIO_WM_RATE), AUDIO_WM_RATE).payload_hex).toBe(hex);
    const hq = await encode(marked, ['-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k'], 'mp3');
    const s0 = Math.round(1.21 * AUDIO_WM_RATE);
    expect(detectAudioWatermark(hq.subarray(s0, s0 + 3 * AUDIO_WM_RATE), AUDIO_WM_RATE).payload_hex).toBe(hex);
  });
  // Seeded Gaussian noise at snrDb below the signal (Box–Muller on a linear congruential
  // generator): reproducible.
  const addNoise = (x: Float32Array, seed: number, snrDb = 20) => {
    let power = 0;
    for (const v of x) power += v * v;
    const sd = Math.sqrt(power / x.length / 10 ** (snrDb / 10));
    let state = seed;
    const uniform = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296; };
    return x.map((v) => v + sd * Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform()));
  };
  it('survives white noise at 20 dB SNR on the whole clip, and noise alone is not a mark', () => {
    for (const seed of [1, 2]) {
      const det = detectAudioWatermark(addNoise(marked, seed), AUDIO_WM_RATE);
      expect(det.has_watermark, `noise seed ${seed}`).toBe(true);
      expect(det.payload_hex).toBe(hex);
    }
    expect(detectAudioWatermark(addNoise(speech, 1), AUDIO_WM_RATE).has_watermark).toBe(false);
  });
  it('finds a mark that noise left too weak to decode blind by testing the default payload, and names no payload a mark does not carry', () => {
    // 10 dB SNR on two copies of the clip (17.7 s): blind decoding fails (one-off runs: best
    // sync z 1.7–4.2, 20–25 coded errors), the known-payload test reads z 9.7–10.1.
    const two = new Float32Array(speech.length * 2);
    two.set(speech);
    two.set(speech, speech.length);
    const noisy = addNoise(embedAudioWatermark(two, AUDIO_WM_RATE, payload), 1, 10);
    expect(detectAudioWatermark(noisy, AUDIO_WM_RATE, { knownPayload: null }).has_watermark).toBe(false);
    const det = detectAudioWatermark(noisy, AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.detected_by).toBe('known_payload');
    expect(det.payload_hex).toBe(hex);
    expect(det.known_payload_z!).toBeGreaterThan(8);
    expect(det.confidence).toBeGreaterThan(0.9);
    // A mark of another message under the same noise: the default payload is not found there,
    // the other one is when named.
    const other = payloadFromMessage('another team', 4);
    const otherNoisy = addNoise(embedAudioWatermark(two, AUDIO_WM_RATE, other), 1, 10);
    const asDefault = detectAudioWatermark(otherNoisy, AUDIO_WM_RATE);
    expect(asDefault.has_watermark).toBe(false);
    expect(asDefault.known_payload_z!).toBeLessThan(5);
    const named = detectAudioWatermark(otherNoisy, AUDIO_WM_RATE, { knownPayload: other });
    expect(named.has_watermark).toBe(true);
    expect(named.payload_hex).toBe(Buffer.from(other).toString('hex'));
    // Unmarked speech under the same noise: the test runs and stays far below its gate.
    const clean = detectAudioWatermark(addNoise(two, 1, 10), AUDIO_WM_RATE);
    expect(clean.has_watermark).toBe(false);
    expect(clean.known_payload_z!).toBeLessThan(5);
  });
  it('finds a marked 5 s clip spliced into 35 s of unmarked speech, and not the unmarked 35 s', () => {
    const long = new Float32Array(speech.length * 4);
    for (let k = 0; k < 4; k++) long.set(speech, k * speech.length);
    const s0 = Math.round(12.3 * AUDIO_WM_RATE);
    const clip = embedAudioWatermark(long.subarray(s0, s0 + 5 * AUDIO_WM_RATE), AUDIO_WM_RATE, payload);
    const spliced = long.slice();
    spliced.set(clip, s0);
    const det = detectAudioWatermark(spliced, AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(hex);
    expect(detectAudioWatermark(long, AUDIO_WM_RATE).has_watermark).toBe(false);
  });
  it('finds the mark after a ±4 % speed change with the default (automatic) time-scale search; with the search off, does not', async () => {
    // The search reads the mark's period from the input itself, so it needs several periods
    // (2.7 s each): on this 8.8 s clip it is marginal, on two copies (17.7 s) it is not.
    const twice = new Float32Array(speech.length * 2);
    twice.set(speech); twice.set(speech, speech.length);
    const long = embedAudioWatermark(twice, AUDIO_WM_RATE, payload);
    for (const speed of [1.04, 0.96]) {
      const played = await encode(long, ['-af', `asetrate=${AUDIO_WM_RATE * speed},aresample=${AUDIO_WM_RATE}`, '-c:a', 'pcm_f32le'], 'wav');
      expect(detectAudioWatermark(played, AUDIO_WM_RATE, { timeScaleSearch: 'off' }).has_watermark, `no search at ${speed}`).toBe(false);
      for (const mode of ['auto', 'full'] as const) {
        const det = detectAudioWatermark(played, AUDIO_WM_RATE, mode === 'auto' ? {} : { timeScaleSearch: mode });
        expect(det.has_watermark, `${mode} time-scale search at ${speed}`).toBe(true);
        expect(det.payload_hex).toBe(hex);
        expect(Math.abs(det.time_scale - speed)).toBeLessThan(0.002);
      }
    }
    const cleanPlayed = await encode(twice, ['-af', `asetrate=${AUDIO_WM_RATE * 1.04},aresample=${AUDIO_WM_RATE}`, '-c:a', 'pcm_f32le'], 'wav');
    expect(detectAudioWatermark(cleanPlayed, AUDIO_WM_RATE).has_watermark).toBe(false);
    expect(detectAudioWatermark(cleanPlayed, AUDIO_WM_RATE, { timeScaleSearch: 'full' }).has_watermark).toBe(false);
  });
  it('finds the mark after a ±4 % tempo change that keeps the pitch (WSOLA), and not the unmarked speech', async () => {
    // Undoing a tempo change by resampling restores time but shifts every frequency; only the
    // tempo hypothesis (band layout following that shift) finds the mark. Before it: 0/12 on the
    // bench. On this espeak clip the tempo estimate's period z (about 7) stays under the
    // automatic gate (10; the bench's recorded speech gives 10–26), so the full search is asked for.
    const twice = new Float32Array(speech.length * 2);
    twice.set(speech); twice.set(speech, speech.length);
    const long = embedAudioWatermark(twice, AUDIO_WM_RATE, payload);
    for (const tempo of [1.04, 0.96]) {
      const played = await encode(long, ['-af', `atempo=${tempo}`, '-c:a', 'pcm_f32le'], 'wav');
      expect(detectAudioWatermark(played, AUDIO_WM_RATE, { timeScaleSearch: 'off' }).has_watermark, `no search at ${tempo}`).toBe(false);
      const det = detectAudioWatermark(played, AUDIO_WM_RATE, { timeScaleSearch: 'full' });
      expect(det.has_watermark, `tempo ${tempo}`).toBe(true);
      expect(det.payload_hex).toBe(hex);
      expect(det.pitch_kept).toBe(true);
      expect(Math.abs(det.time_scale - tempo)).toBeLessThan(0.003);
    }
    const cleanPlayed = await encode(twice, ['-af', 'atempo=1.04', '-c:a', 'pcm_f32le'], 'wav');
    expect(detectAudioWatermark(cleanPlayed, AUDIO_WM_RATE, { timeScaleSearch: 'full' }).has_watermark).toBe(false);
  });
  it('survives resampling to 8 kHz and back, and +6 dB gain with clipping', async () => {
    const back = await encode(marked, ['-ar', '8000', '-c:a', 'pcm_f32le'], 'wav');
    expect(detectAudioWatermark(back, AUDIO_WM_RATE).payload_hex).toBe(hex);
    const loud = marked.map((v) => Math.max(-1, Math.min(1, v * 2)));
    expect(detectAudioWatermark(loud, AUDIO_WM_RATE).has_watermark).toBe(true);
  });
  it('carries the payload in content with energy only below 1 kHz, through AAC 64 kbps', async () => {
    const low = await encode(speech, ['-af', 'lowpass=f=900,lowpass=f=900', '-c:a', 'pcm_f32le'], 'wav');
    const m = embedAudioWatermark(low, AUDIO_WM_RATE, payload);
    expect(snrDb(low, m)).toBeGreaterThanOrEqual(35);
    expect(detectAudioWatermark(m, AUDIO_WM_RATE).payload_hex).toBe(hex);
    const aac = await encode(m, ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'], 'm4a');
    expect(detectAudioWatermark(aac, AUDIO_WM_RATE).payload_hex).toBe(hex);
  });
  it('finds a mark on content with energy only below 1 kHz after a speed change by default, and not the unmarked content', async () => {
    // Low-passed, the bands the period scan reads hold almost nothing, so the true estimate's
    // z stays under the automatic gate; the low-band rule gives such input the full search.
    const twice = new Float32Array(speech.length * 2);
    twice.set(speech); twice.set(speech, speech.length);
    const low = await encode(twice, ['-af', 'lowpass=f=900,lowpass=f=900', '-c:a', 'pcm_f32le'], 'wav');
    expect(audioWatermarkInternalsForTests.highBandShareOf(low)).toBeLessThan(4e-4);
    expect(audioWatermarkInternalsForTests.highBandShareOf(twice)).toBeGreaterThan(4e-4);
    const marked = embedAudioWatermark(low, AUDIO_WM_RATE, payload);
    const speed = 1.03;
    const played = await encode(marked, ['-af', `asetrate=${AUDIO_WM_RATE * speed},aresample=${AUDIO_WM_RATE}`, '-c:a', 'pcm_f32le'], 'wav');
    const det = detectAudioWatermark(played, AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(hex);
    expect(Math.abs(det.time_scale - speed)).toBeLessThan(0.002);
    const cleanPlayed = await encode(low, ['-af', `asetrate=${AUDIO_WM_RATE * speed},aresample=${AUDIO_WM_RATE}`, '-c:a', 'pcm_f32le'], 'wav');
    expect(detectAudioWatermark(cleanPlayed, AUDIO_WM_RATE).has_watermark).toBe(false);
  });
  it('counts a coded bit with no evidence as half an error, so the error gates see a guess', () => {
    const { decodeSoft } = audioWatermarkInternalsForTests;
    const info = new Uint8Array(48);
    for (let i = 0; i < 32; i++) info[i] = (i * 7 + 3) % 5 < 2 ? 1 : 0;
    const crc = crc16(info.subarray(0, 32));
    for (let i = 0; i < 16; i++) info[32 + i] = (crc >> (15 - i)) & 1;
    const code = convEncode(info);
    const soft = Float64Array.from(code, (b) => (b ? -1 : 1));
    const clean = decodeSoft(soft);
    expect(clean.crc).toBe(true);
    expect(clean.errors).toBe(0);
    const silent = new Set(Array.from({ length: 39 }, (_, k) => (k * 11) % soft.length));
    for (const k of silent) soft[k] = 0;
    const open = Array.from(soft.keys()).filter((k) => !silent.has(k));
    const flipped = [open[10]!, open[50]!];
    for (const k of flipped) soft[k] = -soft[k]!;
    const sparse = decodeSoft(soft);
    expect(sparse.crc).toBe(true);
    expect(Array.from(sparse.info)).toEqual(Array.from(info));
    expect(sparse.errors).toBe(2 + 20);
  });
  it('still finds a mark in a file that is 40 % digital silence', () => {
    // Half-second bursts of speech between 0.35 s gaps of exact zeros (41 % of the samples),
    // the clip twice over: about 29 s in all.
    const parts: Float32Array[] = [];
    for (let k = 0; k < 2; k++) {
      for (let o = 0; o + 8000 <= speech.length; o += 8000) { parts.push(speech.subarray(o, o + 8000)); parts.push(new Float32Array(5600)); }
    }
    const gappy = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { gappy.set(p, at); at += p.length; }
    const det = detectAudioWatermark(embedAudioWatermark(gappy, AUDIO_WM_RATE, payload), AUDIO_WM_RATE);
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(hex);
    expect(detectAudioWatermark(gappy, AUDIO_WM_RATE).has_watermark).toBe(false);
  });
  it('does not flag unmarked 3 s clips of speech, noise or a tone', () => {
    let s = 7;
    const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296 - 0.5; };
    const clips = [
      speech.subarray(0, 3 * AUDIO_WM_RATE),
      speech.subarray(2 * AUDIO_WM_RATE, 5 * AUDIO_WM_RATE),
      Float32Array.from({ length: 3 * AUDIO_WM_RATE }, () => 0.1 * rnd()),
      Float32Array.from({ length: 3 * AUDIO_WM_RATE }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / AUDIO_WM_RATE)),
      new Float32Array(3 * AUDIO_WM_RATE),
    ];
    for (const c of clips) expect(detectAudioWatermark(c, AUDIO_WM_RATE).has_watermark).toBe(false);
  });
});

async function photoLike(width: number, height: number): Promise<Buffer> {
  ff('-f', 'lavfi', '-i', `mandelbrot=s=${width}x${height}`, '-frames:v', '1', '-update', '1', join(dir, 'mandel.png'));
  return readFileSync(join(dir, 'mandel.png'));
}

/** A photo-like host with fine texture everywhere (noise on a fractal, lightly blurred). */
async function texturedHost(width: number, height: number): Promise<Buffer> {
  ff('-f', 'lavfi', '-i', `mandelbrot=s=${width}x${height}`, '-vf', 'noise=alls=30:allf=u,boxblur=1:1', '-frames:v', '1', '-update', '1', join(dir, 'textured.png'));
  return readFileSync(join(dir, 'textured.png'));
}

describe('image watermark', () => {
  it('survives JPEG q50 + resize 50%, verifies the message, and ignores unmarked images', async () => {
    const host = await photoLike(1280, 720);
    const marked = await applyImageWatermark(host, { message: 'hello' });
    expect(marked.container).toBe('png');
    expect(marked.psnr).toBeGreaterThanOrEqual(40);
    const attacked = await sharp(marked.buffer).resize(640, 360).jpeg({ quality: 50, chromaSubsampling: '4:2:0' }).toBuffer();
    const ok = await detectImageWatermark(attacked, { message: 'hello' });
    expect(ok.has_watermark).toBe(true);
    expect(ok.message_match).toBe(true);
    const wrong = await detectImageWatermark(attacked, { message: 'someone else' });
    expect(wrong.has_watermark).toBe(false);
    expect(wrong.message_match).toBe(false);
    expect((await detectImageWatermark(host)).has_watermark).toBe(false);
  });
  it('keeps the JPEG container and survives a 70% crop', async () => {
    const host = await sharp(await photoLike(1280, 720)).jpeg({ quality: 90 }).toBuffer();
    const marked = await applyImageWatermark(host, {});
    expect((await sharp(marked.buffer).metadata()).format).toBe('jpeg');
    const cropped = await sharp(marked.buffer).extract({ left: 200, top: 100, width: 896, height: 504 }).toBuffer();
    expect((await detectImageWatermark(cropped)).has_watermark).toBe(true);
  });
  it('decodes every payload bit after crop 70% + resize 50% + JPEG q50 4:2:0 on a textured 1080p host', async () => {
    const host = await texturedHost(1920, 1080);
    const marked = await applyImageWatermark(host, { message: 'combo' });
    expect(marked.psnr).toBeGreaterThanOrEqual(40);
    const attacked = await sharp(marked.buffer).extract({ left: 100, top: 250, width: 1344, height: 756 }).resize(672, 378)
      .jpeg({ quality: 50, chromaSubsampling: '4:2:0' }).toBuffer();
    const det = await detectImageWatermark(attacked, { message: 'combo' });
    expect(det.has_watermark).toBe(true);
    expect(det.payload_hex).toBe(marked.payloadHex);
    expect(det.payload_bits).toBe(Array.from(Buffer.from(marked.payloadHex, 'hex'), (b) => b.toString(2).padStart(8, '0')).join(''));
    const webp = await sharp(marked.buffer).webp({ quality: 75 }).toBuffer();
    expect((await detectImageWatermark(webp, { message: 'combo' })).has_watermark).toBe(true);
  });
  it('finds a mark too damaged to decode blind by testing the default payload, and not in a mark of another message', async () => {
    // Crop to 35 % of each side, resize to half, JPEG q20: the sync survives (z ≈ 7) but the
    // payload no longer decodes; the known-payload test reads z ≈ 10 (one-off runs).
    const host = await texturedHost(1920, 1080);
    const attack = (b: Buffer) => sharp(b).extract({ left: 211, top: 97, width: 672, height: 378 }).resize(336)
      .jpeg({ quality: 20, chromaSubsampling: '4:2:0' }).toBuffer();
    const attacked = await attack((await applyImageWatermark(host)).buffer);
    const det = await detectImageWatermark(attacked);
    expect(det.crc_ok).toBe(false);
    expect(det.has_watermark).toBe(true);
    expect(det.detected_by).toBe('known_payload');
    expect(det.payload_hex).toBe(Buffer.from(imagePayloadFromMessage(null)).toString('hex'));
    expect(det.confidence).toBeGreaterThan(0.9);
    const other = await detectImageWatermark(await attack((await applyImageWatermark(host, { message: 'another team' })).buffer));
    expect(other.has_watermark).toBe(false);
    expect(other.known_payload_z!).toBeLessThan(4);
    const unmarked = await detectImageWatermark(await attack(host));
    expect(unmarked.has_watermark).toBe(false);
    expect(unmarked.known_payload_z!).toBeLessThan(4);
  });
  it('does not flag unmarked images, crops, rescales or re-encodings', async () => {
    const textured = await texturedHost(1920, 1080);
    const mandel = await photoLike(1280, 720);
    const grey = await sharp({ create: { width: 1024, height: 768, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
    const unmarked = [
      textured, mandel, grey,
      await sharp(textured).extract({ left: 300, top: 200, width: 1000, height: 700 }).jpeg({ quality: 50, chromaSubsampling: '4:2:0' }).toBuffer(),
      await sharp(textured).resize(960, 540).webp({ quality: 75 }).toBuffer(),
      await sharp(mandel).extract({ left: 0, top: 0, width: 700, height: 500 }).resize(1400, 1000).png().toBuffer(),
    ];
    for (const img of unmarked) {
      const det = await detectImageWatermark(img);
      expect(det.has_watermark).toBe(false);
      expect(det.confidence).toBeLessThan(0.5);
    }
  });
});

describe('media files', () => {
  // A second generation at 64 kbps (128k in → mark → 64k) decodes on this espeak clip with
  // audio mark v3, but at z 2.95, just over the 2.5 gate (docs/watermarking.md); the test
  // asserts the second 128 kbps generation (z ≈ 6).
  it('audio: mp3 in, mp3 out, detected after a second MP3 128k generation; unmarked not detected', async () => {
    const input = join(dir, 'in.mp3');
    ff('-i', join(dir, 'speech.wav'), '-ar', '44100', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k', input);
    const out = join(dir, 'out.mp3');
    const res = await applyWatermarkToFile({ inputPath: input, outputPath: out, mediaType: 'audio' });
    expect(res.container).toBe('mp3');
    expect(res.audio!.snrDb).toBeGreaterThanOrEqual(35);
    expect((await detectWatermarkInFile({ inputPath: out, mediaType: 'audio' })).has_watermark).toBe(true);
    ff('-i', out, '-c:a', 'libmp3lame', '-b:a', '128k', join(dir, 'att.mp3'));
    expect((await detectWatermarkInFile({ inputPath: join(dir, 'att.mp3'), mediaType: 'audio' })).has_watermark).toBe(true);
    expect((await detectWatermarkInFile({ inputPath: input, mediaType: 'audio' })).has_watermark).toBe(false);
  });
  it('audio: a custom-message mark under heavy noise is found when the request names the message, and only then', async () => {
    const input = join(dir, 'two.wav');
    ff('-stream_loop', '1', '-i', join(dir, 'speech.wav'), '-ar', '16000', '-ac', '1', input);
    const out = join(dir, 'two-marked.wav');
    await applyWatermarkToFile({ inputPath: input, outputPath: out, mediaType: 'audio', message: 'newsroom' });
    // White noise 10 dB below the signal (seeded): too much for blind decoding.
    const x = await decodeAudio(out, { sampleRate: AUDIO_WM_RATE, channels: 1 });
    let power = 0;
    for (const v of x) power += v * v;
    const sd = Math.sqrt(power / x.length / 10);
    let state = 5;
    const uniform = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296; };
    const noisy = x.map((v) => v + sd * Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform()));
    writeFileSync(join(dir, 'noisy.raw'), Buffer.from(noisy.buffer, noisy.byteOffset, noisy.byteLength));
    const noisyPath = join(dir, 'noisy.wav');
    ff('-f', 'f32le', '-ar', '16000', '-ac', '1', '-i', join(dir, 'noisy.raw'), noisyPath);
    const named = await detectWatermarkInFile({ inputPath: noisyPath, mediaType: 'audio', message: 'newsroom' });
    expect(named.has_watermark).toBe(true);
    expect(named.message_match).toBe(true);
    expect(named.audio!.detected_by).toBe('known_payload');
    expect((await detectWatermarkInFile({ inputPath: noisyPath, mediaType: 'audio' })).has_watermark).toBe(false);
    const wrong = await detectWatermarkInFile({ inputPath: noisyPath, mediaType: 'audio', message: 'someone else' });
    expect(wrong.has_watermark).toBe(false);
    expect(wrong.message_match).toBe(false);
  });
  it('video: frames and audio marked, frames detected after H.264 CRF 23', async () => {
    const input = join(dir, 'in.mp4');
    ff('-f', 'lavfi', '-i', 'mandelbrot=s=640x360:r=10', '-i', join(dir, 'speech.wav'), '-t', '3', '-c:v', 'libx264', '-crf', '20', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', input);
    const out = join(dir, 'out.mp4');
    const res = await applyWatermarkToFile({ inputPath: input, outputPath: out, mediaType: 'video' });
    expect(res.video!.frames).toBeGreaterThan(20);
    expect(res.audio).toBeDefined();
    ff('-i', out, '-c:v', 'libx264', '-crf', '23', '-c:a', 'copy', join(dir, 'att.mp4'));
    const det = await detectWatermarkInFile({ inputPath: join(dir, 'att.mp4'), mediaType: 'video' });
    expect(det.video!.has_watermark).toBe(true);
    expect(det.has_watermark).toBe(true);
    expect((await detectWatermarkInFile({ inputPath: input, mediaType: 'video' })).video!.has_watermark).toBe(false);
  });
  it('corrupt input gives a clear error', async () => {
    const bad = join(dir, 'bad.mp3');
    writeFileSync(bad, Buffer.from('this is not audio at all'.repeat(50)));
    await expect(detectWatermarkInFile({ inputPath: bad, mediaType: 'audio' })).rejects.toThrow(AnalysisError);
    await expect(applyWatermarkToFile({ inputPath: bad, outputPath: join(dir, 'x.png'), mediaType: 'image' })).rejects.toThrow(/valid media format/);
  });
});

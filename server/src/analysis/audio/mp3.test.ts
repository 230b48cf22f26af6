import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeAll, decodeOutcome, ffmpegReference as viaFfmpeg } from './testing/decode-helpers.js';
import { parseLayer3Header, probeMp3 } from '../../media/audio/mp3.js';
import { StreamingResampler } from '../../media/audio/resample.js';

const dir = mkdtempSync(join(tmpdir(), 'mp3-test-'));
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
const src = join(dir, 'src.wav');
/** Rate, channels, bit rate of the MP3s made from `src`: every MPEG-1, -2 and -2.5 rate family. */
const CASES: Array<[number, 1 | 2, string]> = [[44100, 2, '64k'], [48000, 1, '128k'], [32000, 2, '96k'], [22050, 1, '32k'], [16000, 1, '24k'], [8000, 1, '16k']];

async function decode(file: string, start = 0, end: number | null = null, chunkSamples = 4000): Promise<Float32Array> {
  const { samples, longestChunk } = await decodeAll(file, start, end, chunkSamples);
  expect(longestChunk).toBeLessThanOrEqual(chunkSamples);
  return samples;
}

/** Error energy relative to the reference's, in dB. */
function errorDb(got: Float32Array, ref: Float32Array): number {
  let e = 0, p = 0;
  for (let i = 0; i < ref.length; i++) { e += (got[i]! - ref[i]!) ** 2; p += ref[i]! ** 2; }
  return 10 * Math.log10(e / p);
}

beforeAll(() => {
  // Speech-like test signal: a gliding tone plus noise, 48 kHz stereo with different channels.
  ff('-f', 'lavfi', '-i', "aevalsrc=0.3*sin(2*PI*(300+200*t)*t)|0.2*sin(2*PI*1200*t):s=48000:d=6", '-f', 'lavfi', '-i', 'anoisesrc=d=6:a=0.05:r=48000', '-filter_complex', '[1]pan=stereo|c0=c0|c1=c0[n];[0][n]amix=inputs=2', src);
  for (const [rate, channels, bitrate] of CASES) ff('-i', src, '-ar', String(rate), '-ac', String(channels), '-b:a', bitrate, join(dir, `t${rate}_${channels}.mp3`));
});

describe('in-process MP3 decoding', () => {
  it('gives the samples ffmpeg gives for MP3s at every MPEG rate family, mono and stereo', async () => {
    for (const [rate, channels] of CASES) {
      const f = join(dir, `t${rate}_${channels}.mp3`);
      const probe = await probeMp3(f);
      expect(probe, `${rate}`).toMatchObject({ sampleRate: rate, channels });
      const got = await decode(f);
      const ref = viaFfmpeg(f);
      expect(got.length, `${rate}`).toBe(ref.length);
      // Two MPEG decoders and a resampler with ffmpeg's parameters: far below audibility. Joint
      // stereo decodes a little differently, and up-sampling from 8 kHz differs most (the
      // filters' transition bands), hence the looser bound there.
      expect(errorDb(got, ref), `${rate} Hz ×${channels}`).toBeLessThan(rate === 8000 ? -45 : -60);
    }
  });

  it('yields exactly the samples of a requested region', async () => {
    const f = join(dir, 't44100_2.mp3');
    const whole = viaFfmpeg(f);
    const { samples: got, longestChunk } = await decodeAll(f, 1.25, 3.5, 3000);
    expect(longestChunk).toBe(3000);
    expect(got.length).toBe(Math.round(3.5 * 16000) - Math.round(1.25 * 16000));
    const ref = whole.subarray(Math.round(1.25 * 16000), Math.round(3.5 * 16000));
    expect(errorDb(got, ref)).toBeLessThan(-70);
    // A region past the end is empty, not an error.
    expect((await decode(f, 30, 40)).length).toBe(0);
  });

  it('takes only plain MP3 streams and leaves everything else to ffmpeg', async () => {
    for (const [name, args] of [['a.wav', []], ['a.ogg', ['-c:a', 'libvorbis']], ['a.m4a', ['-c:a', 'aac']], ['a.mp2', ['-c:a', 'mp2']]] as const) {
      const f = join(dir, name);
      ff('-i', src, ...args, f);
      expect(await probeMp3(f), name).toBeNull();
    }
    // ffmpeg writes an ID3v2 tag first; the probe skips it. Without the tag the stream is found too.
    const tagged = readFileSync(join(dir, 't44100_2.mp3'));
    expect(tagged.subarray(0, 3).toString('latin1')).toBe('ID3');
    const probe = await probeMp3(join(dir, 't44100_2.mp3'));
    const bare = join(dir, 'bare.mp3');
    writeFileSync(bare, tagged.subarray(probe!.offset));
    expect(await probeMp3(bare)).toMatchObject({ offset: 0, sampleRate: 44100 });
    // A lone frame-sync pattern inside other bytes is not enough: three consistent frames are required.
    const lone = Buffer.alloc(4000, 0x55);
    lone.set([0xff, 0xfb, 0x90, 0x64], 100);
    const lf = join(dir, 'lone.bin');
    writeFileSync(lf, lone);
    expect(await probeMp3(lf)).toBeNull();
    expect(parseLayer3Header(Uint8Array.from([0xff, 0xfb, 0x90, 0x64]), 0)).toMatchObject({ version: 3, sampleRate: 44100, length: 417, channels: 2 });
    expect(parseLayer3Header(Uint8Array.from([0xff, 0xfb, 0xf0, 0x64]), 0)).toBeNull(); // bitrate index 15
  });

  it('survives damaged and truncated MP3s: samples or an AnalysisError, never a crash', async () => {
    const whole = readFileSync(join(dir, 't22050_1.mp3'));
    let state = 7;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296; };
    for (let trial = 0; trial < 40; trial++) {
      const bad = Buffer.from(whole.subarray(0, trial % 3 === 0 ? Math.floor(rnd() * whole.length) : whole.length));
      const hits = trial % 2 ? 200 : 8;
      for (let k = 0; k < hits; k++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
      const f = join(dir, `bad${trial}.mp3`);
      writeFileSync(f, bad);
      expect(['samples', 'AnalysisError'], `trial ${trial}`).toContain(await decodeOutcome(f));
    }
    // Valid headers with garbage payload: mpg123 decodes nothing or noise; either way a clean outcome.
    const frames = Buffer.alloc(417 * 20);
    let state2 = 3;
    for (let i = 0; i < frames.length; i++) { state2 = (Math.imul(state2, 1103515245) + 12345) >>> 0; frames[i] = state2 >>> 24; }
    for (let k = 0; k < 20; k++) frames.set([0xff, 0xfb, 0x90, 0xc4], k * 417);
    const g = join(dir, 'garbage.mp3');
    writeFileSync(g, frames);
    expect(await probeMp3(g)).not.toBeNull();
    expect(['samples', 'AnalysisError']).toContain(await decodeOutcome(g));
  });
});

describe('streaming resampler', () => {
  it('gives the same output whatever the input pieces, keeps the pass band and removes what would alias', () => {
    const rate = 44100;
    const tone = (f: number, n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * f * i) / rate));
    const x = tone(1000, rate);
    const oneShot = new StreamingResampler(rate, 16000);
    const a = [...oneShot.push(x), ...oneShot.flush()];
    const pieces = new StreamingResampler(rate, 16000);
    const b: number[] = [];
    for (let at = 0, k = 1; at < x.length; at += k, k = (k * 7 + 3) % 5000 + 1) b.push(...pieces.push(x.subarray(at, at + k)));
    b.push(...pieces.flush());
    expect(a.length).toBe(16000);
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
    // 1 kHz keeps its amplitude (away from the edges).
    let peak = 0;
    for (let i = 1000; i < 15000; i++) peak = Math.max(peak, Math.abs(a[i]!));
    expect(peak).toBeGreaterThan(0.99);
    expect(peak).toBeLessThan(1.01);
    // 9 kHz lies above the new Nyquist frequency (8 kHz): removed, not folded down to 7 kHz.
    const high = new StreamingResampler(rate, 16000);
    const h = [...high.push(tone(9000, rate)), ...high.flush()];
    let rms = 0;
    for (let i = 1000; i < 15000; i++) rms += h[i]! ** 2;
    expect(Math.sqrt(rms / 14000)).toBeLessThan(1e-3);
    expect(() => new StreamingResampler(44100.5, 16000)).toThrow(RangeError);
  });
});

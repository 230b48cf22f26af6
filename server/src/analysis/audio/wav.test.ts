import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeAll, decodeOutcome, ffmpegReference as viaFfmpeg } from './testing/decode-helpers.js';
import { probeSimpleWav } from '../../media/audio/wav.js';

const dir = mkdtempSync(join(tmpdir(), 'wav-test-'));
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
const src = join(dir, 'src.wav');

const decode = async (file: string, start = 0, end: number | null = null) => (await decodeAll(file, start, end)).samples;

beforeAll(() => {
  ff('-f', 'lavfi', '-i', 'sine=f=440:d=3,volume=0.5', '-f', 'lavfi', '-i', 'anoisesrc=d=3:a=0.1', '-filter_complex', 'amix=inputs=2', '-ar', '16000', '-ac', '1', src);
});

describe('mono 16 kHz WAV fast path', () => {
  it('reads 16-, 24- and 32-bit integer and float WAVs exactly as ffmpeg decodes them, regions included', async () => {
    for (const codec of ['pcm_s16le', 'pcm_s24le', 'pcm_s32le', 'pcm_f32le']) {
      const f = join(dir, `${codec}.wav`);
      ff('-i', src, '-c:a', codec, f);
      expect(await probeSimpleWav(f, 16000), codec).not.toBeNull();
      for (const [start, end] of [[0, null], [0.5, 2.25]] as const) {
        const got = await decode(f, start, end);
        const ref = viaFfmpeg(f, start, end);
        expect(got.length, `${codec} ${start}`).toBe(ref.length);
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
        expect(worst, `${codec} ${start}`).toBe(0);
      }
    }
  });

  it('leaves other rates, stereo and compressed WAVs to ffmpeg, with the same result', async () => {
    const cases: Array<[string, string[]]> = [['rate.wav', ['-ar', '22050']], ['stereo.wav', ['-ac', '2']], ['alaw.wav', ['-c:a', 'pcm_alaw']]];
    for (const [name, args] of cases) {
      const f = join(dir, name);
      ff('-i', src, ...args, f);
      expect(await probeSimpleWav(f, 16000), name).toBeNull();
      expect((await decode(f)).length, name).toBe(viaFfmpeg(f).length);
    }
  });

  it('reads a truncated data chunk as far as it goes and survives corrupted headers', async () => {
    const whole = readFileSync(join(dir, 'pcm_s16le.wav'));
    const cut = join(dir, 'cut.wav');
    writeFileSync(cut, whole.subarray(0, whole.length - 1001)); // odd cut: half a sample dropped
    const wav = await probeSimpleWav(cut, 16000);
    expect(wav).not.toBeNull();
    expect((await decode(cut)).length).toBe(Math.floor(wav!.dataBytes / 2));
    // Random damage to the first 64 bytes: either a clean refusal (ffmpeg path, AnalysisError on
    // failure) or a read; never a crash or a hang.
    let state = 11;
    const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 4294967296; };
    for (let trial = 0; trial < 40; trial++) {
      const bad = Buffer.from(whole.subarray(0, 8000));
      for (let k = 0; k < 4; k++) bad[Math.floor(rnd() * 64)] = Math.floor(rnd() * 256);
      const f = join(dir, `bad${trial}.wav`);
      writeFileSync(f, bad);
      expect(['samples', 'AnalysisError'], `trial ${trial}`).toContain(await decodeOutcome(f));
    }
  });
});

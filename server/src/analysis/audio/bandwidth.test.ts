import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { highBandRatioDb, isNarrowband, NARROWBAND_BELOW_DB } from './bandwidth.js';
import { decodePcmChunks } from './decode.js';

let dir: string;
let wideband: string;

function ff(args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

async function firstChunk(file: string): Promise<Float32Array> {
  for await (const chunk of decodePcmChunks(file, { start: 0, end: null, chunkSamples: 32_000 })) return chunk;
  throw new Error('no audio');
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'discern-band-'));
  const raw = path.join(dir, 'espeak.wav');
  execFileSync('espeak-ng', ['-w', raw, '-s', '150', 'Please hold the line while we connect your call to an agent.']);
  wideband = path.join(dir, 'wide.wav');
  ff(['-i', raw, '-ar', '16000', wideband]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('telephone-band detection', () => {
  it('calls 16 kHz speech wideband and the same speech after a GSM phone leg narrowband', async () => {
    const gsm = path.join(dir, 'phone.wav');
    ff(['-i', wideband, '-af', 'highpass=f=300,lowpass=f=3400', '-ar', '8000', '-c:a', 'libgsm_ms', path.join(dir, 'p.wav')]);
    ff(['-i', path.join(dir, 'p.wav'), '-ar', '16000', gsm]);
    const wide = await firstChunk(wideband);
    const phone = await firstChunk(gsm);
    expect(highBandRatioDb(wide)).toBeGreaterThan(NARROWBAND_BELOW_DB + 10);
    expect(isNarrowband(wide)).toBe(false);
    expect(isNarrowband(phone)).toBe(true);
  });

  it('calls audio resampled through 8 kHz (G.711 µ-law) narrowband', async () => {
    const ulaw = path.join(dir, 'ulaw.wav');
    ff(['-i', wideband, '-ar', '8000', '-c:a', 'pcm_mulaw', path.join(dir, 'u.wav')]);
    ff(['-i', path.join(dir, 'u.wav'), '-ar', '16000', ulaw]);
    expect(isNarrowband(await firstChunk(ulaw))).toBe(true);
  });

  it('keeps MP3 and Opus wideband', async () => {
    for (const [codec, ext, rate] of [['libmp3lame', 'mp3', '32k'], ['libopus', 'ogg', '16k']] as const) {
      const f = path.join(dir, `c.${ext}`);
      ff(['-i', wideband, '-c:a', codec, '-b:a', rate, f]);
      expect(isNarrowband(await firstChunk(f)), codec).toBe(false);
    }
  });

  it('returns -Infinity for digital silence instead of dividing by zero', () => {
    expect(highBandRatioDb(new Float32Array(32_000))).toBe(-Infinity);
  });
});

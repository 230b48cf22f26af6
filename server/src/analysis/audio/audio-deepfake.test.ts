import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry, shippedModelsDir } from '../../inference/model-registry.js';
import { probeMedia } from '../../media/probe.js';
import type { MediaProbe } from '../../media/probe-types.js';
import { AnalysisError, type AnalysisInput, type DetectOptions } from '../types.js';
import { createAudioDeepfakeAnalyser } from './analyser.js';
import { decodePcmChunks } from './decode.js';

let dir: string;
const saved = new Map<string, { bytes: Buffer; type: string }>();
const artifacts = {
  async save(name: string, bytes: Buffer, contentType: string) {
    saved.set(name, { bytes, type: contentType });
    return `asset://test/${name}`;
  },
};
const models = new ModelRegistry([shippedModelsDir()]);
const analyser = createAudioDeepfakeAnalyser({ models });

function ff(args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

const options = (over: Partial<DetectOptions> = {}): DetectOptions => ({
  visualize: false,
  frame_length: 2,
  intelligence: false,
  audio_source_tracing: false,
  use_reverse_search: false,
  use_ood_detector: false,
  zero_retention_mode: false,
  ...over,
});

async function input(file: string, over: Partial<DetectOptions> = {}, probe?: MediaProbe): Promise<AnalysisInput> {
  const p = probe ?? (await probeMedia(file));
  return {
    detectId: 'd-' + path.basename(file),
    teamId: 't',
    mediaPath: file,
    mediaType: p.mediaType,
    probe: p,
    options: options(over),
    artifacts,
  };
}

let speech: string; // ~7 s of espeak-ng speech, 22.05 kHz wav
let longSpeech: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'discern-audio-'));
  const raw = path.join(dir, 'espeak.wav');
  execFileSync('espeak-ng', [
    '-w', raw, '-s', '150',
    'Thank you for calling. Please enter your account number followed by the pound key. Your call is important to us.',
  ]);
  speech = path.join(dir, 'speech.wav');
  // Exactly 7.3 s: pad with quiet noise or cut, so chunk counts are known.
  ff(['-i', raw, '-af', 'apad', '-t', '7.3', speech]);
  longSpeech = path.join(dir, 'speech.mp3');
  ff(['-stream_loop', '2', '-i', speech, '-c:a', 'libmp3lame', '-b:a', '64k', longSpeech]);
  ff(['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '5', path.join(dir, 'silence.wav')]);
  ff(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-pix_fmt', 'yuv420p', path.join(dir, 'noaudio.mp4')]);
  ff(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', speech, '-t', '7', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    path.join(dir, 'withaudio.mp4')]);
  const corrupt = Buffer.alloc(48_000);
  for (let i = 0; i < corrupt.length; i++) corrupt[i] = (i * 7919) % 251;
  corrupt.write('RIFF', 0);
  corrupt.write('WAVE', 8);
  writeFileSync(path.join(dir, 'corrupt.wav'), corrupt);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decodePcmChunks', () => {
  it('yields 16 kHz chunks that cover the whole file', async () => {
    const lengths: number[] = [];
    for await (const c of decodePcmChunks(speech, { chunkSamples: 32_000 })) lengths.push(c.length);
    expect(lengths.slice(0, -1).every((l) => l === 32_000)).toBe(true);
    const total = lengths.reduce((a, b) => a + b, 0);
    expect(Math.abs(total - 7.3 * 16_000)).toBeLessThan(200);
  });
});

describe('audio deepfake analyser', () => {
  it('scores every frame_length chunk of the whole file and labels by the calibrated threshold', async () => {
    const out = await analyser.analyse(await input(speech));
    const m = out.metrics!;
    const scores = m.score as string[];
    expect(scores).toHaveLength(4); // 2 + 2 + 2 + 1.3 s
    expect(m.analysed_seconds as number).toBeCloseTo(7.3, 1);
    const numeric = scores.map(Number).filter((s) => s !== -1);
    expect(numeric.length).toBeGreaterThanOrEqual(3);
    for (const s of numeric) expect(s >= 0 && s <= 1).toBe(true);
    const agg = Number(m.aggregated_score);
    const mean = numeric.reduce((a, b) => a + b, 0) / numeric.length;
    expect(Math.abs(agg - mean)).toBeLessThan(1e-3);
    const threshold = m.threshold as number;
    expect(m.label).toBe(agg >= threshold ? 'fake' : 'real');
    const agree = numeric.filter((s) => (s >= threshold ? 'fake' : 'real') === m.label).length / numeric.length;
    expect(Number(m.consistency)).toBeCloseTo(agree, 3);
    expect(m.model_version).toMatch(/^.+@.+$/);
    expect(typeof m.false_positive_rate).toBe('number');
    expect(m.image).toBeUndefined();
  });

  it('says whether the speech was wideband or came through a telephone band', async () => {
    const wide = (await analyser.analyse(await input(speech))).metrics!;
    expect(wide.bandwidth).toBe('wideband');
    expect(wide.narrowband_chunks).toBe(0);
    const gsm = path.join(dir, 'phone-gsm.wav');
    ff(['-i', speech, '-af', 'highpass=f=300,lowpass=f=3400', '-ar', '8000', '-c:a', 'libgsm_ms', gsm]);
    const phone = (await analyser.analyse(await input(gsm))).metrics!;
    expect(phone.bandwidth).toBe('narrowband');
    expect(phone.narrowband_chunks).toBe(phone.speech_chunks);
  });

  it('uses frame_length for the chunk size', async () => {
    const out = await analyser.analyse(await input(speech, { frame_length: 1 }));
    expect(out.metrics!.score as string[]).toHaveLength(8);
  });

  it('honours start_region and end_region', async () => {
    const out = await analyser.analyse(await input(speech, { start_region: 1, end_region: 4 }));
    expect(out.metrics!.analysed_seconds as number).toBeCloseTo(3, 1);
    expect(out.metrics!.score as string[]).toHaveLength(2);
    await expect(analyser.analyse(await input(speech, { start_region: 3, end_region: 2 }))).rejects.toBeInstanceOf(AnalysisError);
    await expect(analyser.analyse(await input(speech, { start_region: 60 }))).rejects.toThrow(/beyond the end/);
  });

  it('gives an explicit unknown (never real) when there is no speech', async () => {
    const out = await analyser.analyse(await input(path.join(dir, 'silence.wav')));
    const m = out.metrics!;
    expect(m.label).toBe('unknown');
    expect(m.aggregated_score).toBe('-1');
    expect(m.reason).toMatch(/no speech/);
    expect(m.score).toEqual(['-1', '-1', '-1']);
  });

  it('renders a PNG heatmap through the artifact sink', async () => {
    const out = await analyser.analyse(await input(longSpeech, { visualize: true }));
    const ref = out.metrics!.image as string;
    expect(ref).toMatch(/^asset:\/\/test\/.+\.png$/);
    const file = saved.get(ref.slice('asset://test/'.length))!;
    expect(file.type).toBe('image/png');
    expect(file.bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    const meta = await sharp(file.bytes).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width!).toBeGreaterThan(60);
    expect(meta.height!).toBeGreaterThan(100);
  });

  it('reports an out-of-distribution score when asked', async () => {
    const out = await analyser.analyse(await input(speech, { use_ood_detector: true }));
    const m = out.metrics!;
    expect(Number.isFinite(Number(m.ood_score))).toBe(true);
    expect(typeof m.uncertain).toBe('boolean');
    if (m.uncertain) expect(m.reason).toMatch(/unlike/);
  });

  it('analyses the audio track of a video, and says unknown for a video without audio', async () => {
    const withAudio = await analyser.analyse(await input(path.join(dir, 'withaudio.mp4')));
    expect(['fake', 'real']).toContain(withAudio.metrics!.label);
    const none = await analyser.analyse(await input(path.join(dir, 'noaudio.mp4')));
    expect(none.metrics!.label).toBe('unknown');
    expect(none.metrics!.reason).toMatch(/no audio track/);
  });

  it('fails with AnalysisError on corrupt audio', async () => {
    const probe: MediaProbe = {
      format: 'wav', mediaType: 'audio', duration: 1.5, sizeBytes: 48_000,
      audio: { codec: 'pcm_s16le', sampleRate: 16_000, channels: 1 }, video: null,
    };
    await expect(analyser.analyse(await input(path.join(dir, 'corrupt.wav'), {}, probe))).rejects.toBeInstanceOf(AnalysisError);
  });

  it('refuses to score without an installed model', async () => {
    const empty = mkdtempSync(path.join(dir, 'models-'));
    const bare = createAudioDeepfakeAnalyser({ models: new ModelRegistry([empty]) });
    await expect(bare.analyse(await input(speech))).rejects.toThrow(/no audio deepfake model is installed/);
  });

  it('refuses a model whose sha256 does not match its manifest', async () => {
    const root = mkdtempSync(path.join(dir, 'tampered-'));
    const target = path.join(root, 'audio-deepfake');
    mkdirSync(target);
    const shipped = path.join(shippedModelsDir(), 'audio-deepfake');
    const manifest = JSON.parse(readFileSync(path.join(shipped, 'model.json'), 'utf8'));
    copyFileSync(path.join(shipped, manifest.file ?? 'model.onnx'), path.join(target, manifest.file ?? 'model.onnx'));
    writeFileSync(path.join(target, 'model.json'), JSON.stringify({ ...manifest, sha256: '0'.repeat(64) }));
    const bad = createAudioDeepfakeAnalyser({ models: new ModelRegistry([root]) });
    await expect(bad.analyse(await input(speech))).rejects.toThrow(/sha256/);
  });
});

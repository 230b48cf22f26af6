/**
 * File-level watermark entry points the server calls: apply to / detect in an audio, image or
 * video file. Audio is decoded with ffmpeg to f32 PCM at its native rate and channel count,
 * marked in 54 s chunks (20 audio-mark periods, so the layout stays aligned and memory stays
 * bounded), and re-encoded with the input's codec and container (bit rate kept). Video frames
 * stream through pipes one frame at a time (decoder → mark → libx264), the audio track is
 * marked as audio, and detection reads both.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnalysisError } from '../types.js';
import { AUDIO_PERIOD_SECONDS, AUDIO_WM_RATE, audioWatermarkSignal, detectAudioWatermark, type AudioDetection, type TimeScaleSearch } from './audio-watermark.js';
import { payloadFromMessage, toHex } from './ecc.js';
import { MediaToolError, probe, runTool, type ProbeInfo, type ProbeStream } from './ffmpeg.js';
import {
  DEFAULT_IMAGE_STRENGTH, applyImageWatermark, detectImageWatermark, detectImageWatermarkPixels, embedImageWatermarkPixels,
  imagePayloadFromMessage, videoChipSizeFor, type ImageDetection,
} from './image-watermark.js';

export type WatermarkMediaType = 'audio' | 'image' | 'video';

export interface ApplyWatermarkOptions {
  inputPath: string;
  outputPath: string;
  mediaType: WatermarkMediaType;
  /** 0–1, image/video only (audio strength is fixed by the SNR floor). Default 0.2. */
  strength?: number | null;
  /** custom_message; default "resembleai". Audio carries SHA-256(message)[0..4], images [0..8]. */
  message?: string | null;
  /** Video: libx264 CRF of the output (default 18). */
  videoCrf?: number;
}

export interface ApplyWatermarkResult {
  outputPath: string;
  mediaType: WatermarkMediaType;
  /** Container written: wav, mp3, mp4, ogg, flac, png, jpeg, webp, … */
  container: string;
  /** Payload of the visual mark (images/video) or the audio mark (audio-only). */
  payloadHex: string;
  audio?: { payloadHex: string; codec: string; sampleRate: number; channels: number; bitRate: number | null; snrDb: number; seconds: number };
  image?: { psnrDb: number; width: number; height: number; chipSize: number };
  video?: { frames: number; width: number; height: number; fps: string; meanPsnrDb: number; crf: number };
}

export interface DetectWatermarkOptions {
  inputPath: string;
  mediaType: WatermarkMediaType;
  /** When given, has_watermark also requires the decoded payload to match this message. */
  message?: string | null;
  /** Audio analysed from the start of the file, seconds (default 600). */
  maxAudioSeconds?: number;
  /** Video frames averaged for the visual check (default 24). */
  videoFrames?: number;
  /** Audio: how hard to look for speed changes up to ±5 % (audio-watermark.ts; default 'auto'). */
  timeScaleSearch?: TimeScaleSearch;
}

export interface DetectWatermarkResult {
  has_watermark: boolean;
  confidence: number;
  payload_hex?: string | null;
  message_match?: boolean;
  audio?: AudioDetection & { message_match?: boolean };
  image?: ImageDetection;
  video?: ImageDetection & { frames_analysed: number };
}

const MEDIA_ERROR = 'File must be valid media format';

export async function applyWatermarkToFile(options: ApplyWatermarkOptions): Promise<ApplyWatermarkResult> {
  switch (options.mediaType) {
    case 'image': return applyImage(options);
    case 'audio': return applyAudio(options);
    case 'video': return applyVideo(options);
    default: throw new AnalysisError(`unsupported media type ${String(options.mediaType)}`);
  }
}

export async function detectWatermarkInFile(options: DetectWatermarkOptions): Promise<DetectWatermarkResult> {
  switch (options.mediaType) {
    case 'image': {
      const buf = await readFile(options.inputPath);
      let det: ImageDetection;
      try {
        det = await detectImageWatermark(buf, { message: options.message ?? null });
      } catch (err) {
        throw new AnalysisError(`${MEDIA_ERROR}: the image could not be decoded (${(err as Error).message})`);
      }
      return { has_watermark: det.has_watermark, confidence: det.confidence, payload_hex: det.payload_hex, message_match: det.message_match, image: det };
    }
    case 'audio': {
      const info = await probeOrFail(options.inputPath);
      if (!info.streams.some((s) => s.codec_type === 'audio')) throw new AnalysisError(`${MEDIA_ERROR}: no audio stream`);
      const audio = await detectAudioTrack(options.inputPath, options.message, options.maxAudioSeconds, options.timeScaleSearch);
      return { has_watermark: audio.has_watermark, confidence: audio.confidence, payload_hex: audio.payload_hex, message_match: audio.message_match, audio };
    }
    case 'video': {
      const info = await probeOrFail(options.inputPath);
      const vs = info.streams.find((s) => s.codec_type === 'video');
      if (!vs) throw new AnalysisError(`${MEDIA_ERROR}: no video stream`);
      const video = await detectVideoTrack(options.inputPath, info, vs, options.message, options.videoFrames ?? 24);
      const audio = info.streams.some((s) => s.codec_type === 'audio') ? await detectAudioTrack(options.inputPath, options.message, options.maxAudioSeconds, options.timeScaleSearch) : undefined;
      const has = video.has_watermark || (audio?.has_watermark ?? false);
      const confidence = Math.max(video.confidence, audio?.confidence ?? 0);
      const result: DetectWatermarkResult = { has_watermark: has, confidence, payload_hex: video.payload_hex, video };
      if (audio) result.audio = audio;
      if (options.message != null) result.message_match = (video.message_match ?? false) || (audio?.message_match ?? false);
      return result;
    }
    default: throw new AnalysisError(`unsupported media type ${String(options.mediaType)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Images

async function applyImage(options: ApplyWatermarkOptions): Promise<ApplyWatermarkResult> {
  const input = await readFile(options.inputPath);
  let res;
  try {
    res = await applyImageWatermark(input, { strength: options.strength ?? DEFAULT_IMAGE_STRENGTH, message: options.message ?? null });
  } catch (err) {
    throw new AnalysisError(`${MEDIA_ERROR}: the image could not be decoded (${(err as Error).message})`);
  }
  await writeFile(options.outputPath, res.buffer);
  return {
    outputPath: options.outputPath, mediaType: 'image', container: res.container, payloadHex: res.payloadHex,
    image: { psnrDb: round(res.psnr, 2), width: res.width, height: res.height, chipSize: res.chipSize },
  };
}

// ---------------------------------------------------------------------------------------------
// Audio

interface AudioTarget { codecArgs: string[]; format: string; container: string; codec: string; bitRate: number | null }

function audioTarget(stream: ProbeStream, info: ProbeInfo): AudioTarget {
  const codec = stream.codec_name ?? '';
  const bitRate = Number(stream.bit_rate ?? info.format.bit_rate ?? NaN);
  const kbps = Number.isFinite(bitRate) && bitRate > 0 ? Math.max(8, Math.round(bitRate / 1000)) : null;
  const formats = (info.format.format_name ?? '').split(',');
  const br = (fallback: number) => ['-b:a', `${kbps ?? fallback}k`];
  if (codec.startsWith('pcm_')) return { codecArgs: ['-c:a', codec], format: formats.includes('aiff') ? 'aiff' : 'wav', container: formats.includes('aiff') ? 'aiff' : 'wav', codec, bitRate: null };
  if (codec === 'mp3') return { codecArgs: ['-c:a', 'libmp3lame', ...br(128)], format: 'mp3', container: 'mp3', codec, bitRate: kbps };
  if (codec === 'aac') {
    if (formats.includes('adts') || formats.includes('aac')) return { codecArgs: ['-c:a', 'aac', ...br(128)], format: 'adts', container: 'aac', codec, bitRate: kbps };
    return { codecArgs: ['-c:a', 'aac', ...br(128)], format: 'ipod', container: 'm4a', codec, bitRate: kbps };
  }
  if (codec === 'opus') return { codecArgs: ['-c:a', 'libopus', ...br(64)], format: formats.includes('webm') || formats.includes('matroska') ? 'webm' : 'ogg', container: formats.includes('webm') ? 'webm' : 'ogg', codec, bitRate: kbps };
  if (codec === 'vorbis') return { codecArgs: ['-c:a', 'libvorbis', ...br(128)], format: 'ogg', container: 'ogg', codec, bitRate: kbps };
  if (codec === 'flac') return { codecArgs: ['-c:a', 'flac'], format: 'flac', container: 'flac', codec, bitRate: null };
  // Anything else (ALAC, AC-3, WMA, AMR, …): lossless-safe fallback to 16-bit WAV.
  return { codecArgs: ['-c:a', 'pcm_s16le'], format: 'wav', container: 'wav', codec: 'pcm_s16le', bitRate: null };
}

async function probeOrFail(path: string): Promise<ProbeInfo> {
  try {
    await stat(path);
  } catch {
    throw new AnalysisError(`${MEDIA_ERROR}: file not found`);
  }
  try {
    return await probe(path);
  } catch (err) {
    throw new AnalysisError(`${MEDIA_ERROR}: ffprobe could not read it (${err instanceof MediaToolError ? err.message : String(err)})`);
  }
}

/** 20 mark periods (54 s): a whole number of samples at every integer rate, so chunk k starts exactly at period 20k. */
const AUDIO_CHUNK_SECONDS = 20 * AUDIO_PERIOD_SECONDS;

async function applyAudio(options: ApplyWatermarkOptions): Promise<ApplyWatermarkResult> {
  const info = await probeOrFail(options.inputPath);
  const stream = info.streams.find((s) => s.codec_type === 'audio');
  if (!stream) throw new AnalysisError(`${MEDIA_ERROR}: no audio stream`);
  const target = audioTarget(stream, info);
  const payload = payloadFromMessage(options.message, 4);
  const res = await markAudioStream(options.inputPath, options.outputPath, stream, target, payload, ['-f', target.format]);
  return {
    outputPath: options.outputPath, mediaType: 'audio', container: target.container, payloadHex: toHex(payload),
    audio: { payloadHex: toHex(payload), codec: target.codec, sampleRate: res.sampleRate, channels: res.channels, bitRate: target.bitRate, snrDb: round(res.snrDb, 2), seconds: round(res.seconds, 3) },
  };
}

/**
 * Decoder → chunked marking → encoder, all through pipes. The mark is computed on the mono mix
 * and added to every channel.
 */
async function markAudioStream(inputPath: string, outputPath: string, stream: ProbeStream, target: AudioTarget, payload: Uint8Array, outArgs: string[]):
  Promise<{ sampleRate: number; channels: number; snrDb: number; seconds: number }> {
  let sampleRate = Number(stream.sample_rate ?? 0);
  const channels = Math.max(1, Math.min(8, stream.channels ?? 1));
  // A missing or odd rate is resampled to 48 kHz (54 s chunks are whole samples at any integer rate).
  if (!(sampleRate > 0) || !Number.isInteger(sampleRate)) sampleRate = 48000;
  const chunkFrames = Math.round(AUDIO_CHUNK_SECONDS * sampleRate);
  const decoder = spawnTool(['-v', 'error', '-nostdin', '-i', inputPath, '-map', `0:${stream.index}`, '-vn', '-ac', String(channels), '-ar', String(sampleRate), '-f', 'f32le', '-acodec', 'pcm_f32le', 'pipe:1']);
  const encoder = spawnTool(['-v', 'error', '-nostdin', '-y', '-f', 'f32le', '-ar', String(sampleRate), '-ac', String(channels), '-i', 'pipe:0', ...target.codecArgs, ...outArgs, outputPath]);
  let sig = 0;
  let err = 0;
  let total = 0;
  const processChunk = async (buf: Buffer): Promise<void> => {
    const aligned = Buffer.from(buf);
    const pcm = new Float32Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.length / 4));
    const frames = Math.floor(pcm.length / channels);
    const mono = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      let a = 0;
      for (let c = 0; c < channels; c++) a += pcm[i * channels + c]!;
      mono[i] = a / channels;
    }
    const mark = audioWatermarkSignal(mono, sampleRate, payload);
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < channels; c++) {
        const k = i * channels + c;
        const before = pcm[k]!;
        const after = Math.max(-1, Math.min(1, before + mark[i]!));
        pcm[k] = after;
        sig += before * before;
        err += (after - before) * (after - before);
      }
    }
    total += frames;
    await writeWithBackpressure(encoder, Buffer.from(pcm.buffer, pcm.byteOffset, frames * channels * 4));
  };
  const chunkBytes = chunkFrames * channels * 4;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const piece of decoder.stdout as AsyncIterable<Buffer>) {
      pending.push(piece);
      pendingBytes += piece.length;
      while (pendingBytes >= chunkBytes) {
        const all = Buffer.concat(pending);
        await processChunk(all.subarray(0, chunkBytes));
        const rest = all.subarray(chunkBytes);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      }
    }
    if (pendingBytes > 0) await processChunk(Buffer.concat(pending));
    encoder.stdin.end();
    await Promise.all([waitFor(decoder, 'decoder'), waitFor(encoder, 'encoder')]);
  } catch (e) {
    decoder.kill('SIGKILL');
    encoder.kill('SIGKILL');
    if (e instanceof AnalysisError) throw e;
    throw new AnalysisError(`${MEDIA_ERROR}: ${(e as Error).message}`);
  }
  if (total === 0) throw new AnalysisError(`${MEDIA_ERROR}: the audio track decoded to no samples`);
  return { sampleRate, channels, snrDb: err === 0 ? Infinity : 10 * Math.log10(sig / err), seconds: total / sampleRate };
}

async function detectAudioTrack(path: string, message: string | null | undefined, maxSeconds = 600, timeScaleSearch: TimeScaleSearch = 'auto'): Promise<AudioDetection & { message_match?: boolean }> {
  let pcm: Float32Array;
  try {
    const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-nostdin', '-t', String(maxSeconds), '-i', path, '-map', '0:a:0', '-vn', '-ac', '1', '-ar', String(AUDIO_WM_RATE), '-f', 'f32le', '-acodec', 'pcm_f32le', 'pipe:1']);
    const copy = Buffer.from(stdout);
    pcm = new Float32Array(copy.buffer, copy.byteOffset, Math.floor(copy.length / 4));
  } catch (err) {
    throw new AnalysisError(`${MEDIA_ERROR}: the audio could not be decoded (${(err as Error).message})`);
  }
  const expected = message != null ? payloadFromMessage(message, 4) : undefined;
  // With a message, the known-payload test checks that message's payload; without one, the
  // default message's (what marks applied without custom_message carry).
  const det = detectAudioWatermark(pcm, AUDIO_WM_RATE, { timeScaleSearch, knownPayload: expected });
  if (!expected) return det;
  // payload_hex is set only for a CRC-valid blind decode or a known-payload detection.
  const match = det.payload_hex === toHex(expected);
  return { ...det, has_watermark: det.has_watermark && match, message_match: match };
}

// ---------------------------------------------------------------------------------------------
// Video

function videoContainer(info: ProbeInfo): { format: string; container: string } {
  const f = info.format.format_name ?? '';
  if (f.includes('matroska')) return { format: 'matroska', container: 'mkv' };
  if (f.includes('mov') && !f.includes('mp4')) return { format: 'mov', container: 'mov' };
  return { format: 'mp4', container: 'mp4' };
}

async function applyVideo(options: ApplyWatermarkOptions): Promise<ApplyWatermarkResult> {
  const info = await probeOrFail(options.inputPath);
  const vs = info.streams.find((s) => s.codec_type === 'video');
  if (!vs || !vs.width || !vs.height) throw new AnalysisError(`${MEDIA_ERROR}: no video stream`);
  const as = info.streams.find((s) => s.codec_type === 'audio');
  const width = vs.width;
  const height = vs.height;
  const fps = vs.avg_frame_rate && vs.avg_frame_rate !== '0/0' ? vs.avg_frame_rate : vs.r_frame_rate ?? '25';
  const crf = options.videoCrf ?? 18;
  const imagePayload = imagePayloadFromMessage(options.message);
  const audioPayload = payloadFromMessage(options.message, 4);
  const strength = options.strength ?? DEFAULT_IMAGE_STRENGTH;
  const { format, container } = videoContainer(info);
  const work = await mkdtemp(join(tmpdir(), 'discern-wm-'));
  try {
    let audioFile: string | null = null;
    let audioInfo: ApplyWatermarkResult['audio'];
    if (as) {
      audioFile = join(work, 'audio.m4a');
      const target: AudioTarget = { codecArgs: ['-c:a', 'aac', '-b:a', `${Math.max(96, Math.round(Number(as.bit_rate ?? 128000) / 1000))}k`], format: 'ipod', container: 'm4a', codec: 'aac', bitRate: null };
      const r = await markAudioStream(options.inputPath, audioFile, as, target, audioPayload, ['-f', 'ipod']);
      audioInfo = { payloadHex: toHex(audioPayload), codec: 'aac', sampleRate: r.sampleRate, channels: r.channels, bitRate: null, snrDb: round(r.snrDb, 2), seconds: round(r.seconds, 3) };
    }
    const frameBytes = width * height * 3;
    const decoder = spawnTool(['-v', 'error', '-nostdin', '-i', options.inputPath, '-map', `0:${vs.index}`, '-an', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    const encArgs = ['-v', 'error', '-nostdin', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', fps, '-i', 'pipe:0'];
    if (audioFile) encArgs.push('-i', audioFile, '-map', '0:v', '-map', '1:a', '-c:a', 'copy');
    encArgs.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf), '-pix_fmt', 'yuv420p');
    if (format === 'mp4' || format === 'mov') encArgs.push('-movflags', '+faststart');
    encArgs.push('-f', format, options.outputPath);
    const encoder = spawnTool(encArgs);
    const chip = videoChipSizeFor(width, height);
    let frames = 0;
    let psnrSum = 0;
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const piece of decoder.stdout as AsyncIterable<Buffer>) {
        pending.push(piece);
        pendingBytes += piece.length;
        while (pendingBytes >= frameBytes) {
          const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          const frame = all.subarray(0, frameBytes);
          const marked = embedImageWatermarkPixels(frame, width, height, 3, imagePayload, strength, chip);
          frames++;
          psnrSum += Number.isFinite(marked.psnr) ? marked.psnr : 99;
          await writeWithBackpressure(encoder, marked.pixels);
          const rest = all.subarray(frameBytes);
          pending = rest.length ? [Buffer.from(rest)] : [];
          pendingBytes = rest.length;
        }
      }
      encoder.stdin.end();
      await Promise.all([waitFor(decoder, 'decoder'), waitFor(encoder, 'encoder')]);
    } catch (e) {
      decoder.kill('SIGKILL');
      encoder.kill('SIGKILL');
      if (e instanceof AnalysisError) throw e;
      throw new AnalysisError(`${MEDIA_ERROR}: ${(e as Error).message}`);
    }
    if (frames === 0) throw new AnalysisError(`${MEDIA_ERROR}: the video decoded to no frames`);
    const result: ApplyWatermarkResult = {
      outputPath: options.outputPath, mediaType: 'video', container, payloadHex: toHex(imagePayload),
      video: { frames, width, height, fps, meanPsnrDb: round(psnrSum / frames, 2), crf },
    };
    if (audioInfo) result.audio = audioInfo;
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Averages the luma of up to `maxFrames` frames spread over the video (the mark is static, the
 * content is not, so averaging raises the mark above the host) and runs the image detector.
 */
async function detectVideoTrack(path: string, info: ProbeInfo, vs: ProbeStream, message: string | null | undefined, maxFrames: number): Promise<ImageDetection & { frames_analysed: number }> {
  const width = vs.width ?? 0;
  const height = vs.height ?? 0;
  if (!width || !height) throw new AnalysisError(`${MEDIA_ERROR}: video stream without a size`);
  const duration = Number(vs.duration ?? info.format.duration ?? 0);
  const args = ['-v', 'error', '-nostdin', '-i', path, '-map', `0:${vs.index}`, '-an'];
  if (duration > 0) args.push('-vf', `fps=${Math.max(0.05, Math.min(30, maxFrames / duration)).toFixed(4)}`);
  args.push('-frames:v', String(maxFrames), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1');
  const decoder = spawnTool(args);
  const frameBytes = width * height;
  const sum = new Float64Array(frameBytes);
  let frames = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const piece of decoder.stdout as AsyncIterable<Buffer>) {
      pending.push(piece);
      pendingBytes += piece.length;
      while (pendingBytes >= frameBytes) {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        for (let i = 0; i < frameBytes; i++) sum[i] = sum[i]! + all[i]!;
        frames++;
        const rest = all.subarray(frameBytes);
        pending = rest.length ? [Buffer.from(rest)] : [];
        pendingBytes = rest.length;
      }
    }
    await waitFor(decoder, 'decoder');
  } catch (e) {
    decoder.kill('SIGKILL');
    throw new AnalysisError(`${MEDIA_ERROR}: the video could not be decoded (${(e as Error).message})`);
  }
  if (frames === 0) throw new AnalysisError(`${MEDIA_ERROR}: the video decoded to no frames`);
  const mean = new Uint8Array(frameBytes);
  for (let i = 0; i < frameBytes; i++) mean[i] = Math.round(sum[i]! / frames);
  const expectedPayload = message != null ? imagePayloadFromMessage(message) : undefined;
  const det = detectImageWatermarkPixels(mean, width, height, 1, { expectedPayload });
  return { ...det, frames_analysed: frames };
}

// ---------------------------------------------------------------------------------------------
// Process plumbing

function spawnTool(args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 20000) stderr = stderr.slice(-10000);
  });
  (child as ChildProcessWithoutNullStreams & { stderrText: () => string }).stderrText = () => stderr;
  child.stdin.on('error', () => { /* reported through the exit code */ });
  return child;
}

function waitFor(child: ChildProcessWithoutNullStreams, role: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (code: number | null) => {
      if (code === 0) resolve();
      else {
        const text = (child as ChildProcessWithoutNullStreams & { stderrText?: () => string }).stderrText?.() ?? '';
        reject(new MediaToolError(`ffmpeg ${role} failed (${code}): ${text.trim().split('\n').slice(-2).join(' | ')}`));
      }
    };
    if (child.exitCode !== null) done(child.exitCode);
    else child.once('close', done);
    child.once('error', (e) => reject(new MediaToolError(`ffmpeg ${role} could not start: ${e.message}`)));
  });
}

function writeWithBackpressure(child: ChildProcessWithoutNullStreams, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) { reject(new MediaToolError('ffmpeg encoder exited early')); return; }
    const ok = child.stdin.write(data, (e) => { if (e) reject(e); });
    if (ok) resolve();
    else child.stdin.once('drain', resolve);
  });
}

function round(v: number, d: number): number {
  if (!Number.isFinite(v)) return v;
  const m = 10 ** d;
  return Math.round(v * m) / m;
}

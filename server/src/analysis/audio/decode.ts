import { spawn } from 'node:child_process';
import { AnalysisError } from '../types.js';
import { decodeMp3Chunks, probeMp3 } from '../../media/audio/mp3.js';
import { probeSimpleWav, readWavChunks } from '../../media/audio/wav.js';

export const SAMPLE_RATE = 16_000;

export interface DecodeOptions {
  /** Seconds into the file where decoding starts. */
  start?: number;
  /** Seconds into the file where decoding stops (exclusive). */
  end?: number | null;
  /** Samples per yielded chunk; the last chunk may be shorter. */
  chunkSamples: number;
  signal?: AbortSignal;
  ffmpegPath?: string;
}

/**
 * Decodes the first audio stream of `file` to 16 kHz mono float32 (mono 16 kHz WAV and plain MP3
 * in-process, everything else with ffmpeg) and yields it in
 * fixed-size chunks. Only one chunk (plus ffmpeg's pipe buffer) is held at a time, so memory does
 * not grow with the file's length; the consumer's pace back-pressures ffmpeg through the pipe.
 * ffmpeg failures (corrupt or unsupported input) surface as AnalysisError with its message.
 */
export async function* decodePcmChunks(file: string, options: DecodeOptions): AsyncGenerator<Float32Array> {
  const start = options.start ?? 0;
  // Region in output samples, for the in-process readers (ffmpeg gets it as -ss/-t).
  const first = Math.round(start * SAMPLE_RATE);
  const last = options.end != null ? Math.round(options.end * SAMPLE_RATE) : Number.MAX_SAFE_INTEGER;
  const failure = (error: unknown, verb: string) =>
    options.signal?.aborted ? new AnalysisError('audio analysis aborted')
      : error instanceof AnalysisError ? error : new AnalysisError(`audio could not be ${verb}: ${(error as Error).message}`);
  const wav = await probeSimpleWav(file, SAMPLE_RATE).catch(() => null);
  if (wav) {
    // Mono 16 kHz WAV: read directly (see wav.ts), same samples as ffmpeg would give.
    try {
      yield* readWavChunks(file, wav, first, last, options.chunkSamples, options.signal);
    } catch (error) {
      throw failure(error, 'read');
    }
    return;
  }
  const mp3 = await probeMp3(file).catch(() => null);
  if (mp3) {
    // Plain MP3: decoded in-process (see mp3.ts: saves ffmpeg's start-up, the larger part of the
    // cost of a short clip). A stream that passes the probe but that mpg123 cannot decode at all
    // falls through to ffmpeg, which knows more containers; once samples were yielded, errors stand.
    let yielded = false;
    try {
      for await (const chunk of decodeMp3Chunks(file, mp3, first, last, options.chunkSamples, SAMPLE_RATE, options.signal)) {
        yielded = true;
        yield chunk;
      }
      return;
    } catch (error) {
      if (yielded || options.signal?.aborted) throw failure(error, 'decoded');
    }
  }
  const args = ['-v', 'error', '-nostdin', '-hide_banner'];
  if (start > 0) args.push('-ss', start.toFixed(3));
  args.push('-i', file);
  if (options.end != null) args.push('-t', Math.max(0, options.end - start).toFixed(3));
  args.push('-map', '0:a:0', '-vn', '-sn', '-dn', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 'f32le', 'pipe:1');

  const child = spawn(options.ffmpegPath ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const bytesPerChunk = options.chunkSamples * 4;
  let buffer = Buffer.allocUnsafe(bytesPerChunk);
  let filled = 0;
  try {
    for await (const piece of child.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < piece.length) {
        const n = Math.min(piece.length - offset, bytesPerChunk - filled);
        piece.copy(buffer, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === bytesPerChunk) {
          yield toFloat32(buffer, filled);
          buffer = Buffer.allocUnsafe(bytesPerChunk);
          filled = 0;
        }
      }
    }
    const result = await exited;
    if (options.signal?.aborted) throw new AnalysisError('audio analysis aborted');
    if (result.error) throw new AnalysisError(`could not run ffmpeg: ${result.error.message}`);
    if (result.code !== 0) {
      const detail = stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${result.code}`;
      throw new AnalysisError(`audio could not be decoded: ${detail}`);
    }
    if (filled >= 4) yield toFloat32(buffer, filled - (filled % 4));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function toFloat32(buffer: Buffer, bytes: number): Float32Array {
  // Each chunk owns its buffer (a fresh allocation per chunk), so a view is safe when aligned.
  if (buffer.byteOffset % 4 === 0) return new Float32Array(buffer.buffer, buffer.byteOffset, bytes / 4);
  const out = new Float32Array(bytes / 4);
  for (let i = 0; i < out.length; i++) out[i] = buffer.readFloatLE(i * 4);
  return out;
}

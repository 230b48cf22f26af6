/**
 * Thin ffmpeg/ffprobe adapter for the watermark engine: argument arrays only (no shell), bounded
 * stderr capture, stdin from a buffer, stdout to a buffer.
 */
import { spawn } from 'node:child_process';

export class MediaToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaToolError';
  }
}

export interface RunResult { stdout: Buffer; stderr: string }

export function runTool(tool: 'ffmpeg' | 'ffprobe', args: string[], input?: Buffer | Float32Array): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.length > 20000) stderr = stderr.slice(-10000);
    });
    child.on('error', (err) => reject(new MediaToolError(`${tool} could not start: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout: Buffer.concat(chunks), stderr });
      else reject(new MediaToolError(`${tool} exited with code ${code}: ${lastLines(stderr)}`));
    });
    child.stdin.on('error', () => { /* the process may exit before reading everything; close reports it */ });
    if (input) {
      const buf = input instanceof Float32Array ? Buffer.from(input.buffer, input.byteOffset, input.byteLength) : input;
      child.stdin.end(buf);
    } else {
      child.stdin.end();
    }
  });
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}

/** Decodes any audio (or a video's first audio stream) to interleaved f32 PCM. */
export async function decodeAudio(path: string, options: { sampleRate?: number; channels?: number; start?: number; duration?: number } = {}): Promise<Float32Array> {
  const args = ['-v', 'error', '-nostdin'];
  if (options.start != null) args.push('-ss', String(options.start));
  if (options.duration != null) args.push('-t', String(options.duration));
  args.push('-i', path, '-map', '0:a:0', '-vn');
  if (options.channels) args.push('-ac', String(options.channels));
  if (options.sampleRate) args.push('-ar', String(options.sampleRate));
  args.push('-f', 'f32le', '-acodec', 'pcm_f32le', 'pipe:1');
  const { stdout } = await runTool('ffmpeg', args);
  const copy = Buffer.from(stdout); // aligned copy
  return new Float32Array(copy.buffer, copy.byteOffset, Math.floor(copy.length / 4));
}

export interface ProbeStream {
  index: number;
  codec_type: string;
  codec_name?: string;
  sample_rate?: string;
  channels?: number;
  bit_rate?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  channel_layout?: string;
}
export interface ProbeInfo { streams: ProbeStream[]; format: { format_name?: string; duration?: string; bit_rate?: string } }

export async function probe(path: string): Promise<ProbeInfo> {
  const { stdout } = await runTool('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', path]);
  const parsed = JSON.parse(stdout.toString()) as Partial<ProbeInfo>;
  return { streams: parsed.streams ?? [], format: parsed.format ?? {} };
}

/**
 * probeMedia: what is this file, really? Byte sniffing decides the container; ffprobe (for
 * audio/video) or sharp (for still and animated images) reads the streams; a short decode
 * proves the data is more than a plausible header. Anything that fails becomes a MediaError
 * whose message can be shown to the client verbatim.
 *
 * Mono 16 kHz WAV and plain MP3 streams are probed in-process instead (audio/quick-probe.ts);
 * everything else, and anything those readers do not recognise, goes to ffprobe.
 *
 * ffprobe/ffmpeg are run with the demuxer forced to the sniffed container and with only the
 * `file` protocol allowed, so a crafted file cannot switch ffmpeg to a playlist/concat demuxer
 * that opens other files or network URLs.
 */
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { probeAudioInProcess } from './audio/quick-probe.js';
import type { MediaProbe } from './probe-types.js';
import { firstErrorLine, runProcess } from './run-process.js';
import { sniffFile, type SniffResult } from './sniff.js';

export class MediaError extends Error {
  readonly code = 'MEDIA_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'MediaError';
  }
}

export interface ProbeOptions {
  /** Per helper-process timeout (default 30 s). */
  timeoutMs?: number;
  ffprobePath?: string;
  ffmpegPath?: string;
  /** Decode the first frames/seconds to prove the file is usable (default true). */
  verifyDecode?: boolean;
  /** Refuse images with more pixels than this (default 100 megapixels). */
  maxImagePixels?: number;
  signal?: AbortSignal;
}

const INVALID = 'The file is not a valid audio, image or video file';

/** ffmpeg demuxer for each sniffed container; anything absent here is not probed by ffprobe. */
const DEMUXERS: Record<string, string> = {
  wav: 'wav',
  mp3: 'mp3',
  flac: 'flac',
  ogg: 'ogg',
  aac: 'aac',
  amr: 'amr',
  m4a: 'mov',
  mp4: 'mov',
  mov: 'mov',
  '3gp': 'mov',
  avi: 'avi',
  mkv: 'matroska',
  webm: 'matroska',
  asf: 'asf',
  mpegts: 'mpegts',
  mpeg: 'mpeg',
};

const IMAGE_FORMATS = new Set(['jpeg', 'png', 'gif', 'webp', 'heic', 'avif']);

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  sample_rate?: string;
  channels?: number;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  disposition?: { attached_pic?: number; timed_thumbnails?: number };
}
interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string };
}

export async function probeMedia(path: string, opts: ProbeOptions = {}): Promise<MediaProbe> {
  let sizeBytes: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new MediaError(`${INVALID} (not a regular file)`);
    sizeBytes = st.size;
  } catch (err) {
    if (err instanceof MediaError) throw err;
    throw new MediaError(`The media file could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (sizeBytes === 0) throw new MediaError('The file is empty');

  const sniffed = await sniffFile(path);
  if (sniffed.mediaType === 'archive') {
    throw new MediaError(`The file is a ${sniffed.format} archive, not an audio, image or video file`);
  }
  if (!sniffed.format || !sniffed.mediaType) {
    throw new MediaError(`${INVALID} (unrecognised content; the file name and content type are not trusted)`);
  }

  if (IMAGE_FORMATS.has(sniffed.format)) return probeImage(path, sniffed, sizeBytes, opts);
  return probeAudioVideo(path, sniffed, sizeBytes, opts);
}

async function probeImage(path: string, sniffed: SniffResult, sizeBytes: number, opts: ProbeOptions): Promise<MediaProbe> {
  const maxPixels = opts.maxImagePixels ?? 100_000_000;
  let meta: sharp.Metadata;
  try {
    meta = await sharp(path, { limitInputPixels: maxPixels, animated: true }).metadata();
  } catch (err) {
    throw new MediaError(`${INVALID} (image: ${cleanSharpMessage(err, path)})`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (!width || !height) throw new MediaError(`${INVALID} (image has no dimensions)`);
  if (width * height > maxPixels) {
    throw new MediaError(`The image is too large (${width}×${height} pixels; the limit is ${maxPixels} pixels)`);
  }
  if (opts.verifyDecode ?? true) {
    try {
      // Decode the first frame fully (sharp fails on truncated data) but keep the output tiny.
      await sharp(path, { limitInputPixels: maxPixels, failOn: 'error' }).resize(8, 8, { fit: 'fill' }).raw().toBuffer();
    } catch (err) {
      const msg = cleanSharpMessage(err, path);
      if (sniffed.format === 'heic' && /heif|hevc|compression format|codec|plugin/i.test(msg)) {
        throw new MediaError('HEIC images (HEVC-coded) cannot be decoded by this server; convert to JPEG or PNG');
      }
      throw new MediaError(`${INVALID} (image: ${msg})`);
    }
  }
  const frames = meta.pages && meta.pages > 0 ? meta.pages : 1;
  const delays = meta.delay ?? [];
  const totalDelayMs = delays.reduce((a, d) => a + d, 0);
  return {
    format: sniffed.format!,
    mediaType: 'image',
    duration: null,
    audio: null,
    video: {
      codec: sniffed.format!,
      width,
      height,
      fps: frames > 1 && totalDelayMs > 0 ? round3((frames * 1000) / totalDelayMs) : null,
      frames,
    },
    sizeBytes,
  };
}

async function probeAudioVideo(path: string, sniffed: SniffResult, sizeBytes: number, opts: ProbeOptions): Promise<MediaProbe> {
  // Mono 16 kHz WAV and plain MP3: read here, no helper process (see audio/quick-probe.ts).
  const quick = await probeAudioInProcess(path, sniffed.format!, sizeBytes).catch(() => null);
  if (quick) return quick;
  const demuxer = DEMUXERS[sniffed.format!]!;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const res = await runProcess(
    opts.ffprobePath ?? 'ffprobe',
    [
      '-v', 'error',
      '-hide_banner',
      '-protocol_whitelist', 'file',
      '-f', demuxer,
      '-print_format', 'json',
      '-show_format',
      '-show_streams',
      `file:${path}`,
    ],
    { timeoutMs, maxStdoutBytes: 2 * 1024 * 1024, signal: opts.signal },
  );
  if (res.spawnError) throw new Error(`ffprobe could not be started: ${res.spawnError.message}`);
  if (res.timedOut) throw new MediaError(`${INVALID} (ffprobe: timed out after ${Math.round(timeoutMs / 1000)} s)`);
  if (res.overflowed) throw new MediaError(`${INVALID} (ffprobe: too much stream metadata)`);
  if (res.code !== 0) throw new MediaError(`${INVALID} (ffprobe: ${firstErrorLine(res.stderr) || `exit code ${res.code}`})`);

  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(res.stdout.toString('utf8')) as FfprobeOutput;
  } catch {
    throw new MediaError(`${INVALID} (ffprobe: unreadable output)`);
  }
  const streams = Array.isArray(parsed.streams) ? parsed.streams : [];
  const audioStream = streams.find((s) => s.codec_type === 'audio');
  // Cover art in MP3/M4A is a "video" stream flagged attached_pic: it does not make a video.
  const videoStream = streams.find(
    (s) => s.codec_type === 'video' && !s.disposition?.attached_pic && !s.disposition?.timed_thumbnails,
  );
  if (!audioStream && !videoStream) throw new MediaError(`${INVALID} (no audio or video stream found)`);

  const mediaType: 'audio' | 'video' = videoStream ? 'video' : 'audio';
  const audio = audioStream
    ? {
        codec: audioStream.codec_name ?? 'unknown',
        sampleRate: toInt(audioStream.sample_rate) ?? 0,
        channels: audioStream.channels ?? 0,
      }
    : null;
  if (audio && (audio.sampleRate <= 0 || audio.channels <= 0) && mediaType === 'audio') {
    throw new MediaError(`${INVALID} (audio stream has no sample rate or channels)`);
  }
  const video = videoStream
    ? {
        codec: videoStream.codec_name ?? 'unknown',
        width: videoStream.width ?? 0,
        height: videoStream.height ?? 0,
        fps: parseRate(videoStream.avg_frame_rate) ?? parseRate(videoStream.r_frame_rate),
        frames: toInt(videoStream.nb_frames),
      }
    : null;
  if (video && (video.width <= 0 || video.height <= 0)) throw new MediaError(`${INVALID} (video stream has no dimensions)`);

  const durations = [parsed.format?.duration, audioStream?.duration, videoStream?.duration]
    .map((d) => (d === undefined ? NaN : Number(d)))
    .filter((d) => Number.isFinite(d) && d >= 0);
  const duration = durations.length ? round3(durations[0]!) : null;
  if (duration === 0) throw new MediaError(`${INVALID} (it contains no ${mediaType} data)`);

  const probe: MediaProbe = {
    format: refineFormat(sniffed.format!, mediaType),
    mediaType,
    duration,
    audio,
    video,
    sizeBytes,
  };
  if (opts.verifyDecode ?? true) await ensureDecodable(path, probe, opts);
  return probe;
}

/**
 * Decodes the first couple of seconds of the main stream and throws a MediaError when ffmpeg
 * produces no frame at all (header-only, truncated or garbage payload behind a valid header).
 */
export async function ensureDecodable(path: string, probe: MediaProbe, opts: ProbeOptions = {}): Promise<void> {
  if (probe.mediaType === 'image') return;
  const sniffed = await sniffFile(path);
  const demuxer = sniffed.format ? DEMUXERS[sniffed.format] : undefined;
  if (!demuxer) throw new MediaError(`${INVALID} (unrecognised content)`);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const map = probe.mediaType === 'video' ? '0:v:0' : '0:a:0';
  const res = await runProcess(
    opts.ffmpegPath ?? 'ffmpeg',
    [
      '-nostdin', '-v', 'error', '-hide_banner',
      '-protocol_whitelist', 'file',
      '-f', demuxer,
      '-i', `file:${path}`,
      '-map', map,
      '-t', '2',
      '-f', 'framecrc', '-',
    ],
    { timeoutMs, maxStdoutBytes: 1024 * 1024, signal: opts.signal },
  );
  if (res.spawnError) throw new Error(`ffmpeg could not be started: ${res.spawnError.message}`);
  if (res.timedOut) throw new MediaError(`${INVALID} (ffmpeg: decoding timed out)`);
  // framecrc prints one line per decoded frame; '#' lines are its header.
  const frames = res.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#')).length;
  if (frames === 0 && !res.overflowed) {
    const why = firstErrorLine(res.stderr) || 'no frames could be decoded';
    throw new MediaError(`${INVALID} (ffmpeg: ${why})`);
  }
}

function refineFormat(format: string, mediaType: 'audio' | 'video'): string {
  // An MP4 with only audio is, for every practical purpose, an M4A.
  if (format === 'mp4' && mediaType === 'audio') return 'm4a';
  if (format === 'm4a' && mediaType === 'video') return 'mp4';
  return format;
}

function toInt(v: string | number | undefined): number | null {
  if (v === undefined || v === null) return null;
  const n = typeof v === 'number' ? v : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : null;
}

function parseRate(rate: string | undefined): number | null {
  if (!rate) return null;
  const [num, den] = rate.split('/').map(Number);
  if (!num || !den || !Number.isFinite(num) || !Number.isFinite(den)) return null;
  const fps = num / den;
  return fps > 0 && fps < 1000 ? round3(fps) : null;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** libvips messages repeat the server-side file path; clients must see neither path nor noise. */
function cleanSharpMessage(err: unknown, path: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  const firstLine = msg.split(/\r?\n/)[0] ?? '';
  return firstLine
    .split(`${path}: `)
    .join('')
    .split(path)
    .join('')
    .replace(/(^|\s)\/[^\s:]+:?/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/[\s:]+$/, '')
    .trim()
    .slice(0, 200);
}

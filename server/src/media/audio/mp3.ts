/**
 * In-process MP3 (MPEG-1/2/2.5 Layer III) reading for the upload probe and the audio analyser.
 *
 * Why: starting Debian's ffmpeg costs about 100–130 ms of CPU before it decodes anything (it links
 * every codec library), more than the detector itself spends on a 10 s clip. MP3 is the most common
 * compressed upload, so it is decoded here with mpg123 compiled to WebAssembly (the
 * `mpg123-decoder` package; memory-safe inside its sandbox), down-mixed and resampled to 16 kHz
 * with ffmpeg's default filter parameters (resample.ts). Anything this module does not recognise
 * as a plain MP3 stream goes to ffmpeg as before.
 *
 * The file is read and decoded in pieces, so memory does not grow with its length.
 */
import { open } from 'node:fs/promises';
import { MPEGDecoder } from 'mpg123-decoder';
import { StreamingResampler } from './resample.js';

const L3_KBPS_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const L3_KBPS_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

interface FrameHeader { version: number; sampleRate: number; length: number; channels: 1 | 2 }

/** A Layer III frame header at `at`, or null (free-format and reserved values are not accepted). */
export function parseLayer3Header(b: Uint8Array, at: number): FrameHeader | null {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1]! >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved
  const layer = (b[at + 1]! >> 1) & 3; // 1 = Layer III
  const bitrateIndex = b[at + 2]! >> 4;
  const rateIndex = (b[at + 2]! >> 2) & 3;
  if (version === 1 || layer !== 1 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return null;
  const kbps = (version === 3 ? L3_KBPS_V1 : L3_KBPS_V2)[bitrateIndex]!;
  const sampleRate = RATES[version]![rateIndex]!;
  const padding = (b[at + 2]! >> 1) & 1;
  const length = Math.floor(((version === 3 ? 144 : 72) * kbps * 1000) / sampleRate) + padding;
  const channels = b[at + 3]! >> 6 === 3 ? 1 : 2; // channel mode 3 = single channel
  return { version, sampleRate, length, channels };
}

/** Size of a leading ID3v2 tag (0 when there is none). */
function id3v2Size(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0; // "ID3"
  if ((b[6]! | b[7]! | b[8]! | b[9]!) & 0x80) return 0; // not a syncsafe size: not a tag
  const size = (b[6]! << 21) | (b[7]! << 14) | (b[8]! << 7) | b[9]!;
  return 10 + size + (b[5]! & 0x10 ? 10 : 0);
}

/** How far past the tag a first frame is looked for (encoders sometimes leave a little padding). */
const SYNC_SEARCH = 4096;
/** Consecutive, mutually consistent frame headers required before the file is taken for MP3. */
const FRAMES_TO_CONFIRM = 3;

/**
 * Byte offset of the first frame when `file` is a plain MP3 stream (optional ID3v2 tag, then
 * at least three consecutive Layer III frames of one version and sample rate), else null.
 */
export async function probeMp3(file: string): Promise<{ offset: number; sampleRate: number; channels: 1 | 2 } | null> {
  const handle = await open(file, 'r');
  try {
    const head = new Uint8Array(10);
    await handle.read(head, 0, 10, 0);
    const tag = id3v2Size(head);
    const window = new Uint8Array(SYNC_SEARCH + FRAMES_TO_CONFIRM * 1441 + 4);
    const { bytesRead } = await handle.read(window, 0, window.length, tag);
    const b = window.subarray(0, bytesRead);
    for (let at = 0; at < Math.min(SYNC_SEARCH, b.length); at++) {
      const first = parseLayer3Header(b, at);
      if (!first) continue;
      let pos = at, ok = true;
      for (let k = 0; k < FRAMES_TO_CONFIRM; k++) {
        const h = parseLayer3Header(b, pos);
        if (!h || h.version !== first.version || h.sampleRate !== first.sampleRate) { ok = false; break; }
        pos += h.length;
      }
      if (ok) return { offset: tag + at, sampleRate: first.sampleRate, channels: first.channels };
    }
    return null;
  } finally {
    await handle.close();
  }
}

const samplesPerFrame = (version: number) => (version === 3 ? 1152 : 576);

/** Whether the frame at `at` is a Xing/Info (or VBRI) header frame: metadata that decodes to nothing. */
function isInfoFrame(b: Uint8Array, at: number, length: number): boolean {
  const text = Buffer.from(b.buffer, b.byteOffset + at, Math.min(length, b.length - at)).toString('latin1');
  return /Xing|Info|VBRI/.test(text.slice(4, 60));
}

/**
 * Duration in seconds of the stream, by walking its frame headers to the end of the file (header reads only,
 * no decoding). A damaged stretch is skipped by searching for the next two consistent frames, as
 * decoders resynchronise; trailing tags (ID3v1, APE) end the walk. The Xing/Info frame of VBR
 * files is metadata and not counted. Encoder delay and padding are not subtracted, so this can
 * exceed the decoded length by up to a few tens of milliseconds.
 */
export async function mp3Duration(file: string, stream: { offset: number; sampleRate: number }): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buf = new Uint8Array(256 * 1024);
    let bufStart = -1, bufLen = 0;
    const view = async (at: number, need: number) => {
      if (at < bufStart || at + need > bufStart + bufLen) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, at);
        bufStart = at; bufLen = bytesRead;
      }
      return at - bufStart;
    };
    let pos = stream.offset, samples = 0, first = true;
    while (pos + 4 <= size) {
      const rel = await view(pos, 4);
      const h = parseLayer3Header(buf.subarray(0, bufLen), rel);
      if (h && h.sampleRate === stream.sampleRate) {
        const body = await view(pos, Math.min(h.length, 64));
        if (!(first && isInfoFrame(buf.subarray(0, bufLen), body, h.length))) samples += samplesPerFrame(h.version);
        first = false;
        pos += h.length;
        continue;
      }
      // Resynchronise: the next offset within 64 KiB where two consistent frames follow each other.
      let found = -1;
      const start = await view(pos + 1, 0);
      const window = buf.subarray(0, bufLen);
      for (let k = start; k + 4 <= window.length && k - start < 64 * 1024; k++) {
        const a = parseLayer3Header(window, k);
        if (!a || a.sampleRate !== stream.sampleRate) continue;
        const b = parseLayer3Header(window, k + a.length);
        if (b && b.sampleRate === stream.sampleRate) { found = bufStart + k; break; }
      }
      if (found < 0) break;
      pos = found;
    }
    return samples / stream.sampleRate;
  } finally {
    await handle.close();
  }
}

/** Whether mpg123 decodes any audio from the first `bytes` of the stream (the upload probe's decode check). */
export async function mp3DecodesAudio(file: string, offset: number, bytes = 64 * 1024): Promise<boolean> {
  const decoder = new MPEGDecoder();
  await decoder.ready;
  const handle = await open(file, 'r');
  try {
    const input = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(input, 0, bytes, offset);
    return decoder.decode(input.subarray(0, bytesRead)).samplesDecoded > 0;
  } finally {
    decoder.free();
    await handle.close();
  }
}

/** Bytes read and handed to the decoder at a time (≈ 4 s of 64 kbit/s audio). */
const READ_BYTES = 32 * 1024;

/**
 * Decodes the MP3 stream of `file` from byte `offset` to mono 16 kHz float32 and yields samples
 * [first, last) in chunks of `chunkSamples` (the last one may be shorter), like the ffmpeg path.
 * Stereo is down-mixed as ffmpeg's `-ac 1` does ((L + R) / √2).
 */
export async function* decodeMp3Chunks(file: string, stream: { offset: number; channels: 1 | 2 }, first: number, last: number, chunkSamples: number, targetRate: number, signal?: AbortSignal): AsyncGenerator<Float32Array> {
  const decoder = new MPEGDecoder();
  await decoder.ready;
  const handle = await open(file, 'r');
  let resampler: StreamingResampler | null = null;
  let chunk = new Float32Array(chunkSamples);
  let filled = 0;
  /** Output samples (at targetRate) seen so far, before the region filter. */
  let position = 0;
  let decodedAny = false;
  const take = function* (samples: Float32Array): Generator<Float32Array> {
    let from = 0;
    if (position < first) from = Math.min(samples.length, first - position);
    const to = Math.min(samples.length, Math.max(from, last - position));
    position += samples.length;
    for (let i = from; i < to;) {
      const n = Math.min(to - i, chunkSamples - filled);
      chunk.set(samples.subarray(i, i + n), filled);
      filled += n;
      i += n;
      if (filled === chunkSamples) {
        yield chunk;
        chunk = new Float32Array(chunkSamples);
        filled = 0;
      }
    }
  };
  try {
    const input = new Uint8Array(READ_BYTES);
    let at = stream.offset;
    while (position < last) {
      if (signal?.aborted) throw new Error('aborted');
      const { bytesRead } = await handle.read(input, 0, READ_BYTES, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      const decoded = decoder.decode(input.subarray(0, bytesRead));
      if (decoded.samplesDecoded === 0) continue;
      decodedAny = true;
      if (!resampler) resampler = new StreamingResampler(decoded.sampleRate, targetRate);
      else if (resampler.fromRate !== decoded.sampleRate) throw new Error(`MP3 sample rate changes inside the file (${resampler.fromRate} → ${decoded.sampleRate} Hz)`);
      // mpg123 always returns two channels; a single-channel stream has its samples in both.
      const mono = stream.channels === 1 ? decoded.channelData.slice(0, 1) : decoded.channelData;
      yield* take(resampler.push(downmix(mono, decoded.samplesDecoded)));
    }
    if (!decodedAny) throw new Error('no MP3 frame could be decoded');
    if (resampler && position < last) yield* take(resampler.flush());
    if (filled > 0) yield chunk.subarray(0, filled);
  } finally {
    decoder.free();
    await handle.close();
  }
}

function downmix(channels: Float32Array[], n: number): Float32Array {
  if (channels.length === 1) return channels[0]!.subarray(0, n);
  // ffmpeg (libswresample) mixes stereo to mono as (L + R)/√2, without normalising to unity gain.
  // mpg123 never returns more than two channels.
  const out = new Float32Array(n);
  const left = channels[0]!, right = channels[1]!;
  for (let i = 0; i < n; i++) out[i] = left[i]! * Math.SQRT1_2 + right[i]! * Math.SQRT1_2;
  return out;
}

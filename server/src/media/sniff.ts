/**
 * Decides what a file really is from its first bytes (magic numbers), never from its name or
 * the client's Content-Type. The answer is a first opinion: containers that can hold either
 * audio or video (MP4, 3GP, Matroska, Ogg, ASF) are refined by probe.ts from the streams that
 * ffprobe finds.
 */
import { open } from 'node:fs/promises';

export type SniffedType = 'audio' | 'image' | 'video' | 'archive';

export interface SniffResult {
  /** Short container name: wav, mp3, flac, ogg, aac, amr, m4a, mp4, mov, 3gp, avi, mkv, webm, asf,
   *  mpegts, mpeg, jpeg, png, gif, webp, heic, avif, zip, gzip, 7z, rar, tar, bzip2, xz; null if unknown. */
  format: string | null;
  mediaType: SniffedType | null;
  /** The MIME type a client would expect for this format; null if unknown. */
  mime: string | null;
  /** True for animated GIF / WebP / PNG (still classed as images). */
  animated?: boolean;
}

/** How many leading bytes sniffing wants; more is fine, less still works for most formats. */
export const SNIFF_BYTES = 8192;

const UNKNOWN: SniffResult = { format: null, mediaType: null, mime: null };

const ascii = (b: Uint8Array, start: number, len: number): string => {
  if (start < 0 || start + len > b.length) return '';
  let s = '';
  for (let i = start; i < start + len; i++) s += String.fromCharCode(b[i]!);
  return s;
};

const bytesAt = (b: Uint8Array, start: number, sig: readonly number[]): boolean =>
  start >= 0 && start + sig.length <= b.length && sig.every((v, i) => b[start + i] === v);

const indexOfAscii = (b: Uint8Array, needle: string, from = 0, to = b.length): number => {
  const end = Math.min(to, b.length) - needle.length;
  outer: for (let i = from; i <= end; i++) {
    for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle.charCodeAt(j)) continue outer;
    return i;
  }
  return -1;
};

const u32be = (b: Uint8Array, i: number): number => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;

const result = (format: string, mediaType: SniffedType, mime: string, animated?: boolean): SniffResult =>
  animated === undefined ? { format, mediaType, mime } : { format, mediaType, mime, animated };

/** Sniffs a buffer holding the start of a file. Pure and total: never throws. */
export function sniff(input: Uint8Array): SniffResult {
  const b = input;
  if (b.length < 4) return UNKNOWN;

  // --- RIFF family -------------------------------------------------------------------------
  if (ascii(b, 0, 4) === 'RIFF' || ascii(b, 0, 4) === 'RF64') {
    const kind = ascii(b, 8, 4);
    if (kind === 'WAVE') return result('wav', 'audio', 'audio/wav');
    if (kind === 'AVI ') return result('avi', 'video', 'video/x-msvideo');
    if (kind === 'WEBP') return result('webp', 'image', 'image/webp', webpAnimated(b));
    return UNKNOWN;
  }

  // --- ISO base media (MP4 / M4A / MOV / 3GP / HEIF / AVIF) --------------------------------
  if (ascii(b, 4, 4) === 'ftyp') return sniffFtyp(b);
  // Old QuickTime files start directly with a moov/mdat/wide/free/skip atom.
  if (['moov', 'mdat', 'wide', 'free', 'skip', 'pnot'].includes(ascii(b, 4, 4)) && u32be(b, 0) >= 8) {
    return result('mov', 'video', 'video/quicktime');
  }

  // --- Images --------------------------------------------------------------------------------
  if (bytesAt(b, 0, [0xff, 0xd8, 0xff])) return result('jpeg', 'image', 'image/jpeg');
  if (bytesAt(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return result('png', 'image', 'image/png', pngAnimated(b));
  }
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return result('gif', 'image', 'image/gif', gifAnimated(b));

  // --- Audio ---------------------------------------------------------------------------------
  if (ascii(b, 0, 4) === 'fLaC') return result('flac', 'audio', 'audio/flac');
  if (ascii(b, 0, 9) === '#!AMR-WB\n' || ascii(b, 0, 6) === '#!AMR\n') return result('amr', 'audio', 'audio/amr');
  if (ascii(b, 0, 4) === 'OggS') return sniffOgg(b);
  if (ascii(b, 0, 3) === 'ID3' && b.length >= 10) {
    // An ID3v2 tag can front MP3, AAC or even FLAC; look past it when we have the bytes.
    const tagSize = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
    const after = 10 + tagSize + (b[5]! & 0x10 ? 10 : 0);
    if (after + 4 <= b.length) {
      if (ascii(b, after, 4) === 'fLaC') return result('flac', 'audio', 'audio/flac');
      if (isAdts(b, after, false)) return result('aac', 'audio', 'audio/aac');
    }
    return result('mp3', 'audio', 'audio/mpeg');
  }

  // --- Matroska / WebM ------------------------------------------------------------------------
  if (bytesAt(b, 0, [0x1a, 0x45, 0xdf, 0xa3])) {
    const head = Math.min(b.length, 4096);
    if (indexOfAscii(b, 'webm', 4, head) >= 0) return result('webm', 'video', 'video/webm');
    if (indexOfAscii(b, 'matroska', 4, head) >= 0) return result('mkv', 'video', 'video/x-matroska');
    return UNKNOWN;
  }

  // --- ASF (WMV / WMA) --------------------------------------------------------------------------
  if (bytesAt(b, 0, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c])) {
    return result('asf', 'video', 'video/x-ms-asf');
  }

  // --- Archives ---------------------------------------------------------------------------------
  if (b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6) || (b[2] === 7 && b[3] === 8))) {
    return result('zip', 'archive', 'application/zip');
  }
  if (b[0] === 0x1f && b[1] === 0x8b) return result('gzip', 'archive', 'application/gzip');
  if (bytesAt(b, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return result('7z', 'archive', 'application/x-7z-compressed');
  if (ascii(b, 0, 6) === 'Rar!\x1a\x07') return result('rar', 'archive', 'application/vnd.rar');
  if (bytesAt(b, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return result('xz', 'archive', 'application/x-xz');
  if (ascii(b, 0, 3) === 'BZh' && b[3]! >= 0x31 && b[3]! <= 0x39) return result('bzip2', 'archive', 'application/x-bzip2');
  if (bytesAt(b, 0, [0x28, 0xb5, 0x2f, 0xfd])) return result('zstd', 'archive', 'application/zstd');
  if (ascii(b, 257, 5) === 'ustar') return result('tar', 'archive', 'application/x-tar');

  // --- MPEG transport / program streams ------------------------------------------------------
  if (b.length >= 377 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return result('mpegts', 'video', 'video/mp2t');
  if (bytesAt(b, 0, [0x00, 0x00, 0x01, 0xba])) return result('mpeg', 'video', 'video/mpeg');

  // --- Raw MPEG audio frames (weak signatures: need a second frame when we can see it) -------
  if (isAdts(b, 0, true)) return result('aac', 'audio', 'audio/aac');
  if (isMpegAudioFrame(b, 0, true)) return result('mp3', 'audio', 'audio/mpeg');

  return UNKNOWN;
}

/** Reads the first `bytes` of a file and sniffs them. */
export async function sniffFile(path: string, bytes = SNIFF_BYTES): Promise<SniffResult> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return sniff(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

const AUDIO_BRANDS = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B ']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

function sniffFtyp(b: Uint8Array): SniffResult {
  const major = ascii(b, 8, 4);
  const boxSize = u32be(b, 0);
  const compat: string[] = [];
  for (let i = 16; i + 4 <= Math.min(boxSize, b.length, 256); i += 4) compat.push(ascii(b, i, 4));
  const brands = [major, ...compat];

  if (AVIF_BRANDS.has(major)) return result('avif', 'image', 'image/avif', major === 'avis');
  if (HEIC_BRANDS.has(major)) return result('heic', 'image', 'image/heic', major === 'hevc' || major === 'hevs');
  if (major === 'mif1' || major === 'msf1') {
    if (brands.some((x) => AVIF_BRANDS.has(x))) return result('avif', 'image', 'image/avif');
    return result('heic', 'image', 'image/heic');
  }
  if (AUDIO_BRANDS.has(major)) return result('m4a', 'audio', 'audio/mp4');
  if (major === 'qt  ') return result('mov', 'video', 'video/quicktime');
  if (major.startsWith('3gp') || major.startsWith('3gg') || major.startsWith('3gs')) return result('3gp', 'video', 'video/3gpp');
  if (major.startsWith('3g2')) return result('3gp', 'video', 'video/3gpp2');
  if (major === 'crx ') return UNKNOWN; // Canon raw photos use ISO-BMFF too
  if (!/^[\x20-\x7e]{4}$/.test(major)) return UNKNOWN;
  return result('mp4', 'video', 'video/mp4');
}

function sniffOgg(b: Uint8Array): SniffResult {
  const head = Math.min(b.length, 512);
  if (indexOfAscii(b, 'OpusHead', 0, head) >= 0) return result('ogg', 'audio', 'audio/ogg');
  if (indexOfAscii(b, '\x01vorbis', 0, head) >= 0) return result('ogg', 'audio', 'audio/ogg');
  if (indexOfAscii(b, '\x80theora', 0, head) >= 0) return result('ogg', 'video', 'video/ogg');
  if (indexOfAscii(b, 'Speex   ', 0, head) >= 0 || indexOfAscii(b, '\x7fFLAC', 0, head) >= 0) return result('ogg', 'audio', 'audio/ogg');
  return result('ogg', 'audio', 'audio/ogg');
}

function webpAnimated(b: Uint8Array): boolean {
  // Extended format: VP8X chunk, flags byte bit 1 = animation.
  return ascii(b, 12, 4) === 'VP8X' && b.length > 20 && (b[20]! & 0x02) !== 0;
}

function pngAnimated(b: Uint8Array): boolean {
  // APNG carries an acTL chunk before the first IDAT.
  const idat = indexOfAscii(b, 'IDAT', 8);
  const actl = indexOfAscii(b, 'acTL', 8);
  return actl >= 0 && (idat < 0 || actl < idat);
}

function gifAnimated(b: Uint8Array): boolean {
  // Walk the GIF block structure within the prefix and count image descriptors; the loop
  // extension alone proves nothing (ffmpeg writes it for single-frame GIFs too).
  if (b.length < 13) return false;
  let i = 13;
  if (b[10]! & 0x80) i += 3 * (1 << ((b[10]! & 0x07) + 1));
  let images = 0;
  const skipSubBlocks = (j: number): number => {
    while (j < b.length) {
      const len = b[j]!;
      if (len === 0) return j + 1;
      j += len + 1;
    }
    return b.length;
  };
  while (i < b.length) {
    const block = b[i]!;
    if (block === 0x3b) break;
    if (block === 0x21) {
      i = skipSubBlocks(i + 2);
    } else if (block === 0x2c) {
      if (++images > 1) return true;
      if (i + 10 > b.length) break;
      const flags = b[i + 9]!;
      i += 10;
      if (flags & 0x80) i += 3 * (1 << ((flags & 0x07) + 1));
      i = skipSubBlocks(i + 1); // LZW minimum code size, then image data
    } else {
      break; // corrupt or not what we think: not animated as far as we can tell
    }
  }
  return false;
}

const MPEG_BITRATES: Record<string, number[]> = {
  // kbps by [version][layer], index 1..14
  'v1l1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  'v1l2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  'v1l3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  'v2l1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  'v2l2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  'v2l3': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
const MPEG_RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** Length in bytes of the MPEG audio frame at `i`, or 0 if there is no valid header there. */
function mpegFrameLength(b: Uint8Array, i: number): number {
  if (i + 4 > b.length) return 0;
  if (b[i] !== 0xff || (b[i + 1]! & 0xe0) !== 0xe0) return 0;
  const version = (b[i + 1]! >> 3) & 3; // 3 = MPEG1, 2 = MPEG2, 0 = MPEG2.5, 1 reserved
  const layerBits = (b[i + 1]! >> 1) & 3; // 3 = layer I, 2 = II, 1 = III, 0 reserved
  const bitrateIdx = b[i + 2]! >> 4;
  const rateIdx = (b[i + 2]! >> 2) & 3;
  const padding = (b[i + 2]! >> 1) & 1;
  if (version === 1 || layerBits === 0 || bitrateIdx === 0 || bitrateIdx === 15 || rateIdx === 3) return 0;
  const layer = 4 - layerBits;
  const table = MPEG_BITRATES[`${version === 3 ? 'v1' : 'v2'}l${layer}`]!;
  const bitrate = table[bitrateIdx]! * 1000;
  const sampleRate = MPEG_RATES[version]![rateIdx]!;
  if (layer === 1) return (Math.floor((12 * bitrate) / sampleRate) + padding) * 4;
  const samples = layer === 3 && version !== 3 ? 576 : 1152;
  return Math.floor((samples / 8) * bitrate / sampleRate) + padding;
}

function isMpegAudioFrame(b: Uint8Array, i: number, requireNext: boolean): boolean {
  const len = mpegFrameLength(b, i);
  if (len < 4) return false;
  if (!requireNext) return true;
  const next = i + len;
  // The next frame lies beyond what we were given: the header alone has to do.
  if (next + 4 > b.length) return true;
  return mpegFrameLength(b, next) > 0;
}

/** ADTS (raw AAC) header check; with `requireNext` also the following frame when visible. */
function isAdts(b: Uint8Array, i: number, requireNext: boolean): boolean {
  if (i + 7 > b.length) return false;
  if (b[i] !== 0xff || (b[i + 1]! & 0xf6) !== 0xf0) return false;
  const rateIdx = (b[i + 2]! >> 2) & 0x0f;
  if (rateIdx > 12) return false;
  const frameLen = ((b[i + 3]! & 0x03) << 11) | (b[i + 4]! << 3) | (b[i + 5]! >> 5);
  if (frameLen < 7) return false;
  if (!requireNext) return true;
  const next = i + frameLen;
  if (next + 7 > b.length) return true;
  return b[next] === 0xff && (b[next + 1]! & 0xf6) === 0xf0;
}

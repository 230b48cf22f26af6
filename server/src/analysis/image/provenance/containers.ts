/**
 * Defensive readers for the metadata-carrying structures of JPEG, PNG, WebP and GIF files.
 *
 * Every read is bounds-checked against the buffer; lengths that point past the end stop the walk
 * instead of throwing. Compressed PNG text is inflated with an output cap so a zTXt bomb cannot
 * exhaust memory. The readers never decode pixels.
 */
import { inflateSync } from 'node:zlib';

export type ContainerFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'heif' | 'tiff' | 'unknown';

export interface TextEntry {
  /** Where the text came from, e.g. "png:tEXt", "jpeg:COM", "exif:UserComment". */
  source: string;
  keyword: string;
  text: string;
}

export interface ContainerMetadata {
  format: ContainerFormat;
  texts: TextEntry[];
  xmp: string[];
  /** Raw TIFF-structured EXIF payloads (starting at the byte-order mark). */
  exif: Buffer[];
  /** C2PA manifest stores in JUMBF form (one per embedding). */
  jumbf: Buffer[];
  /** Structural problems met while walking the file; never fatal. */
  warnings: string[];
  animated: boolean;
}

/** Largest inflated text we keep from one compressed chunk. */
const MAX_INFLATED_TEXT = 4 * 1024 * 1024;
/** Upper bound on entries of each kind, so a file of a million tiny chunks stays cheap. */
const MAX_ENTRIES = 512;

export function sniffFormat(bytes: Buffer): ContainerFormat {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (bytes.length >= 6 && (bytes.toString('latin1', 0, 6) === 'GIF87a' || bytes.toString('latin1', 0, 6) === 'GIF89a')) return 'gif';
  if (bytes.length >= 12 && bytes.toString('latin1', 4, 8) === 'ftyp') {
    const brand = bytes.toString('latin1', 8, 12);
    if (/^(heic|heix|hevc|hevx|mif1|msf1|avif|heim|heis)$/.test(brand)) return 'heif';
  }
  if (bytes.length >= 4 && (bytes.toString('latin1', 0, 4) === 'II*\0' || bytes.toString('latin1', 0, 4) === 'MM\0*')) return 'tiff';
  return 'unknown';
}

function emptyMetadata(format: ContainerFormat): ContainerMetadata {
  return { format, texts: [], xmp: [], exif: [], jumbf: [], warnings: [], animated: false };
}

function pushLimited<T>(list: T[], item: T): void {
  if (list.length < MAX_ENTRIES) list.push(item);
}

function safeInflate(data: Buffer): Buffer | null {
  try {
    return inflateSync(data, { maxOutputLength: MAX_INFLATED_TEXT });
  } catch {
    return null;
  }
}

export function readContainerMetadata(bytes: Buffer): ContainerMetadata {
  const format = sniffFormat(bytes);
  switch (format) {
    case 'jpeg': return readJpeg(bytes);
    case 'png': return readPng(bytes);
    case 'webp': return readWebp(bytes);
    case 'gif': return readGif(bytes);
    case 'tiff': {
      const meta = emptyMetadata('tiff');
      meta.exif.push(bytes);
      return meta;
    }
    default: return emptyMetadata(format);
  }
}

const XMP_JPEG_HEADER = 'http://ns.adobe.com/xap/1.0/\0';
const XMP_EXTENDED_HEADER = 'http://ns.adobe.com/xmp/extension/\0';

/** JPEG: walk marker segments up to start-of-scan; APP1 EXIF/XMP, APP11 JUMBF (C2PA), COM. */
export function readJpeg(bytes: Buffer): ContainerMetadata {
  const meta = emptyMetadata('jpeg');
  // C2PA splits one JUMBF box over several APP11 segments that share box instance + sequence numbers.
  const jumbfParts = new Map<string, { seq: number; data: Buffer; header: Buffer }[]>();
  let offset = 2;
  let segments = 0;
  while (offset + 4 <= bytes.length && segments++ < 4096) {
    if (bytes[offset] !== 0xff) {
      meta.warnings.push(`jpeg: expected marker at byte ${offset}`);
      break;
    }
    const marker = bytes[offset + 1];
    if (marker === 0xff) { offset += 1; continue; } // fill byte
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { offset += 2; continue; }
    if (marker === 0xd9 || marker === 0xda) break; // end of image / start of scan: metadata is over
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length) {
      meta.warnings.push(`jpeg: segment 0x${marker.toString(16)} at ${offset} runs past the end of the file`);
      break;
    }
    const body = bytes.subarray(offset + 4, offset + 2 + length);
    if (marker === 0xe1) {
      if (body.length >= 6 && body.toString('latin1', 0, 6) === 'Exif\0\0') pushLimited(meta.exif, body.subarray(6));
      else if (body.length > XMP_JPEG_HEADER.length && body.toString('latin1', 0, XMP_JPEG_HEADER.length) === XMP_JPEG_HEADER) {
        pushLimited(meta.xmp, body.subarray(XMP_JPEG_HEADER.length).toString('utf8'));
      } else if (body.length > XMP_EXTENDED_HEADER.length + 40 && body.toString('latin1', 0, XMP_EXTENDED_HEADER.length) === XMP_EXTENDED_HEADER) {
        // GUID (32) + full length (4) + offset (4), then a slice of the extended packet.
        pushLimited(meta.xmp, body.subarray(XMP_EXTENDED_HEADER.length + 40).toString('utf8'));
      }
    } else if (marker === 0xeb) {
      // APP11 JPEG-XT: "JP" CI, En (2 bytes box instance), Z (4 bytes sequence), then LBox/TBox of the JUMBF box.
      if (body.length >= 16 && body[0] === 0x4a && body[1] === 0x50) {
        const instance = body.readUInt16BE(2);
        const seq = body.readUInt32BE(4);
        const boxType = body.toString('latin1', 12, 16);
        const key = `${instance}:${boxType}`;
        const parts = jumbfParts.get(key) ?? [];
        if (parts.length < 4096) parts.push({ seq, header: body.subarray(8, 16), data: body.subarray(16) });
        jumbfParts.set(key, parts);
      }
    } else if (marker === 0xfe) {
      pushLimited(meta.texts, { source: 'jpeg:COM', keyword: 'Comment', text: decodeText(body) });
    }
    offset += 2 + length;
  }
  for (const parts of jumbfParts.values()) {
    parts.sort((a, b) => a.seq - b.seq);
    const joined = Buffer.concat([parts[0].header, ...parts.map((p) => p.data)]);
    pushLimited(meta.jumbf, joined);
  }
  return meta;
}

function decodeText(body: Buffer): string {
  const utf8 = body.toString('utf8');
  // Bytes that are not valid UTF-8 decode to U+FFFD; latin1 then keeps them readable.
  return utf8.includes('\uFFFD') ? body.toString('latin1') : utf8;
}

/** PNG: tEXt / zTXt / iTXt text, eXIf, caBX (C2PA JUMBF); acTL marks an animated PNG. */
export function readPng(bytes: Buffer): ContainerMetadata {
  const meta = emptyMetadata('png');
  let offset = 8;
  let chunks = 0;
  while (offset + 12 <= bytes.length && chunks++ < 100_000) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    if (length > bytes.length - offset - 12) {
      meta.warnings.push(`png: chunk ${JSON.stringify(type)} at ${offset} runs past the end of the file`);
      break;
    }
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    switch (type) {
      case 'tEXt': {
        const nul = data.indexOf(0);
        if (nul > 0) pushLimited(meta.texts, { source: 'png:tEXt', keyword: data.toString('latin1', 0, nul), text: data.toString('latin1', nul + 1) });
        break;
      }
      case 'zTXt': {
        const nul = data.indexOf(0);
        if (nul > 0 && nul + 2 <= data.length) {
          const inflated = safeInflate(data.subarray(nul + 2));
          if (inflated) pushLimited(meta.texts, { source: 'png:zTXt', keyword: data.toString('latin1', 0, nul), text: inflated.toString('latin1') });
          else meta.warnings.push('png: zTXt chunk does not inflate');
        }
        break;
      }
      case 'iTXt': {
        const entry = parseItxt(data);
        if (entry) {
          if (entry.keyword === 'XML:com.adobe.xmp') pushLimited(meta.xmp, entry.text);
          else pushLimited(meta.texts, { source: 'png:iTXt', keyword: entry.keyword, text: entry.text });
        } else meta.warnings.push('png: malformed iTXt chunk');
        break;
      }
      case 'eXIf': pushLimited(meta.exif, data); break;
      case 'caBX': pushLimited(meta.jumbf, data); break;
      case 'acTL': meta.animated = true; break;
      case 'IEND': return meta;
      default: break;
    }
    offset += 12 + length;
  }
  return meta;
}

function parseItxt(data: Buffer): { keyword: string; text: string } | null {
  const nul = data.indexOf(0);
  if (nul <= 0 || nul + 3 > data.length) return null;
  const keyword = data.toString('latin1', 0, nul);
  const compressed = data[nul + 1] === 1;
  const langEnd = data.indexOf(0, nul + 3);
  if (langEnd < 0) return null;
  const transEnd = data.indexOf(0, langEnd + 1);
  if (transEnd < 0) return null;
  const payload = data.subarray(transEnd + 1);
  if (compressed) {
    const inflated = safeInflate(payload);
    return inflated ? { keyword, text: inflated.toString('utf8') } : null;
  }
  return { keyword, text: payload.toString('utf8') };
}

/** WebP (RIFF): EXIF, XMP , C2PA chunks; ANIM marks an animation. */
export function readWebp(bytes: Buffer): ContainerMetadata {
  const meta = emptyMetadata('webp');
  const riffSize = bytes.readUInt32LE(4);
  const end = Math.min(bytes.length, 8 + riffSize);
  let offset = 12;
  let chunks = 0;
  while (offset + 8 <= end && chunks++ < 100_000) {
    const type = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (size > end - offset - 8) {
      meta.warnings.push(`webp: chunk ${JSON.stringify(type)} at ${offset} runs past the end of the file`);
      break;
    }
    const data = bytes.subarray(offset + 8, offset + 8 + size);
    if (type === 'EXIF') {
      // Some writers keep the JPEG "Exif\0\0" prefix inside the chunk.
      pushLimited(meta.exif, data.length >= 6 && data.toString('latin1', 0, 6) === 'Exif\0\0' ? data.subarray(6) : data);
    } else if (type === 'XMP ') pushLimited(meta.xmp, data.toString('utf8'));
    else if (type === 'C2PA') pushLimited(meta.jumbf, data);
    else if (type === 'ANIM') meta.animated = true;
    else if (type === 'VP8X' && data.length >= 1 && (data[0] & 0x02) !== 0) meta.animated = true;
    offset += 8 + size + (size & 1);
  }
  return meta;
}

/** GIF: comment extensions and XMP application extensions; more than one image marks an animation. */
export function readGif(bytes: Buffer): ContainerMetadata {
  const meta = emptyMetadata('gif');
  if (bytes.length < 13) { meta.warnings.push('gif: truncated header'); return meta; }
  let offset = 13;
  const flags = bytes[10];
  if (flags & 0x80) offset += 3 * (1 << ((flags & 0x07) + 1));
  let images = 0;
  let guard = 0;
  const readSubBlocks = (start: number): { data: Buffer; next: number } | null => {
    const parts: Buffer[] = [];
    let p = start;
    let total = 0;
    while (p < bytes.length) {
      const n = bytes[p];
      if (n === 0) return { data: Buffer.concat(parts), next: p + 1 };
      if (p + 1 + n > bytes.length) return null;
      if (total < MAX_INFLATED_TEXT) parts.push(bytes.subarray(p + 1, p + 1 + n));
      total += n;
      p += 1 + n;
    }
    return null;
  };
  while (offset < bytes.length && guard++ < 100_000) {
    const introducer = bytes[offset];
    if (introducer === 0x3b) break;
    if (introducer === 0x21) {
      if (offset + 2 > bytes.length) break;
      const label = bytes[offset + 1];
      if (label === 0xff && offset + 3 <= bytes.length) {
        const headerLength = bytes[offset + 2];
        const appId = bytes.toString('latin1', offset + 3, Math.min(bytes.length, offset + 3 + headerLength));
        const blocks = readSubBlocks(offset + 3 + headerLength);
        if (!blocks) break;
        if (appId.startsWith('XMP Data')) {
          // XMP in GIF is stored raw with a "magic trailer"; the sub-block framing bytes end up inside the text.
          const raw = bytes.subarray(offset + 3 + headerLength, blocks.next).toString('utf8');
          pushLimited(meta.xmp, raw);
        }
        offset = blocks.next;
      } else {
        const blocks = readSubBlocks(offset + 2);
        if (!blocks) break;
        if (label === 0xfe) pushLimited(meta.texts, { source: 'gif:comment', keyword: 'Comment', text: decodeText(blocks.data) });
        offset = blocks.next;
      }
    } else if (introducer === 0x2c) {
      images++;
      if (offset + 10 > bytes.length) break;
      const imageFlags = bytes[offset + 9];
      let p = offset + 10;
      if (imageFlags & 0x80) p += 3 * (1 << ((imageFlags & 0x07) + 1));
      p += 1; // LZW minimum code size
      const blocks = readSubBlocks(p);
      if (!blocks) break;
      offset = blocks.next;
    } else {
      meta.warnings.push(`gif: unexpected byte 0x${introducer.toString(16)} at ${offset}`);
      break;
    }
  }
  meta.animated = images > 1;
  return meta;
}

/**
 * Minimal TIFF/EXIF IFD reader: only the tags provenance needs (camera make/model, software,
 * descriptions, user comments). Every offset is checked against the buffer; loops are bounded
 * and IFDs already visited are skipped, so cyclic or truncated structures end the walk quietly.
 */

export interface ExifFields {
  make?: string;
  model?: string;
  software?: string;
  artist?: string;
  imageDescription?: string;
  userComment?: string;
  dateTimeOriginal?: string;
  hostComputer?: string;
  xpComment?: string;
  /** Anything odd met while reading (never fatal). */
  warnings: string[];
}

const TAGS: Record<number, keyof Omit<ExifFields, 'warnings'>> = {
  0x010e: 'imageDescription',
  0x010f: 'make',
  0x0110: 'model',
  0x0131: 'software',
  0x013b: 'artist',
  0x013c: 'hostComputer',
  0x9003: 'dateTimeOriginal',
  0x9286: 'userComment',
  0x9c9c: 'xpComment',
};
const EXIF_IFD_POINTER = 0x8769;
const TYPE_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };
const MAX_STRING = 64 * 1024;

export function readExif(tiff: Buffer): ExifFields {
  const out: ExifFields = { warnings: [] };
  if (tiff.length < 8) { out.warnings.push('exif: shorter than a TIFF header'); return out; }
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') { out.warnings.push('exif: no TIFF byte-order mark'); return out; }
  const le = order === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  if (u16(2) !== 42) { out.warnings.push('exif: bad TIFF magic'); return out; }

  const visited = new Set<number>();
  const queue: number[] = [u32(4)];
  let ifds = 0;
  while (queue.length > 0 && ifds++ < 16) {
    const ifd = queue.shift()!;
    if (visited.has(ifd) || ifd < 8 || ifd + 2 > tiff.length) continue;
    visited.add(ifd);
    const count = u16(ifd);
    if (count > 1000) { out.warnings.push(`exif: IFD at ${ifd} claims ${count} entries`); continue; }
    for (let i = 0; i < count; i++) {
      const entry = ifd + 2 + i * 12;
      if (entry + 12 > tiff.length) { out.warnings.push('exif: IFD runs past the end'); break; }
      const tag = u16(entry);
      const type = u16(entry + 2);
      const n = u32(entry + 4);
      const unit = TYPE_SIZES[type];
      if (!unit) continue;
      const size = unit * n;
      if (!Number.isFinite(size) || size > tiff.length) continue;
      const valueOffset = size <= 4 ? entry + 8 : u32(entry + 8);
      if (valueOffset + size > tiff.length) continue;
      if (tag === EXIF_IFD_POINTER && (type === 4 || type === 13) && n === 1) {
        queue.push(u32(entry + 8));
        continue;
      }
      const field = TAGS[tag];
      if (!field) continue;
      const raw = tiff.subarray(valueOffset, valueOffset + Math.min(size, MAX_STRING));
      let text: string;
      if (tag === 0x9286) text = decodeUserComment(raw);
      else if (tag === 0x9c9c) text = raw.toString('utf16le').replace(/\0+$/, '');
      else if (type === 2 || type === 1 || type === 7) text = raw.toString('utf8').replace(/\0+$/, '');
      else continue;
      text = text.trim();
      if (text) out[field] = text;
    }
    if (ifd + 2 + count * 12 + 4 <= tiff.length) {
      const next = u32(ifd + 2 + count * 12);
      if (next !== 0) queue.push(next);
    }
  }
  return out;
}

/** EXIF UserComment starts with an 8-byte character-code prefix. */
function decodeUserComment(raw: Buffer): string {
  if (raw.length < 8) return raw.toString('utf8');
  const code = raw.toString('latin1', 0, 8);
  const body = raw.subarray(8);
  if (code.startsWith('UNICODE')) {
    // Writers disagree on the byte order; pick the one whose text has the fewest high-byte code units.
    const le = body.toString('utf16le');
    const swapped = Buffer.from(body);
    if (swapped.length % 2 === 0) swapped.swap16();
    const be = swapped.toString('utf16le');
    const oddness = (s: string) => [...s].filter((c) => c.charCodeAt(0) > 0x2fff).length;
    return (oddness(le) <= oddness(be) ? le : be).replace(/\0+$/, '');
  }
  if (code.startsWith('ASCII') || code === '\0\0\0\0\0\0\0\0') return body.toString('utf8').replace(/\0+$/, '');
  return raw.toString('utf8').replace(/\0+$/, '');
}

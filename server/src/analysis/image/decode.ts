/**
 * Still-image decoding with sharp, defended against hostile input: a pixel ceiling against
 * decompression bombs, truncated data refused, first frame only for animations, CMYK / 16-bit /
 * grey / alpha normalised to 8-bit sRGB. Every sharp failure becomes an AnalysisError whose
 * message says what was wrong with the file.
 */
import sharp from 'sharp';
import { AnalysisError } from '../types.js';

/** 50 megapixels: enough for any camera (8K is 33 MP), small enough to bound memory (~150 MB RGB). */
export const MAX_INPUT_PIXELS = 50_000_000;

export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
  format: string;
  /** Frames in the file (1 for stills). */
  pages: number;
  notes: string[];
}

function explain(error: unknown, format: string | undefined): AnalysisError {
  const message = (error as Error)?.message ?? String(error);
  if (/pixel limit|exceeds pixel limit|Input image exceeds/i.test(message)) {
    return new AnalysisError(`image is larger than the ${MAX_INPUT_PIXELS / 1e6} megapixel limit (decompression-bomb guard)`);
  }
  if (/heif|heic|hevc|compression format has not been built/i.test(message) || format === 'heif') {
    return new AnalysisError('HEIC/HEIF image cannot be decoded by this server build (no HEVC decoder); convert it to JPEG or PNG and submit again');
  }
  if (/truncated|premature end|unexpected end|corrupt|bad seek|Invalid|VipsJpeg|pngload|webpload|gifload/i.test(message)) {
    return new AnalysisError(`image data is truncated or corrupt and cannot be decoded (${message.split('\n')[0].slice(0, 160)})`);
  }
  if (/unsupported image format/i.test(message)) return new AnalysisError('file is not an image format this server can decode (JPEG, PNG, WebP, GIF, TIFF, AVIF)');
  return new AnalysisError(`image could not be decoded: ${message.split('\n')[0].slice(0, 200)}`);
}

export async function decodeImage(bytes: Buffer): Promise<DecodedImage> {
  const options = { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'truncated' as const, pages: 1, page: 0 };
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, options).metadata();
  } catch (error) {
    throw explain(error, undefined);
  }
  if (!meta.width || !meta.height) throw new AnalysisError('image has no dimensions; the file is not a decodable image');
  if (meta.width * meta.height > MAX_INPUT_PIXELS) {
    throw new AnalysisError(`image is ${meta.width}×${meta.height} (${((meta.width * meta.height) / 1e6).toFixed(1)} MP), over the ${MAX_INPUT_PIXELS / 1e6} megapixel limit (decompression-bomb guard)`);
  }
  const notes: string[] = [];
  const pages = meta.pages ?? 1;
  if (pages > 1) notes.push(`animated ${meta.format ?? 'image'} with ${pages} frames: only the first frame was analysed`);
  if (meta.space === 'cmyk') notes.push('CMYK image converted to sRGB before analysis');
  if (meta.depth && /ushort|short|float|double/.test(meta.depth)) notes.push(`${meta.depth} samples reduced to 8 bits per channel`);
  try {
    const { data, info } = await sharp(bytes, options)
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      // Grey input can stay single-channel through toColourspace on some builds; expand it.
      const rgb = new Uint8Array(info.width * info.height * 3);
      for (let i = 0; i < info.width * info.height; i++) {
        const v = data[i * info.channels];
        rgb[i * 3] = v; rgb[i * 3 + 1] = data[i * info.channels + Math.min(1, info.channels - 1)] ?? v; rgb[i * 3 + 2] = data[i * info.channels + Math.min(2, info.channels - 1)] ?? v;
      }
      return { data: rgb, width: info.width, height: info.height, channels: 3, format: meta.format ?? 'unknown', pages, notes };
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3, format: meta.format ?? 'unknown', pages, notes };
  } catch (error) {
    throw explain(error, meta.format);
  }
}

import { describe, expect, it } from 'vitest';
import { readExif } from './exif.js';
import { readContainerMetadata, sniffFormat } from './containers.js';

function bigEndianExif(): Buffer {
  // MM, 42, IFD at 8 with Make (inline "Nik\0" fits 4 bytes) and Model (offset), then the model string.
  const model = Buffer.from('COOLPIX P1000\0', 'latin1');
  const b = Buffer.alloc(8 + 2 + 2 * 12 + 4 + model.length);
  b.write('MM', 0, 'latin1'); b.writeUInt16BE(42, 2); b.writeUInt32BE(8, 4);
  b.writeUInt16BE(2, 8);
  b.writeUInt16BE(0x010f, 10); b.writeUInt16BE(2, 12); b.writeUInt32BE(4, 14); b.write('Nik\0', 18, 'latin1');
  b.writeUInt16BE(0x0110, 22); b.writeUInt16BE(2, 24); b.writeUInt32BE(model.length, 26); b.writeUInt32BE(38, 30);
  b.writeUInt32BE(0, 34);
  model.copy(b, 38);
  return b;
}

describe('EXIF reader', () => {
  it('reads big-endian IFDs with inline and offset strings', () => {
    const e = readExif(bigEndianExif());
    expect(e.make).toBe('Nik');
    expect(e.model).toBe('COOLPIX P1000');
  });

  it('stops on IFD cycles and out-of-range offsets', () => {
    const b = bigEndianExif();
    b.writeUInt32BE(8, 34); // next-IFD pointer back to the first IFD
    b.writeUInt32BE(0xfffffff0, 30); // model offset far outside the buffer
    const e = readExif(b);
    expect(e.make).toBe('Nik');
    expect(e.model).toBeUndefined();
  });
});

describe('container readers', () => {
  it('reads GIF comment extensions and counts frames', () => {
    const header = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([1, 0, 1, 0, 0, 0, 0])]);
    const comment = Buffer.concat([Buffer.from([0x21, 0xfe, 5]), Buffer.from('hello'), Buffer.from([0])]);
    const frame = Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0]);
    const gif = Buffer.concat([header, comment, frame, frame, Buffer.from([0x3b])]);
    const meta = readContainerMetadata(gif);
    expect(meta.texts).toEqual([{ source: 'gif:comment', keyword: 'Comment', text: 'hello' }]);
    expect(meta.animated).toBe(true);
  });

  it('reassembles C2PA JUMBF split over several JPEG APP11 segments in sequence order', () => {
    const seg = (seq: number, payload: string) => {
      const body = Buffer.concat([Buffer.from('JP', 'latin1'), Buffer.from([0, 1]), Buffer.alloc(4), Buffer.from([0, 0, 0, 50]), Buffer.from('jumb', 'latin1'), Buffer.from(payload, 'latin1')]);
      body.writeUInt32BE(seq, 4);
      const head = Buffer.from([0xff, 0xeb, 0, 0]);
      head.writeUInt16BE(body.length + 2, 2);
      return Buffer.concat([head, body]);
    };
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), seg(2, 'BBB'), seg(1, 'AAA'), Buffer.from([0xff, 0xd9])]);
    const meta = readContainerMetadata(jpeg);
    expect(meta.jumbf).toHaveLength(1);
    expect(meta.jumbf[0].subarray(8).toString('latin1')).toBe('AAABBB');
  });

  it('sniffs formats from bytes only', () => {
    expect(sniffFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffFormat(Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1'))).toBe('webp');
    expect(sniffFormat(Buffer.from('\0\0\0\x18ftypheic\0\0\0\0', 'latin1'))).toBe('heif');
    expect(sniffFormat(Buffer.from('not an image'))).toBe('unknown');
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sniff, sniffFile } from './sniff.js';
import { makeFixtures } from './testing/fixtures.js';

let dir: string;
let files: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'discern-sniff-'));
  files = await makeFixtures(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sniff on real files made by ffmpeg', () => {
  it.each([
    ['tone.wav', 'wav', 'audio'],
    ['tone.mp3', 'mp3', 'audio'],
    ['raw.mp3', 'mp3', 'audio'], // no ID3 tag: frame sync only
    ['tone.flac', 'flac', 'audio'],
    ['tone-vorbis.ogg', 'ogg', 'audio'],
    ['tone-opus.ogg', 'ogg', 'audio'],
    ['tone.aac', 'aac', 'audio'],
    ['tone.m4a', 'm4a', 'audio'],
    // Plain "isom" brand: the container says video; probe.ts refines it from the streams.
    ['audio-only.mp4', 'mp4', 'video'],
    ['clip.mp4', 'mp4', 'video'],
    ['clip.mov', 'mov', 'video'],
    ['clip.avi', 'avi', 'video'],
    ['clip.mkv', 'mkv', 'video'],
    ['clip.webm', 'webm', 'video'],
    ['clip.3gp', '3gp', 'video'],
    ['clip.wmv', 'asf', 'video'],
    ['clip.ts', 'mpegts', 'video'],
    ['still.png', 'png', 'image'],
    ['still.jpg', 'jpeg', 'image'],
    ['still.gif', 'gif', 'image'],
    ['anim.gif', 'gif', 'image'],
    ['still.webp', 'webp', 'image'],
    ['anim.webp', 'webp', 'image'],
  ])('%s → %s/%s', async (name, format, mediaType) => {
    const r = await sniffFile(files[name]!);
    expect(r.format).toBe(format);
    expect(r.mediaType).toBe(mediaType);
    expect(r.mime).toMatch(/^(audio|video|image)\//);
  });

  it('tells animated GIF/WebP from still ones', async () => {
    expect((await sniffFile(files['anim.webp']!)).animated).toBe(true);
    expect((await sniffFile(files['still.webp']!)).animated).toBe(false);
    expect((await sniffFile(files['anim.gif']!)).animated).toBe(true);
    expect((await sniffFile(files['still.gif']!)).animated).toBe(false);
  });

  it('ignores what the name says: a WAV renamed .jpg is still a WAV', () => {
    const bytes = readFileSync(files['tone.wav']!);
    expect(sniff(bytes).format).toBe('wav');
  });

  it('the raw MP3 fixture really has no ID3 tag', () => {
    expect(readFileSync(files['raw.mp3']!).subarray(0, 3).toString('latin1')).not.toBe('ID3');
  });

  it('works on the first few KB only', () => {
    const bytes = readFileSync(files['clip.mkv']!).subarray(0, 4096);
    expect(sniff(bytes)).toMatchObject({ format: 'mkv', mediaType: 'video' });
  });

  it('sees through an ID3 tag that fronts raw AAC', () => {
    const aac = readFileSync(files['tone.aac']!);
    const id3 = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 10, ...new Array(10).fill(0)]);
    expect(sniff(Buffer.concat([id3, aac])).format).toBe('aac');
  });
});

const ftyp = (major: string, ...compat: string[]): Buffer => {
  const size = 16 + compat.length * 4;
  const b = Buffer.alloc(size + 16);
  b.writeUInt32BE(size, 0);
  b.write('ftyp', 4, 'latin1');
  b.write(major, 8, 'latin1');
  compat.forEach((c, i) => b.write(c, 16 + i * 4, 'latin1'));
  return b;
};

describe('sniff on hand-made headers', () => {
  it.each([
    [ftyp('M4A ', 'isom'), 'm4a', 'audio'],
    [ftyp('qt  '), 'mov', 'video'],
    [ftyp('3gp5'), '3gp', 'video'],
    [ftyp('heic', 'mif1'), 'heic', 'image'],
    [ftyp('mif1', 'avif'), 'avif', 'image'],
    [ftyp('avif'), 'avif', 'image'],
    [Buffer.from('#!AMR\n\x3c\x00\x00\x00', 'latin1'), 'amr', 'audio'],
    [Buffer.from('#!AMR-WB\n\x00\x00\x00', 'latin1'), 'amr', 'audio'],
    [Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), 'zip', 'archive'],
    [Buffer.from('PK\x05\x06' + '\x00'.repeat(18), 'latin1'), 'zip', 'archive'],
    [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 'gzip', 'archive'],
    [Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), '7z', 'archive'],
    [Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), 'rar', 'archive'],
    [Buffer.concat([Buffer.alloc(257), Buffer.from('ustar\x0000')]), 'tar', 'archive'],
    [Buffer.from('OggS\x00\x02' + '\x00'.repeat(22) + '\x80theora', 'latin1'), 'ogg', 'video'],
  ])('case %#', (bytes, format, mediaType) => {
    expect(sniff(bytes)).toMatchObject({ format, mediaType });
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['short', Buffer.from([0xff, 0xd8])],
    ['text', Buffer.from('hello world, this is not media at all\n'.repeat(20))],
    ['html', Buffer.from('<!doctype html><html><body>hi</body></html>')],
    ['zeros', Buffer.alloc(4096)],
    ['RIFF but not WAVE', Buffer.from('RIFF\x10\x00\x00\x00XXXXfmt ', 'latin1')],
    ['EBML without doctype', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80, 0, 0, 0])],
    ['ELF', Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1')],
    ['PDF', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3', 'latin1')],
    ['m3u8 playlist', Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1/a.ts\n')],
    ['lone MPEG sync followed by junk', Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(4000, 0x41)])],
  ])('%s → unknown', (_name, bytes) => {
    expect(sniff(bytes)).toEqual({ format: null, mediaType: null, mime: null });
  });
});

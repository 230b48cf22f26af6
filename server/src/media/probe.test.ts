import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDecodable, MediaError, probeMedia } from './probe.js';
import { makeFixtures, makeMp3WithCover } from './testing/fixtures.js';

let dir: string;
let files: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'discern-probe-'));
  files = await makeFixtures(dir);
  files['with-cover.mp3'] = await makeMp3WithCover(dir, files['tone.mp3']!, files['still.png']!);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, bytes: Uint8Array | string): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

const expectMediaError = async (p: Promise<unknown>, message: RegExp | string) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaError);
  // Messages go to clients: they must not reveal where the server keeps its files.
  expect((err as Error).message).not.toContain(dir);
  if (typeof message === 'string') expect((err as Error).message).toContain(message);
  else expect((err as Error).message).toMatch(message);
};

describe('probeMedia on valid media', () => {
  it('WAV → audio with codec, rate, channels and duration', async () => {
    const p = await probeMedia(files['tone.wav']!);
    expect(p).toMatchObject({
      format: 'wav',
      mediaType: 'audio',
      audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 },
      video: null,
    });
    expect(p.duration).toBeCloseTo(0.5, 1);
    expect(p.sizeBytes).toBe(readFileSync(files['tone.wav']!).length);
  });

  it.each([
    ['tone.mp3', 'mp3', 'mp3'],
    ['raw.mp3', 'mp3', 'mp3'],
    ['tone.flac', 'flac', 'flac'],
    ['tone-vorbis.ogg', 'ogg', 'vorbis'],
    ['tone-opus.ogg', 'ogg', 'opus'],
    ['tone.aac', 'aac', 'aac'],
    ['tone.m4a', 'm4a', 'aac'],
  ])('%s → audio (%s/%s)', async (name, format, codec) => {
    const p = await probeMedia(files[name]!);
    expect(p.mediaType).toBe('audio');
    expect(p.format).toBe(format);
    expect(p.audio?.codec).toBe(codec);
    expect(p.duration).toBeGreaterThan(0.3);
  });

  it('mono 16 kHz WAV and plain MP3 are probed in-process with the answer ffprobe gives', async () => {
    // A probe that cannot start helpers proves no process ran; ffprobe's own answer, read
    // directly, is the reference.
    const noHelpers = { ffprobePath: '/nonexistent/ffprobe', ffmpegPath: '/nonexistent/ffmpeg' };
    const ffprobe = (file: string) => {
      const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]).toString('utf8')) as {
        format: { duration: string }; streams: Array<{ codec_type: string; codec_name: string; sample_rate: string; channels: number }>;
      };
      const a = out.streams.find((st) => st.codec_type === 'audio')!;
      return { duration: Number(out.format.duration), audio: { codec: a.codec_name, sampleRate: Number(a.sample_rate), channels: a.channels } };
    };
    const long = join(dir, 'long.mp3');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=300:d=7.3', '-ar', '44100', '-ac', '2', '-b:a', '96k', long]);
    const vbr = join(dir, 'vbr.mp3');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anoisesrc=d=4.2:a=0.2', '-ar', '22050', '-ac', '1', '-q:a', '4', vbr]);
    for (const name of ['tone.wav', 'tone.mp3', 'raw.mp3', 'with-cover.mp3', 'long.mp3', 'vbr.mp3']) {
      const file = files[name] ?? join(dir, name);
      const quick = await probeMedia(file, noHelpers);
      const reference = ffprobe(file);
      expect(quick, name).toMatchObject({ format: name.endsWith('.wav') ? 'wav' : 'mp3', mediaType: 'audio', video: null, sizeBytes: readFileSync(file).length, audio: reference.audio });
      // Frame counting includes the encoder's delay and padding, which ffprobe leaves out (≤ 2 frames).
      expect(Math.abs(quick.duration! - reference.duration), name).toBeLessThan(0.06);
    }
    // Anything else still needs ffprobe (here: a 22.05 kHz WAV).
    const wav22 = join(dir, 'tone22.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', files['tone.wav']!, '-ar', '22050', wav22]);
    await expect(probeMedia(wav22, noHelpers)).rejects.toThrow(/ffprobe could not be started/);
  });

  it('an MP4 with only an audio stream is audio (reported as m4a)', async () => {
    const p = await probeMedia(files['audio-only.mp4']!);
    expect(p).toMatchObject({ mediaType: 'audio', format: 'm4a', video: null });
  });

  it('an MP3 with cover art stays audio', async () => {
    const p = await probeMedia(files['with-cover.mp3']!);
    expect(p).toMatchObject({ mediaType: 'audio', format: 'mp3', video: null });
  });

  it.each([
    ['clip.mp4', 'mp4', 'h264'],
    ['clip.mov', 'mov', 'mpeg4'],
    ['clip.avi', 'avi', 'mpeg4'],
    ['clip.mkv', 'mkv', 'mpeg4'],
    ['clip.webm', 'webm', 'vp8'],
    ['clip.3gp', '3gp', 'h263'],
    ['clip.wmv', 'asf', 'wmv2'],
    ['clip.ts', 'mpegts', 'mpeg4'],
  ])('%s → video (%s/%s)', async (name, format, codec) => {
    const p = await probeMedia(files[name]!);
    expect(p.mediaType).toBe('video');
    expect(p.format).toBe(format);
    expect(p.video?.codec).toBe(codec);
    expect(p.video?.width).toBeGreaterThan(0);
    expect(p.video?.fps).toBeGreaterThan(0);
  });

  it('a video with sound reports both streams', async () => {
    const p = await probeMedia(files['clip.mp4']!);
    expect(p.video).toMatchObject({ width: 64, height: 48, fps: 10 });
    expect(p.audio).toMatchObject({ codec: 'aac', sampleRate: 16000 });
  });

  it.each([
    ['still.png', 'png', 1],
    ['still.jpg', 'jpeg', 1],
    ['still.gif', 'gif', 1],
    ['still.webp', 'webp', 1],
    ['anim.gif', 'gif', 4],
    ['anim.webp', 'webp', 4],
  ])('%s → image (%s, %i frame(s))', async (name, format, frames) => {
    const p = await probeMedia(files[name]!);
    expect(p).toMatchObject({ mediaType: 'image', format, duration: null, audio: null });
    expect(p.video).toMatchObject({ width: 64, height: 48, frames });
  });

  it('AVIF (made by sharp) → image', async () => {
    const avif = join(dir, 'made.avif');
    const sharp = (await import('sharp')).default;
    await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 10, b: 10 } } }).avif().toFile(avif);
    const p = await probeMedia(avif);
    expect(p).toMatchObject({ mediaType: 'image', format: 'avif', video: { width: 32, height: 24, frames: 1 } });
  });

  it('never trusts the extension: a PNG named .wav is an image, a WAV named .mp4 is audio', async () => {
    const png = join(dir, 'liar.wav');
    copyFileSync(files['still.png']!, png);
    expect((await probeMedia(png)).mediaType).toBe('image');
    const wav = join(dir, 'liar.mp4');
    copyFileSync(files['tone.wav']!, wav);
    expect(await probeMedia(wav)).toMatchObject({ mediaType: 'audio', format: 'wav' });
  });
});

describe('probeMedia on bad input', () => {
  it('empty file', async () => {
    await expectMediaError(probeMedia(write('empty.wav', '')), 'The file is empty');
  });

  it('missing file and directories', async () => {
    await expectMediaError(probeMedia(join(dir, 'nope.wav')), 'could not be read (ENOENT)');
    const sub = join(dir, 'a-directory.wav');
    mkdirSync(sub, { recursive: true });
    await expectMediaError(probeMedia(sub), 'not a regular file');
  });

  it('text, HTML, and a playlist pretending to be media', async () => {
    await expectMediaError(probeMedia(write('notes.mp3', 'just some text\n'.repeat(50))), /not a valid audio, image or video file \(unrecognised content/);
    await expectMediaError(probeMedia(write('page.mp4', '<!doctype html><title>x</title>')), 'not a valid audio, image or video file');
    await expectMediaError(probeMedia(write('list.m4a', '#EXTM3U\nfile:///etc/passwd\n')), 'not a valid audio, image or video file');
  });

  it('a zip archive', async () => {
    await expectMediaError(probeMedia(write('a.wav', Buffer.from('PK\x05\x06' + '\x00'.repeat(18), 'latin1'))), 'zip archive, not an audio');
  });

  it('a WAV header with no samples', async () => {
    const wav = readFileSync(files['tone.wav']!);
    await expectMediaError(probeMedia(write('hdr.wav', wav.subarray(0, 44))), /not a valid audio, image or video file \((ffprobe|ffmpeg): /);
  });

  it('a truncated MP4 (no moov) and a garbage payload behind a valid header', async () => {
    const mp4 = readFileSync(files['clip.mp4']!);
    await expectMediaError(probeMedia(write('trunc.mp4', mp4.subarray(0, 200))), /ffprobe: .*(moov|Invalid data)/);
    const flac = readFileSync(files['tone.flac']!);
    const corrupt = Buffer.concat([flac.subarray(0, 42), Buffer.alloc(flac.length - 42, 0x00)]);
    await expectMediaError(probeMedia(write('corrupt.flac', corrupt)), 'not a valid audio, image or video file');
  });

  it('truncated and corrupted images', async () => {
    const png = readFileSync(files['still.png']!);
    await expectMediaError(probeMedia(write('trunc.png', png.subarray(0, 60))), 'not a valid audio, image or video file (image: ');
    const jpg = readFileSync(files['still.jpg']!);
    await expectMediaError(probeMedia(write('trunc.jpg', jpg.subarray(0, Math.floor(jpg.length / 3)))), 'not a valid audio, image or video file (image: ');
  });

  it('images over the pixel limit', async () => {
    await expectMediaError(probeMedia(files['still.png']!, { maxImagePixels: 1000 }), /image|too large/);
  });

  it('a header-only HEIC is refused with a clear message', async () => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(24, 0);
    b.write('ftypheic', 4, 'latin1');
    b.write('mif1heic', 16, 'latin1');
    await expectMediaError(probeMedia(write('x.heic', b)), /not a valid audio, image or video file|HEIC/);
  });
});

describe('ensureDecodable', () => {
  it('passes for real audio and video and rejects a probe that does not match the bytes', async () => {
    const wavProbe = await probeMedia(files['tone.wav']!, { verifyDecode: false });
    await expect(ensureDecodable(files['tone.wav']!, wavProbe)).resolves.toBeUndefined();
    // The same probe claimed for a video-less file asking for a video stream fails loudly.
    await expectMediaError(ensureDecodable(files['tone.wav']!, { ...wavProbe, mediaType: 'video' }), 'ffmpeg');
  });
});

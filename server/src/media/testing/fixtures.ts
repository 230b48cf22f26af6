/**
 * Test-only: tiny real media files made with the system ffmpeg, so tests exercise real
 * containers instead of hand-written headers. Each file is a fraction of a second.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const SINE = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5:sample_rate=16000'];
const PICTURE = ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=0.5'];

/** ffmpeg arguments (after `-y -v error`) for each fixture; the output path is appended. */
export const FIXTURE_RECIPES: Record<string, string[]> = {
  'tone.wav': [...SINE, '-ac', '1'],
  'tone.mp3': [...SINE, '-c:a', 'libmp3lame', '-b:a', '32k'],
  'raw.mp3': [...SINE, '-c:a', 'libmp3lame', '-b:a', '32k', '-id3v2_version', '0', '-write_id3v1', '0', '-write_xing', '0'],
  'tone.flac': [...SINE, '-c:a', 'flac'],
  'tone-vorbis.ogg': [...SINE, '-c:a', 'libvorbis'],
  'tone-opus.ogg': [...SINE, '-c:a', 'libopus', '-ar', '48000'],
  'tone.aac': [...SINE, '-c:a', 'aac', '-f', 'adts'],
  'tone.m4a': [...SINE, '-c:a', 'aac', '-f', 'ipod'],
  'audio-only.mp4': [...SINE, '-c:a', 'aac', '-f', 'mp4'],
  'clip.mp4': [...PICTURE, ...SINE, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'],
  'clip.mov': [...PICTURE, '-c:v', 'mpeg4', '-f', 'mov'],
  'clip.avi': [...PICTURE, '-c:v', 'mpeg4'],
  'clip.mkv': [...PICTURE, ...SINE, '-c:v', 'mpeg4', '-c:a', 'flac', '-shortest'],
  'clip.webm': [...PICTURE, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8'],
  'clip.3gp': ['-f', 'lavfi', '-i', 'testsrc=size=176x144:rate=10:duration=0.5', '-c:v', 'h263', '-f', '3gp'],
  'clip.ts': [...PICTURE, '-c:v', 'mpeg4', '-f', 'mpegts'],
  'clip.wmv': [...PICTURE, '-c:v', 'wmv2', '-f', 'asf'],
  'still.png': [...PICTURE, '-frames:v', '1'],
  'still.jpg': [...PICTURE, '-frames:v', '1', '-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-f', 'image2'],
  'still.gif': [...PICTURE, '-frames:v', '1', '-f', 'gif'],
  'anim.gif': [...PICTURE, '-frames:v', '4', '-f', 'gif', '-loop', '0'],
  'still.webp': [...PICTURE, '-frames:v', '1', '-c:v', 'libwebp', '-f', 'webp'],
  'anim.webp': [...PICTURE, '-frames:v', '4', '-c:v', 'libwebp_anim', '-loop', '0', '-f', 'webp'],
};

export type FixtureName = keyof typeof FIXTURE_RECIPES;

/** Makes the named fixtures in `dir` (all if none named) and returns name → path. */
export async function makeFixtures(dir: string, names: string[] = Object.keys(FIXTURE_RECIPES)): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // Two at a time: the machine running tests is small.
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const recipe = FIXTURE_RECIPES[name];
      if (!recipe) throw new Error(`unknown fixture ${name}`);
      const path = join(dir, name);
      await run('ffmpeg', ['-nostdin', '-y', '-v', 'error', ...recipe, path], { timeout: 60_000 });
      out[name] = path;
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

/** An MP3 with a PNG cover picture (an attached_pic "video" stream). */
export async function makeMp3WithCover(dir: string, mp3: string, png: string): Promise<string> {
  const path = join(dir, 'with-cover.mp3');
  await run(
    'ffmpeg',
    ['-nostdin', '-y', '-v', 'error', '-i', mp3, '-i', png, '-map', '0', '-map', '1', '-c', 'copy', '-id3v2_version', '3', '-disposition:v', 'attached_pic', path],
    { timeout: 60_000 },
  );
  return path;
}

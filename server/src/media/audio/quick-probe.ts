/**
 * Upload probe without helper processes for the two audio inputs the analyser also decodes
 * in-process (a mono 16 kHz PCM/float WAV, a plain MP3 stream): ffprobe plus ffmpeg's decode check
 * cost about 200 ms of CPU per upload on this hardware, more than analysing a 10 s clip. The
 * answer has the fields ffprobe's path fills; anything these readers do not recognise returns null
 * and goes through ffprobe as before.
 */
import type { MediaProbe } from '../probe-types.js';
import { mp3DecodesAudio, mp3Duration, probeMp3 } from './mp3.js';
import { probeSimpleWav } from './wav.js';

const WAV_RATE = 16_000;

export async function probeAudioInProcess(path: string, format: string, sizeBytes: number): Promise<MediaProbe | null> {
  if (format === 'wav') {
    const wav = await probeSimpleWav(path, WAV_RATE);
    if (!wav || wav.dataBytes === 0) return null; // ffprobe's path words the empty case
    const codec = wav.encoding === 'float' ? 'pcm_f32le' : `pcm_s${wav.bits}le`;
    return {
      format: 'wav', mediaType: 'audio', duration: round3(wav.dataBytes / (wav.bits / 8) / WAV_RATE),
      audio: { codec, sampleRate: WAV_RATE, channels: 1 }, video: null, sizeBytes,
    };
  }
  if (format === 'mp3') {
    const stream = await probeMp3(path);
    if (!stream) return null;
    const seconds = await mp3Duration(path, stream);
    // Headers can be intact over a payload that decodes to nothing: that case is left to ffmpeg's
    // check, whose message the client then sees.
    if (seconds === 0 || !(await mp3DecodesAudio(path, stream.offset))) return null;
    return {
      format: 'mp3', mediaType: 'audio', duration: round3(seconds),
      audio: { codec: 'mp3', sampleRate: stream.sampleRate, channels: stream.channels }, video: null, sizeBytes,
    };
  }
  return null;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

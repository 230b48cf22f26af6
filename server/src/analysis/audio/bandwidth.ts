import { fft1d } from '../dsp/fft.js';
import { SAMPLE_RATE } from './decode.js';

/**
 * Telephone-band detection. A phone line (and any 8 kHz recording resampled to 16 kHz) carries
 * nothing above ~3.4–4 kHz, where the detector finds many of its cues: its measured error rate
 * there is about twice the wideband one, so the analyser reports the bandwidth with the verdict.
 * The measure is the energy in 4.3–7.7 kHz relative to the energy in 0.3–3.4 kHz, in dB:
 * wideband speech sits around −10 to −30 dB, telephone audio far below (only resampler leakage
 * and dither remain). 3.4–4.3 kHz is skipped: resampler transition bands live there.
 */
const FFT_SIZE = 512;
const HOP = 1024;
const BIN_HZ = SAMPLE_RATE / FFT_SIZE;
const SPEECH_BAND: [number, number] = [Math.round(300 / BIN_HZ), Math.round(3400 / BIN_HZ)];
const HIGH_BAND: [number, number] = [Math.round(4300 / BIN_HZ), Math.round(7700 / BIN_HZ)];

/**
 * Chunks whose high band lies this far under the speech band are narrowband. Chosen on the
 * training split (`training/audio/bandwidth_stats.py` prints the table): at −40 dB, 1.31% of
 * chunks from wideband channels (none, G.722, MP3, Opus) fall below it, many of them recordings
 * that were band-limited at the source, and 0.67% of telephone-channel chunks stay above it.
 */
export const NARROWBAND_BELOW_DB = -40;

const hann = Float64Array.from({ length: FFT_SIZE }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE));

/** High-band to speech-band energy ratio of a 16 kHz chunk, in dB (−Infinity for silence). */
export function highBandRatioDb(samples: Float32Array): number {
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  let speech = 0;
  let high = 0;
  for (let start = 0; start + FFT_SIZE <= samples.length; start += HOP) {
    for (let i = 0; i < FFT_SIZE; i++) {
      re[i] = samples[start + i]! * hann[i]!;
      im[i] = 0;
    }
    fft1d(re, im);
    for (let b = SPEECH_BAND[0]; b <= SPEECH_BAND[1]; b++) speech += re[b]! * re[b]! + im[b]! * im[b]!;
    for (let b = HIGH_BAND[0]; b <= HIGH_BAND[1]; b++) high += re[b]! * re[b]! + im[b]! * im[b]!;
  }
  if (speech <= 0) return -Infinity;
  return 10 * Math.log10(high / speech + 1e-30);
}

export function isNarrowband(samples: Float32Array): boolean {
  return highBandRatioDb(samples) < NARROWBAND_BELOW_DB;
}

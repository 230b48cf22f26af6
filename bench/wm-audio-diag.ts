/**
 * Audio watermark diagnostics behind the design notes in docs/watermarking.md: how fast speech
 * band log-ratios move when the analysis framing shifts, and how wide the sync peak is.
 * Host: the first bench host (asterisk prompts, every 7th file, concatenated to ≥ 10 s).
 *
 *   npm run build && node dist/bench/wm-audio-diag.js
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIO_WM_RATE, audioAlignmentScore, embedAudioWatermark, ratioShiftSensitivity, snrDb } from '../server/src/analysis/watermark/audio-watermark.js';
import { payloadFromMessage } from '../server/src/analysis/watermark/ecc.js';
import { decodeAudio } from '../server/src/analysis/watermark/ffmpeg.js';

function walk(dir: string, pred: (p: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) { const p = join(dir, name); if (statSync(p).isDirectory()) walk(p, pred, out); else if (pred(p)) out.push(p); }
  return out;
}

async function main() {
  const files = walk(join(process.env.WM_HOSTS ?? 'bench/data/watermark-hosts/extract', 'asterisk-core-sounds-en-g722'), (p) => p.endsWith('.g722'));
  if (files.length === 0) { console.error('run bench/fetch-hosts.sh first'); process.exit(2); }
  const parts: Float32Array[] = [];
  let len = 0;
  for (let i = 0; len < 10 * AUDIO_WM_RATE && i < files.length; i += 7) { const x = await decodeAudio(files[i]!, { sampleRate: AUDIO_WM_RATE, channels: 1 }); parts.push(x); len += x.length; }
  const host = new Float32Array(len);
  let o = 0;
  for (const p of parts) { host.set(p, o); o += p.length; }
  console.log(`host: ${(len / AUDIO_WM_RATE).toFixed(1)} s`);
  console.log('unmarked host, RMS change of the tile log-ratio R (nats) when the framing moves by');
  for (const f of [1, 2, 4]) console.log(`  ${f} analysis frame(s) (${(f * 6.25).toFixed(2)} ms): ${ratioShiftSensitivity(host, f).toFixed(3)}`);
  const payload = payloadFromMessage('resembleai', 4);
  const raw = embedAudioWatermark(host, AUDIO_WM_RATE, payload, { minSnrDb: 0 });
  const marked = embedAudioWatermark(host, AUDIO_WM_RATE, payload);
  console.log(`SNR before the 35.5 dB guard ${snrDb(host, raw).toFixed(2)} dB, after ${snrDb(host, marked).toFixed(2)} dB`);
  console.log('marked host, sync z at the nominal alignment after dropping the first N samples');
  for (const n of [0, 10, 25, 50, 100]) console.log(`  ${String(n).padStart(3)} samples: z ${audioAlignmentScore(marked.subarray(n), 0).z.toFixed(1)}`);
  console.log(`unmarked host at the same alignment: z ${audioAlignmentScore(host, 0).z.toFixed(1)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });

// Quick iteration harness for the audio watermark: env N (hosts, default 4), SKIP, ATT (regex of
// attack names), LOW=1 (add the low-passed host), FP=<clips> (unmarked 3 s clips). Not the bench.
// Prints per attack: detected/total, bit accuracy and sync z, then embed/detect CPU speed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIO_WM_RATE, detectAudioWatermark, embedAudioWatermark, snrDb } from '../server/src/analysis/watermark/audio-watermark.js';
import { payloadFromMessage } from '../server/src/analysis/watermark/ecc.js';
import { decodeAudio } from '../server/src/analysis/watermark/ffmpeg.js';

const HOSTS = 'bench/data/watermark-hosts/extract';
const N = Number(process.env.N ?? 4);
const FILTER = process.env.ATT ? new RegExp(process.env.ATT) : null;
const work = mkdtempSync(join(tmpdir(), 'wmq-'));
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', '-nostdin', ...args]);
function walk(dir: string, pred: (p: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) { const p = join(dir, name); if (statSync(p).isDirectory()) walk(p, pred, out); else if (pred(p)) out.push(p); }
  return out;
}
async function via(x: Float32Array, enc: string[], ext: string): Promise<Float32Array> {
  const raw = join(work, 'a.raw'); writeFileSync(raw, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  const out = join(work, `att.${ext}`);
  ff('-f', 'f32le', '-ar', '16000', '-ac', '1', '-i', raw, ...enc, out);
  return decodeAudio(out, { sampleRate: AUDIO_WM_RATE, channels: 1 });
}
const noise = (y: Float32Array) => { let p = 0; for (const v of y) p += v * v; const sd = Math.sqrt(p / y.length / 100); let s = 12345; const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; }; return y.map((v) => v + sd * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())); };
const R = AUDIO_WM_RATE;
const attacks: Array<[string, (y: Float32Array) => Promise<Float32Array>]> = [
  ['none', async (y) => y],
  ['mp3 128', (y) => via(y, ['-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k'], 'mp3')],
  ['mp3 64', (y) => via(y, ['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3')],
  ['aac 64', (y) => via(y, ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'], 'm4a')],
  ['opus 32', (y) => via(y, ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k'], 'ogg')],
  ['rs 8k', (y) => via(y, ['-ar', '8000', '-c:a', 'pcm_f32le'], 'wav')],
  ['gain +6', async (y) => y.map((v) => Math.max(-1, Math.min(1, v * 2)))],
  ['noise 20', async (y) => noise(y)],
  ['speed +3', (y) => via(y, ['-af', `asetrate=${R * 1.03},aresample=${R}`, '-c:a', 'pcm_f32le'], 'wav')],
  ['speed -5', (y) => via(y, ['-af', `asetrate=${R * 0.95},aresample=${R}`, '-c:a', 'pcm_f32le'], 'wav')],
  ['speed +5', (y) => via(y, ['-af', `asetrate=${R * 1.05},aresample=${R}`, '-c:a', 'pcm_f32le'], 'wav')],
  ['tempo +4', (y) => via(y, ['-af', 'atempo=1.04', '-c:a', 'pcm_f32le'], 'wav')],
  ['tempo -5', (y) => via(y, ['-af', 'atempo=0.95', '-c:a', 'pcm_f32le'], 'wav')],
  ['3s @2.1', async (y) => y.subarray(Math.round(2.1 * R), Math.round(5.1 * R))],
  ['3s @4.037', async (y) => y.subarray(Math.round(4.037 * R), Math.round(7.037 * R))],
  ['3s @0.55 mp3 64', async (y) => (await via(y, ['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3')).subarray(Math.round(0.55 * R), Math.round(3.55 * R))],
  ['3s @6.33 aac', async (y) => (await via(y, ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'], 'm4a')).subarray(Math.round(6.33 * R), Math.round(9.33 * R))],
];
async function main() {
  const g722 = walk(join(HOSTS, 'asterisk-core-sounds-en-g722'), (p) => p.endsWith('.g722'));
  const hosts: Float32Array[] = [];
  let acc: Float32Array[] = []; let len = 0;
  for (let i = Number(process.env.SKIP ?? 0); i < g722.length && hosts.length < N; i += 7) {
    const x = await decodeAudio(g722[i]!, { sampleRate: R, channels: 1 }).catch(() => null);
    if (!x) continue; acc.push(x); len += x.length;
    if (len >= 10 * R) { const h = new Float32Array(len); let o = 0; for (const a of acc) { h.set(a, o); o += a.length; } hosts.push(h); acc = []; len = 0; }
  }
  if (process.env.LOW) {
    const ogg = walk(join(HOSTS, 'klettres-data'), (p) => p.endsWith('.ogg'));
    const parts: Float32Array[] = [];
    for (let i = 0; i < ogg.length && parts.reduce((s, p) => s + p.length, 0) < 10 * R; i += 37) parts.push(await decodeAudio(ogg[i]!, { sampleRate: R, channels: 1 }));
    const h = new Float32Array(parts.reduce((s, p) => s + p.length, 0)); let o = 0; for (const p of parts) { h.set(p, o); o += p.length; }
    hosts.push(await via(h, ['-af', 'lowpass=f=900,lowpass=f=900', '-c:a', 'pcm_f32le'], 'wav'));
  }
  const payload = payloadFromMessage('resembleai', 4);
  const truth = Array.from(payload, (b) => b.toString(2).padStart(8, '0')).join('');
  const rows = new Map<string, { d: number; n: number; acc: number; z: number[] }>();
  let embMs = 0, detMs = 0, sec = 0;
  for (const host of hosts) {
    const t0 = process.cpuUsage();
    const y = embedAudioWatermark(host, R, payload);
    const t1 = process.cpuUsage(t0); embMs += (t1.user + t1.system) / 1000; sec += host.length / R;
    const snr = snrDb(host, y);
    const line: string[] = [`snr ${snr.toFixed(1)}`];
    for (const [name, fn] of attacks) {
      if (FILTER && !FILTER.test(name)) continue;
      const a = await fn(y);
      const c0 = process.cpuUsage();
      const d = detectAudioWatermark(a, R);
      const c1 = process.cpuUsage(c0); if (name === 'none') detMs += (c1.user + c1.system) / 1000;
      const ok = d.has_watermark && d.payload_bits === truth;
      let good = 0; for (let i = 0; i < 32; i++) if (d.payload_bits?.[i] === truth[i]) good++;
      const r = rows.get(name) ?? { d: 0, n: 0, acc: 0, z: [] };
      r.n++; r.acc += good / 32; if (ok) r.d++; r.z.push(d.sync_z); rows.set(name, r);
      line.push(`${name}:${ok ? 'ok' : 'NO'}(z${d.sync_z.toFixed(1)},e${d.bit_errors},v${d.time_scale})`);
    }
    console.log(line.join(' '));
  }
  for (const [name, r] of rows) console.log(`${name.padEnd(18)} ${r.d}/${r.n}  acc ${(r.acc / r.n).toFixed(3)}  z ${r.z.map((v) => v.toFixed(1)).join(',')}`);
  console.log(`embed ${(sec * 1000 / embMs).toFixed(0)}x, detect ${(sec * 1000 / Math.max(1, detMs)).toFixed(0)}x (${sec.toFixed(0)} s)`);
  if (process.env.FP) {
    const src = walk(join(HOSTS, 'asterisk-core-sounds-fr-g722'), (p) => p.endsWith('.g722'));
    let clips = 0, flagged = 0, crc = 0; const zs: number[] = []; const errs: number[] = []; let ms = 0;
    let carry = new Float32Array(0);
    for (let i = 0; i < src.length && clips < Number(process.env.FP); i++) {
      const x = await decodeAudio(src[i]!, { sampleRate: R, channels: 1 }).catch(() => null); if (!x) continue;
      const j = new Float32Array(carry.length + x.length); j.set(carry); j.set(x, carry.length);
      let o = 0; for (; o + 3 * R <= j.length && clips < Number(process.env.FP); o += 3 * R) {
        const c0 = process.cpuUsage(); const d = detectAudioWatermark(j.subarray(o, o + 3 * R), R); const c1 = process.cpuUsage(c0); ms += (c1.user + c1.system) / 1000;
        clips++; zs.push(d.sync_z); errs.push(d.bit_errors ?? -1); if (d.crc_ok) console.log('chance crc', d.sync_z, d.bit_errors); if (d.crc_ok) crc++; if (d.has_watermark) flagged++;
      }
      carry = j.slice(o);
    }
    zs.sort((a, b) => a - b); errs.sort((a, b) => a - b); console.log('errors of best candidate on unmarked: min', errs[0], 'p1', errs[Math.floor(errs.length * 0.01)], 'median', errs[errs.length >> 1]);
    console.log(`FP ${flagged}/${clips} crc ${crc} z med ${zs[zs.length >> 1]?.toFixed(2)} p99 ${zs[Math.floor(zs.length * 0.99)]?.toFixed(2)} max ${zs[zs.length - 1]?.toFixed(2)}; ${(clips * 3000 / ms).toFixed(0)}x on 3 s`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });

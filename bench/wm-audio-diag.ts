/**
 * Audio watermark diagnostics behind the design notes in docs/watermarking.md: how fast speech
 * band log-ratios move when the analysis framing shifts, how wide the sync peak is, and which
 * band pairs still carry the mark after noise and codecs, whether any band layout keeps its
 * energy ratios through Opus 32 kbps, and how the time-scale search
 * estimates a speed change and how precisely it has to undo it.
 * Host: the first bench host (asterisk prompts, every 7th file, concatenated to ≥ 10 s).
 *
 *   npm run build && node dist/bench/wm-audio-diag.js
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AUDIO_WM_RATE, audioAlignmentScore, DEFAULT_AUDIO_DELTA, detectAudioWatermark, embedAudioWatermark, pairLatticeFit, ratioShiftSensitivity, snrDb, timeScaleCandidates } from '../server/src/analysis/watermark/audio-watermark.js';
import { Fft, resample } from '../server/src/analysis/watermark/dsp.js';
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
  for (const n of [0, 10, 25, 50, 100, 200]) console.log(`  ${String(n).padStart(3)} samples: z ${audioAlignmentScore(marked.subarray(n), 0).z.toFixed(1)}`);
  console.log(`unmarked host at the same alignment: z ${audioAlignmentScore(host, 0).z.toFixed(1)}`);

  // Which band pairs still carry the mark after each attack (all at the embedding alignment).
  const work = mkdtempSync(join(tmpdir(), 'wm-diag-'));
  writeFileSync(join(work, 'm.raw'), Buffer.from(marked.buffer, marked.byteOffset, marked.byteLength));
  const encoded = async (ext: string, args: string[]) => {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'f32le', '-ar', String(AUDIO_WM_RATE), '-ac', '1', '-i', join(work, 'm.raw'), ...args, join(work, `att.${ext}`)]);
    return decodeAudio(join(work, `att.${ext}`), { sampleRate: AUDIO_WM_RATE, channels: 1 });
  };
  const noisy = (snr: number) => {
    let p = 0;
    for (const v of marked) p += v * v;
    const sd = Math.sqrt(p / marked.length / 10 ** (snr / 10));
    let s = 12345;
    const r = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
    return marked.map((v) => v + sd * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
  };
  const rows: Array<[string, Float32Array]> = [
    ['marked', marked], ['unmarked', host], ['noise 30 dB', noisy(30)], ['noise 20 dB', noisy(20)],
    ['mp3 64k', await encoded('mp3', ['-c:a', 'libmp3lame', '-b:a', '64k'])],
    ['aac 64k', await encoded('m4a', ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'])],
    ['opus 32k', await encoded('ogg', ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k'])],
  ];
  console.log('lattice fit per band pair (1 = on the lattice, 0 = nothing left; pairs 0-3 lie below 906 Hz)');
  console.log('  pair'.padEnd(14) + Array.from({ length: 10 }, (_, i) => String(i).padStart(6)).join(''));
  for (const [name, x] of rows) console.log(`  ${name}`.padEnd(14) + pairLatticeFit(x).map((q) => q.fit.toFixed(2).padStart(6)).join(''));

  // Does any band layout keep its energy ratios through Opus? Codec error on the UNMARKED host:
  // per band pair, how far each 100 ms tile's log-ratio moves, as the weighted mean of
  // e^{i·4π·ΔR/Δ} (1 = every ratio kept to a small fraction of a lattice step, 0 = moved by a
  // quarter step or more at random). Layouts: the scheme's own pairs, and adjacent bands of Opus's
  // CELT band layout (200 Hz wide up to 1.6 kHz, then 400 Hz), which CELT codes energies for.
  const hostCodec = async (ext: string, args: string[]) => {
    writeFileSync(join(work, 'h.raw'), Buffer.from(host.buffer, host.byteOffset, host.byteLength));
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'f32le', '-ar', String(AUDIO_WM_RATE), '-ac', '1', '-i', join(work, 'h.raw'), ...args, join(work, `hc.${ext}`)]);
    return decodeAudio(join(work, `hc.${ext}`), { sampleRate: AUDIO_WM_RATE, channels: 1 });
  };
  const layouts: Array<[string, number[], boolean]> = [
    // [name, band edges in 31.25 Hz bins, disjoint pairs (the scheme's) or every adjacent pair]
    ['scheme pairs', [5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 36, 41, 45, 51, 57, 64, 71, 80, 89, 100, 112], true],
    ['CELT bands', [200, 400, 600, 800, 1000, 1200, 1400, 1600, 2000, 2400, 2800, 3200].map((hz) => Math.round(hz / 31.25)), false],
  ];
  const before = tilePowers(host);
  console.log(`codec error on the unmarked host per band pair, |mean w·exp(i·4π·ΔR/Δ)| with Δ = ${DEFAULT_AUDIO_DELTA} (1 = ratios kept, 0 = lost)`);
  for (const [name, args, ext] of [
    ['mp3 64k', ['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3'],
    ['aac 64k', ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'], 'm4a'],
    ['opus 32k', ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k'], 'ogg'],
    ['opus 32k CELT only', ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-application', 'lowdelay'], 'ogg'],
  ] as Array<[string, string[], string]>) {
    const after = tilePowers(await hostCodec(ext, args));
    for (const [layout, edges, disjoint] of layouts) {
      console.log(`  ${name.padEnd(20)} ${layout.padEnd(13)}` + ratioKept(before, after, edges, disjoint).map((v) => v.toFixed(2).padStart(6)).join(''));
    }
  }

  // Time-scale search: how far off an undo may be, and what the period-lag estimate gives.
  const played = (speed: number, x = marked) => {
    writeFileSync(join(work, 's.raw'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'f32le', '-ar', String(AUDIO_WM_RATE), '-ac', '1', '-i', join(work, 's.raw'), '-af', `asetrate=${AUDIO_WM_RATE * speed},aresample=${AUDIO_WM_RATE}`, '-c:a', 'pcm_f32le', join(work, 's.wav')]);
    return decodeAudio(join(work, 's.wav'), { sampleRate: AUDIO_WM_RATE, channels: 1 });
  };
  const fast = await played(1.03);
  console.log('speed +3 %, undone by resampling with an error e, then the nominal search (decoded? coded-bit errors, z)');
  for (const e of [0, 0.0005, -0.0005, 0.001, -0.001, 0.0015, -0.0015, 0.002, -0.002, 0.003]) {
    const d = detectAudioWatermark(resample(fast, AUDIO_WM_RATE, AUDIO_WM_RATE * 1.03 * (1 + e)), AUDIO_WM_RATE);
    console.log(`  e ${(e * 100).toFixed(2).padStart(6)} %: ${d.has_watermark ? 'decoded' : 'missed '} errors ${String(d.bit_errors).padStart(3)} z ${d.sync_z.toFixed(1)}`);
  }
  console.log('period-lag estimates (timeScaleCandidates, best three: speed and z), marked and unmarked host');
  for (const speed of [0.95, 0.965, 0.98, 0.99, 1.01, 1.0325, 1.05]) {
    const m = timeScaleCandidates(await played(speed));
    const u = timeScaleCandidates(await played(speed, host));
    const fmt = (c: Array<{ speed: number; z: number }>) => c.map((q) => `${q.speed.toFixed(4)} (${q.z.toFixed(1)})`).join(', ');
    console.log(`  ${speed.toFixed(4)}: marked ${fmt(m)} | unmarked ${fmt(u)}`);
  }
}
/** Power spectra (Hann 512, hop 100, bins 0…255) summed over 100 ms tiles (16 frames): tiles[t][k]. */
function tilePowers(x: Float32Array): Float64Array[] {
  const fft = new Fft(512);
  const win = Float64Array.from({ length: 512 }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / 512));
  const tiles: Float64Array[] = [];
  const re = new Float64Array(512), im = new Float64Array(512);
  for (let t = 0; (t + 1) * 1600 + 512 <= x.length; t++) {
    const acc = new Float64Array(256);
    for (let f = 0; f < 16; f++) {
      const s0 = t * 1600 + f * 100;
      for (let i = 0; i < 512; i++) { re[i] = x[s0 + i]! * win[i]!; im[i] = 0; }
      fft.transform(re, im);
      for (let k = 0; k < 256; k++) acc[k] = acc[k]! + re[k]! * re[k]! + im[k]! * im[k]!;
    }
    tiles.push(acc);
  }
  return tiles;
}

/** Per band pair: |Σ w·exp(i·4π·(R_after − R_before)/Δ)| / Σ w, w from the weaker band's share of the tile energy. */
function ratioKept(before: Float64Array[], after: Float64Array[], edges: number[], disjoint: boolean): number[] {
  const band = (tile: Float64Array, b: number) => { let e = 0; for (let k = edges[b]!; k < edges[b + 1]!; k++) e += tile[k]!; return e + 1e-20; };
  const out: number[] = [];
  for (let b = 0; b + 2 < edges.length; b += disjoint ? 2 : 1) {
    let re = 0, im = 0, ws = 0;
    for (let t = 0; t < Math.min(before.length, after.length); t++) {
      const e1 = band(before[t]!, b), e2 = band(before[t]!, b + 1);
      let total = 0;
      for (let c = 0; c + 1 < edges.length; c++) total += band(before[t]!, c);
      const share = ((edges.length - 1) * Math.min(e1, e2)) / total;
      const w = share / (share + 0.005);
      const d = Math.log(band(after[t]!, b) / band(after[t]!, b + 1)) - Math.log(e1 / e2);
      re += w * Math.cos((4 * Math.PI * d) / DEFAULT_AUDIO_DELTA);
      im += w * Math.sin((4 * Math.PI * d) / DEFAULT_AUDIO_DELTA);
      ws += w;
    }
    out.push(Math.hypot(re, im) / Math.max(1e-12, ws));
  }
  return out;
}

main().catch((e) => { console.error(e); process.exit(1); });

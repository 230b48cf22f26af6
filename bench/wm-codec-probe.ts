/**
 * Codec probe for audio watermark design: how much of an imposed band-energy change a codec
 * keeps, and how much noise it adds to it, for several band layouts. Independent of the shipped
 * scheme, so it can answer "would a layer on these bands survive Opus 32 kbps?" before anyone
 * builds one.
 *
 * For each layout, every (100 ms slot, band) cell of a host gets a random gain of ±AMP in
 * ln-amplitude (an STFT with overlap-add, sqrt-Hann windows). Host and probed host both go
 * through the attack; per cell and neighbouring band pair, d0 = the probe's change of the
 * ln energy ratio before the attack and d1 = the change after it (probed minus unprobed, both
 * attacked). "kept" is the regression slope of d1 on d0 (1 = the change survives at full size,
 * 0 = removed); "residual" is the rms of d1 − kept·d0 in nats, the noise a detector of that
 * change faces. A lattice (QIM) cell of step S keeps a fit of about exp(−2π²·residual²/S²).
 * Also prints which Opus modes libopus chose (from the packets' TOC bytes).
 *
 * Hosts: the tuning set's French prompts (WM_AUDIO_HOSTSET=tune in bench/watermark.ts), so the
 * standard English bench hosts stay held out.
 *
 *   npm run build && node dist/bench/wm-codec-probe.js        (env: WM_PROBE_AMP, WM_PROBE_HOSTS)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIO_WM_RATE } from '../server/src/analysis/watermark/audio-watermark.js';
import { Fft, hann } from '../server/src/analysis/watermark/dsp.js';
import { decodeAudio } from '../server/src/analysis/watermark/ffmpeg.js';

const HOSTS = process.env.WM_HOSTS ?? 'bench/data/watermark-hosts/extract';
const AMP = Number(process.env.WM_PROBE_AMP ?? 0.1);
const N_HOSTS = Number(process.env.WM_PROBE_HOSTS ?? 6);
const FRAME = 512;
const HOP = 128;
const SLOT = 1600; // 100 ms at 16 kHz, the shipped scheme's slot
const BIN_HZ = AUDIO_WM_RATE / FRAME;

/** Band layouts as [low, high) bin ranges of a 512-point frame at 16 kHz (31.25 Hz per bin). */
const LAYOUTS: Record<string, Array<[number, number]>> = {
  'narrow 3-bin bands below 900 Hz (the shipped low pairs)': [[5, 8], [8, 11], [11, 14], [14, 17], [17, 20], [20, 23]],
  '7-12-bin bands 1.8-3.5 kHz (the shipped high pairs)': [[57, 64], [64, 71], [71, 80], [80, 89], [89, 100], [100, 112]],
  '16-bin bands, 0.5-3.5 kHz': [[16, 32], [32, 48], [48, 64], [64, 80], [80, 96], [96, 112]],
  '32-bin bands, 0.25-4.25 kHz': [[8, 40], [40, 72], [72, 104], [104, 136]],
};

const ATTACKS: Record<string, { args: string[]; ext: string } | 'noise20'> = {
  'opus 32 kbps (48 kHz)': { args: ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k'], ext: 'ogg' },
  'aac 64 kbps (44.1 kHz)': { args: ['-ar', '44100', '-c:a', 'aac', '-b:a', '64k'], ext: 'm4a' },
  'mp3 64 kbps': { args: ['-c:a', 'libmp3lame', '-b:a', '64k'], ext: 'mp3' },
  'white noise 20 dB SNR': 'noise20',
};

const work = mkdtempSync(join(tmpdir(), 'wm-probe-'));
const fft = new Fft(FRAME);
const synthWindow = hann(FRAME, true);

function walk(dir: string, pred: (p: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) { const p = join(dir, name); if (statSync(p).isDirectory()) walk(p, pred, out); else if (pred(p)) out.push(p); }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
}

/** The host with each (slot, band) cell's amplitude scaled by exp(±AMP). */
function probe(x: Float32Array, bands: Array<[number, number]>, seed: number): Float32Array {
  const rnd = lcg(seed);
  const slots = Math.ceil(x.length / SLOT) + 1;
  const gain = Array.from({ length: slots }, () => bands.map(() => Math.exp(rnd() < 0.5 ? -AMP : AMP)));
  const y = new Float64Array(x.length);
  const re = new Float64Array(FRAME), im = new Float64Array(FRAME);
  // sqrt-Hann analysis and synthesis at hop N/4 sum to 2 (periodic Hann), hence the 0.5.
  for (let s0 = -FRAME; s0 < x.length; s0 += HOP) {
    for (let i = 0; i < FRAME; i++) { re[i] = (x[s0 + i] ?? 0) * synthWindow[i]!; im[i] = 0; }
    fft.transform(re, im);
    const g = gain[Math.max(0, Math.floor((s0 + FRAME / 2) / SLOT))]!;
    for (const [b, [lo, hi]] of bands.entries()) {
      for (let k = lo; k < hi; k++) { re[k]! *= g[b]!; im[k]! *= g[b]!; re[FRAME - k]! *= g[b]!; im[FRAME - k]! *= g[b]!; }
    }
    fft.transform(re, im, true);
    for (let i = 0; i < FRAME; i++) { const t = s0 + i; if (t >= 0 && t < x.length) y[t] = y[t]! + (re[i]! / FRAME) * synthWindow[i]! * 0.5; }
  }
  return Float32Array.from(y);
}

/** Band energies per slot: Hann frames every 100 samples inside the slot's middle. */
function slotEnergies(x: Float32Array, bands: Array<[number, number]>): number[][] {
  const analysis = hann(FRAME);
  const re = new Float64Array(FRAME), im = new Float64Array(FRAME);
  const out: number[][] = [];
  for (let s = 0; s + 1 < Math.floor(x.length / SLOT); s++) {
    const e = bands.map(() => 0);
    for (let f = s * SLOT + 200; f + FRAME <= (s + 1) * SLOT + 200; f += 100) {
      for (let i = 0; i < FRAME; i++) { re[i] = x[f + i]! * analysis[i]!; im[i] = 0; }
      fft.transform(re, im);
      for (const [b, [lo, hi]] of bands.entries()) for (let k = lo; k < hi; k++) e[b] = e[b]! + re[k]! * re[k]! + im[k]! * im[k]!;
    }
    out.push(e);
  }
  return out;
}

const opusModes = new Map<string, number>();
/** Counts the Opus packets' modes (TOC byte config: 0-11 SILK, 12-15 hybrid, 16-31 CELT). */
function countOpusModes(file: string): void {
  const data = readFileSync(file);
  let i = 0, packet = 0, cur: number | null = null;
  while (i + 27 <= data.length && data.toString('latin1', i, i + 4) === 'OggS') {
    const segments = data[i + 26]!;
    let p = i + 27 + segments;
    for (let s = 0; s < segments; s++) {
      const len = data[i + 27 + s]!;
      if (cur === null && len > 0) cur = data[p]!; // first byte of the packet
      p += len;
      if (len < 255) {
        if (packet >= 2 && cur !== null) { // packets 0 and 1 are the Opus headers
          const cfg = cur >> 3;
          const mode = cfg < 12 ? `SILK ${['NB', 'MB', 'WB'][cfg >> 2]}` : cfg < 16 ? `hybrid ${cfg < 14 ? 'SWB' : 'FB'}` : `CELT ${['NB', 'WB', 'SWB', 'FB'][(cfg - 16) >> 2]}`;
          opusModes.set(mode, (opusModes.get(mode) ?? 0) + 1);
        }
        packet++;
        cur = null;
      }
    }
    i = p;
  }
}

async function attack(x: Float32Array, name: string): Promise<Float32Array> {
  const a = ATTACKS[name]!;
  if (a === 'noise20') {
    let power = 0;
    for (const v of x) power += v * v;
    const sd = Math.sqrt(power / x.length / 100);
    const rnd = lcg(3);
    return x.map((v) => v + sd * Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()));
  }
  const raw = join(work, 'in.raw');
  writeFileSync(raw, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  const out = join(work, `out.${a.ext}`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'f32le', '-ar', String(AUDIO_WM_RATE), '-ac', '1', '-i', raw, ...a.args, out]);
  if (a.ext === 'ogg') countOpusModes(out);
  return (await decodeAudio(out, { sampleRate: AUDIO_WM_RATE, channels: 1 })).subarray(0, x.length);
}

async function main() {
  const files = walk(join(HOSTS, 'asterisk-core-sounds-fr-g722'), (p) => p.endsWith('.g722'));
  if (files.length === 0) { console.error('run bench/fetch-hosts.sh first'); process.exit(2); }
  const hosts: Float32Array[] = [];
  let acc: Float32Array[] = [], len = 0;
  for (let i = 0; i < files.length && hosts.length < N_HOSTS; i += 2) {
    const x = await decodeAudio(files[i]!, { sampleRate: AUDIO_WM_RATE, channels: 1 }).catch(() => null);
    if (!x) continue;
    acc.push(x); len += x.length;
    if (len >= 10 * AUDIO_WM_RATE) { const h = new Float32Array(len); let o = 0; for (const a of acc) { h.set(a, o); o += a.length; } hosts.push(h); acc = []; len = 0; }
  }
  console.log(`codec probe: ${hosts.length} tuning hosts (French prompts, ~10 s each), probe ±${AMP} ln-amplitude per 100 ms slot and band (${(20 * AMP / Math.LN10).toFixed(2)} dB)`);
  console.log('per layout and attack: kept = share of the imposed ln energy-ratio change that survives; residual = rms noise on it (nats)');
  for (const [layoutName, bands] of Object.entries(LAYOUTS)) {
    console.log(`\n${layoutName}: ${bands.map(([lo, hi]) => `${Math.round((lo - 0.5) * BIN_HZ)}-${Math.round((hi - 0.5) * BIN_HZ)}`).join(', ')} Hz`);
    for (const attackName of Object.keys(ATTACKS)) {
      let num = 0, den = 0;
      const pairs: Array<[number, number]> = [];
      for (const [h, host] of hosts.entries()) {
        const probed = probe(host, bands, 1000 + h);
        const [A0, B0, A1, B1] = [slotEnergies(host, bands), slotEnergies(probed, bands), slotEnergies(await attack(host, attackName), bands), slotEnergies(await attack(probed, attackName), bands)];
        for (let s = 0; s < Math.min(A0.length, A1.length); s++) {
          for (let b = 0; b + 1 < bands.length; b++) {
            const ratio = (e: number[][]) => Math.log(e[s]![b]! / e[s]![b + 1]!);
            const d0 = ratio(B0) - ratio(A0), d1 = ratio(B1) - ratio(A1);
            if (!Number.isFinite(d0) || !Number.isFinite(d1)) continue; // a silent band
            pairs.push([d0, d1]);
            num += d0 * d1; den += d0 * d0;
          }
        }
      }
      const kept = num / den;
      let res = 0;
      for (const [d0, d1] of pairs) res += (d1 - kept * d0) ** 2;
      console.log(`  ${attackName.padEnd(24)} kept ${kept.toFixed(2)}  residual ${Math.sqrt(res / pairs.length).toFixed(3)}  (${pairs.length} cells)`);
    }
  }
  const total = [...opusModes.values()].reduce((a, b) => a + b, 0);
  console.log(`\nOpus packets by mode: ${[...opusModes].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${((100 * n) / total).toFixed(1)} %`).join(', ')} (${total} packets)`);
  rmSync(work, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });

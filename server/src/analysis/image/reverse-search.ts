/**
 * Perceptual hashes and matching against images a team registered earlier.
 *
 * Two 64-bit hashes per image: a DCT hash (32×32 grey, 2-D DCT, the 8×8 lowest frequencies
 * without DC compared with their median) and a difference hash (9×8 grey, left < right).
 * Similarity is 1 − Hamming/64, averaged over both hashes. A match needs ≥ 0.875 on both
 * (≤ 8 of 64 bits differ): re-encoding, resizing and mild colour changes stay above it in the
 * tests, while unrelated photographs differ in ~32 bits (similarity ~0.5), and the chance that
 * 64 independent fair bits agree in ≥ 56 places is ~5e-10 per hash.
 */
import sharp from 'sharp';

export type ReverseSearchVerdict = 'known_fake' | 'known_real' | 'analysed';

export interface ReverseSearchEntry {
  /** "p:<16 hex>;d:<16 hex>" from `perceptualHash`. */
  hash: string;
  detectId?: string;
  label: ReverseSearchVerdict;
  title?: string;
  url?: string;
}

export interface ReverseSearchStore {
  add(teamId: string, entry: ReverseSearchEntry): Promise<void>;
  list(teamId: string): Promise<ReverseSearchEntry[]>;
}

/** For tests and single-process use; the server's SQL store implements the same interface. */
export class InMemoryReverseSearchStore implements ReverseSearchStore {
  private readonly byTeam = new Map<string, ReverseSearchEntry[]>();
  async add(teamId: string, entry: ReverseSearchEntry): Promise<void> {
    const list = this.byTeam.get(teamId) ?? [];
    list.push({ ...entry });
    this.byTeam.set(teamId, list);
  }
  async list(teamId: string): Promise<ReverseSearchEntry[]> {
    return (this.byTeam.get(teamId) ?? []).map((e) => ({ ...e }));
  }
}

export const MATCH_SIMILARITY = 0.875;

async function greyPixels(input: Buffer | { data: Uint8Array; width: number; height: number }, w: number, h: number): Promise<Uint8Array> {
  const img = Buffer.isBuffer(input)
    ? sharp(input, { limitInputPixels: 50_000_000, pages: 1 })
    : sharp(Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength), { raw: { width: input.width, height: input.height, channels: 3 } });
  const buf = await img.removeAlpha().greyscale().resize(w, h, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, w * h);
}

function dctHash(grey: Uint8Array): bigint {
  const n = 32;
  const cos: number[][] = [];
  for (let k = 0; k < 8; k++) { cos.push([]); for (let x = 0; x < n; x++) cos[k].push(Math.cos(((2 * x + 1) * k * Math.PI) / (2 * n))); }
  const rows = new Float64Array(n * 8);
  for (let y = 0; y < n; y++) for (let k = 0; k < 8; k++) {
    let s = 0;
    for (let x = 0; x < n; x++) s += grey[y * n + x] * cos[k][x];
    rows[y * 8 + k] = s;
  }
  const coef: number[] = [];
  for (let l = 0; l < 8; l++) for (let k = 0; k < 8; k++) {
    let s = 0;
    for (let y = 0; y < n; y++) s += rows[y * 8 + k] * cos[l][y];
    coef.push(s);
  }
  const ac = coef.slice(1);
  const sorted = [...ac].sort((a, b) => a - b);
  const median = (sorted[31] + sorted[32]) / 2;
  let hash = 0n;
  for (let i = 0; i < 64; i++) hash = (hash << 1n) | (coef[i] > median ? 1n : 0n);
  return hash;
}

function differenceHash(grey: Uint8Array): bigint {
  let hash = 0n;
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) hash = (hash << 1n) | (grey[y * 9 + x] < grey[y * 9 + x + 1] ? 1n : 0n);
  return hash;
}

const hex = (h: bigint) => h.toString(16).padStart(16, '0');

/** Perceptual hash string of encoded image bytes or decoded RGB pixels. */
export async function perceptualHash(input: Buffer | { data: Uint8Array; width: number; height: number }): Promise<string> {
  const [g32, g9] = await Promise.all([greyPixels(input, 32, 32), greyPixels(input, 9, 8)]);
  return `p:${hex(dctHash(g32))};d:${hex(differenceHash(g9))}`;
}

function parseHash(hash: string): { p: bigint; d: bigint } | null {
  const m = /^p:([0-9a-f]{16});d:([0-9a-f]{16})$/.exec(hash);
  return m ? { p: BigInt(`0x${m[1]}`), d: BigInt(`0x${m[2]}`) } : null;
}

function popcount(x: bigint): number {
  let n = 0;
  while (x) { n += Number(x & 1n); x >>= 1n; }
  return n;
}

/** Per-hash similarities (1 − Hamming/64), or null for malformed hashes. */
export function hashSimilarity(a: string, b: string): { dct: number; difference: number; similarity: number } | null {
  const x = parseHash(a), y = parseHash(b);
  if (!x || !y) return null;
  const dct = 1 - popcount(x.p ^ y.p) / 64;
  const difference = 1 - popcount(x.d ^ y.d) / 64;
  return { dct, difference, similarity: (dct + difference) / 2 };
}

export interface ReverseImageSource {
  url: string | null;
  title: string | null;
  reason: string;
  verdict: ReverseSearchVerdict;
  similarity: number;
  detect_id?: string;
}

export async function findMatches(store: ReverseSearchStore, teamId: string, hash: string, limit = 10): Promise<ReverseImageSource[]> {
  const matches: ReverseImageSource[] = [];
  for (const entry of await store.list(teamId)) {
    const s = hashSimilarity(hash, entry.hash);
    if (!s || s.dct < MATCH_SIMILARITY || s.difference < MATCH_SIMILARITY) continue;
    matches.push({
      url: entry.url ?? null,
      title: entry.title ?? null,
      reason: `perceptual hashes match (DCT ${(s.dct * 64).toFixed(0)}/64 bits, difference ${(s.difference * 64).toFixed(0)}/64 bits) an image registered as ${entry.label}${entry.detectId ? ` (detect ${entry.detectId})` : ''}`,
      verdict: entry.label,
      similarity: Math.round(s.similarity * 1e4) / 1e4,
      ...(entry.detectId ? { detect_id: entry.detectId } : {}),
    });
  }
  return matches.sort((a, b) => b.similarity - a.similarity).slice(0, limit);
}

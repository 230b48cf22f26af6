/**
 * `npm run eval:image` — evaluation of the image analyser on packaged photographs.
 * `node dist/bench/eval-image.js --calibrate [--save-features FILE]` — (re)writes the forensic
 * calibration from the tuning packages only (rules in forensics/threshold-rules.ts) and prints
 * per-variant tuning checks; FILE receives the per-image tuning statistics it was computed from.
 *
 * Data (bench/fetch-images.sh, cached under data/image-cache/extract; override DISCERN_IMAGE_CACHE):
 *   tuning   = opencv-doc camera photos + labelme-examples photos + mate-backgrounds nature photos
 *              + gcompris-qt-data photo bundles explore_farm_animals, explore_world_music, clickgame, categorization
 *   held-out = plasma-workspace-wallpapers camera photos + gcompris-qt-data bundles explore_monuments,
 *              explore_world_animals, erase (WebP in Qt .rcc)
 *   renders  = gnome-backgrounds, ukui-wallpapers, sway-backgrounds (human-made, not photos)
 * Split by package or by gcompris bundle, never by file. Nothing held out is used to set a threshold.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry, shippedModelsDir } from '../server/src/inference/model-registry.js';
import { analyseImageBytes } from '../server/src/analysis/image/index.js';
import { decodeImage } from '../server/src/analysis/image/decode.js';
import { computeForensicFeatures } from '../server/src/analysis/image/forensics/residual.js';
import { centralCrop, MAX_FORENSIC_SIDE, scoreFeatures } from '../server/src/analysis/image/forensics/index.js';
import { FORENSIC_CALIBRATION, type ForensicCalibration } from '../server/src/analysis/image/forensics/calibration.js';
import { median, noiseShiftThreshold, quantileThreshold } from '../server/src/analysis/image/forensics/threshold-rules.js';
import { buildProvenanceFixtures } from '../server/src/analysis/image/fixtures.js';
import type { DetectOptions } from '../server/src/analysis/types.js';

const CACHE = process.env.DISCERN_IMAGE_CACHE ?? path.resolve('data/image-cache/extract');
const QUICK = process.argv.includes('--quick');

interface Photo { source: string; name: string; bytes: Buffer }

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const seen = new Set<string>();
function addUnique(list: Photo[], source: string, name: string, bytes: Buffer) {
  const h = createHash('sha1').update(bytes).digest('hex');
  if (seen.has(h)) return;
  seen.add(h);
  list.push({ source, name, bytes });
}

const OPENCV_PHOTOS = /^(HappyFish|aero[13]|aloe[LR]|apple|baboon|basketball[12]|board|box|box_in_scene|building|butterfly|fruits|graf[13]|home|left\d*|right\d*|leuven[AB]|messi5|orange|rubberwhale[12]|smarties|squirrel_cls|stuff|ela_original|chicky_512|cards)\.(jpg|png)$/;
const PLASMA_PHOTOS = ['Autumn', 'BytheWater', 'ColdRipple', 'ColorfulCups', 'DarkestHour', 'EveningGlow', 'FallenLeaf', 'Grey', 'Kite', 'OneStandsOut', 'Path'];
// Bundles whose large opaque images are photographs (checked by eye on contact sheets; `babyshapes`
// holds paintings, `details` mixes paintings with monument photos that look like the
// `explore_monuments` ones, so both are left out). `explore_world_music` and the
// underwater `clickgame` backgrounds were added on 2026-12-01 to enlarge the held-out set.
const GCOMPRIS_PHOTO_BUNDLES = ['explore_monuments', 'explore_world_animals', 'explore_farm_animals', 'erase', 'categorization', 'explore_world_music', 'clickgame'];
// On 2026-12-01 (third session) these bundles moved to the TUNING side, every photo of a bundle
// together: the tuning packages held no lossy-WebP web photos, the regime in which the held-out
// false positives after 50% resizing arose, so calibration could not see it. Rule for choosing:
// move the bundles with no held-out false positive in the last evaluation and keep those that had
// them (explore_monuments, explore_world_animals) and the large `erase` set held out, so the
// held-out figures still test the failure instead of removing it. All remaining held-out photos
// were seen before (docs/image-analysis.md): their figures stay optimistic.
const GCOMPRIS_TUNING_BUNDLES = new Set(['explore_farm_animals', 'explore_world_music', 'clickgame', 'categorization']);

/** WebP files stored uncompressed inside a Qt resource bundle (found by their RIFF headers). */
function webpFromRcc(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = bytes.indexOf('RIFF');
  while (at >= 0 && at + 12 <= bytes.length) {
    const size = bytes.readUInt32LE(at + 4);
    if (bytes.toString('latin1', at + 8, at + 12) === 'WEBP' && at + 8 + size <= bytes.length) {
      out.push(bytes.subarray(at, at + 8 + size));
      at = bytes.indexOf('RIFF', at + 8 + size);
    } else at = bytes.indexOf('RIFF', at + 4);
  }
  return out;
}

async function collect(): Promise<{ tuning: Photo[]; heldOut: Photo[]; renders: Photo[] }> {
  const tuning: Photo[] = [], heldOut: Photo[] = [], renders: Photo[] = [];
  for (const f of walk(path.join(CACHE, 'opencv-doc'))) if (f.includes('examples/data/') && OPENCV_PHOTOS.test(path.basename(f))) addUnique(tuning, 'opencv-doc', path.basename(f), readFileSync(f));
  for (const f of walk(path.join(CACHE, 'labelme-examples'))) if (/\.jpe?g$/i.test(f) && !/Visualization|\.readme/.test(f)) addUnique(tuning, 'labelme-examples', path.basename(f), readFileSync(f));
  for (const f of walk(path.join(CACHE, 'mate-backgrounds'))) if (f.includes('/nature/') && /\.(jpe?g|png)$/i.test(f)) addUnique(tuning, 'mate-backgrounds', path.basename(f), readFileSync(f));
  for (const name of PLASMA_PHOTOS) {
    const dir = path.join(CACHE, 'plasma-workspace-wallpapers/usr/share/wallpapers', name, 'contents/images');
    if (!existsSync(dir)) continue;
    const largest = readdirSync(dir).sort((a, b) => statSync(path.join(dir, b)).size - statSync(path.join(dir, a)).size)[0];
    if (largest) addUnique(heldOut, 'plasma-workspace-wallpapers', name, readFileSync(path.join(dir, largest)));
  }
  for (const bundle of GCOMPRIS_PHOTO_BUNDLES) {
    const f = path.join(CACHE, 'gcompris-qt-data/usr/share/gcompris-qt/rcc', `${bundle}.rcc`);
    if (!existsSync(f)) continue;
    let i = 0;
    for (const webp of webpFromRcc(readFileSync(f))) {
      const meta = await sharp(webp).metadata().catch(() => null);
      // Photographs here are large lossy images; small ones are icons or illustrations.
      if (!meta?.width || !meta.height || Math.min(meta.width, meta.height) < 300 || meta.hasAlpha) continue;
      if (GCOMPRIS_TUNING_BUNDLES.has(bundle)) addUnique(tuning, 'gcompris-qt-data(tuning bundles)', `${bundle}#${i++}`, webp);
      else addUnique(heldOut, 'gcompris-qt-data', `${bundle}#${i++}`, webp);
    }
  }
  for (const pkg of ['gnome-backgrounds', 'ukui-wallpapers', 'sway-backgrounds']) {
    for (const f of walk(path.join(CACHE, pkg))) if (/\.(jpe?g|png|webp)$/i.test(f)) addUnique(renders, pkg, path.basename(f), readFileSync(f));
  }
  return { tuning, heldOut, renders };
}

type Variant = 'as-is' | 'jpeg75' | 'resize50' | 'platform1080' | 'png' | 'jpeg95' | 'webp80' | 'webp75half' | 'webp512';
// webp75half (WebP 75, then halved) reproduces the regime of the held-out resize50 false positives
// on tuning photos and is used for thresholds; webp512 stays a check only, as before.
const CALIBRATION_VARIANTS: Variant[] = ['as-is', 'jpeg75', 'resize50', 'platform1080', 'png', 'jpeg95', 'webp80', 'webp75half', 'webp512'];
async function variant(bytes: Buffer, v: Variant): Promise<Buffer> {
  const s = () => sharp(bytes, { limitInputPixels: 50_000_000, pages: 1 }).removeAlpha();
  switch (v) {
    case 'as-is': return bytes;
    case 'jpeg75': return s().jpeg({ quality: 75 }).toBuffer();
    case 'jpeg95': return s().jpeg({ quality: 95 }).toBuffer();
    case 'png': return s().png({ compressionLevel: 1 }).toBuffer();
    case 'webp80': return s().webp({ quality: 80 }).toBuffer();
    case 'resize50': {
      const m = await sharp(bytes).metadata();
      return s().resize(Math.max(1, Math.round((m.width ?? 2) / 2))).png({ compressionLevel: 1 }).toBuffer();
    }
    case 'webp75half': {
      const m = await sharp(bytes).metadata();
      const lossy = await s().webp({ quality: 75 }).toBuffer();
      return sharp(lossy).resize(Math.max(1, Math.round((m.width ?? 2) / 2))).png({ compressionLevel: 1 }).toBuffer();
    }
    case 'webp512': {
      const lossy = await s().webp({ quality: 80 }).toBuffer();
      return sharp(lossy).resize(512).png({ compressionLevel: 1 }).toBuffer();
    }
    case 'platform1080': return s().resize(1080, 1080, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 85 }).toBuffer();
  }
}

/** The photo with Gaussian noise (σ grey levels, seeded) added to its central third × third, as PNG. */
async function noisySplice(bytes: Buffer, sigma: number, seed: number): Promise<Buffer> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = info;
  const out = Buffer.from(data);
  let s = seed >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
  const x0 = Math.floor(w / 3), y0 = Math.floor(h / 3);
  for (let y = y0; y < y0 + Math.floor(h / 3); y++) for (let x = x0; x < x0 + Math.floor(w / 3); x++) {
    const n = sigma * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
    for (let c = 0; c < 3; c++) { const i = (y * w + x) * 3 + c; out[i] = Math.max(0, Math.min(255, Math.round(data[i] + n))); }
  }
  return sharp(out, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

/**
 * The photo with its central third × third blurred (Gaussian, σ px), as PNG: a smoother region, as
 * inpainting or local retouching leaves: a control for the noise statistic's smoother side.
 */
async function smoothedRegion(bytes: Buffer, sigma: number): Promise<Buffer> {
  const m = await sharp(bytes).metadata();
  const w = m.width ?? 0, h = m.height ?? 0;
  const box = { left: Math.floor(w / 3), top: Math.floor(h / 3), width: Math.floor(w / 3), height: Math.floor(h / 3) };
  const patch = await sharp(bytes).removeAlpha().extract(box).blur(sigma).png().toBuffer();
  return sharp(bytes).removeAlpha().composite([{ input: patch, left: box.left, top: box.top }]).png({ compressionLevel: 1 }).toBuffer();
}

/** Children labelled Fake; for frequency forensics also the statistic that put it over (part score ≥ 0.5). */
function firingParts(m: Record<string, unknown>): string {
  return (m.children as { type: string; label: string; details?: { part_scores?: Record<string, number> } }[])
    .filter((c) => c.label === 'Fake')
    .map((c) => {
      const parts = Object.entries(c.details?.part_scores ?? {}).filter(([, v]) => v >= 0.5).map(([k]) => k);
      return parts.length ? `${c.type}(${parts.join('+')})` : c.type;
    })
    .join(', ');
}

const OPTIONS: DetectOptions = { visualize: false, frame_length: 2, intelligence: false, audio_source_tracing: false, use_reverse_search: false, use_ood_detector: false, zero_retention_mode: false };
const sink = { save: async (name: string) => `asset://${name}` };

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Calibration group of a tuning photo: its package, or for gcompris its bundle (the unit of the split). */
function tuningGroup(p: Photo): string {
  return p.source.startsWith('gcompris-qt-data') ? `gcompris:${p.name.split('#')[0]}` : p.source;
}

/** Up-scaled copy as in the eval's positive control: first down to ≤ 600 px wide, then up by `factor` (bilinear). */
async function upscaled(bytes: Buffer, factor: number): Promise<Buffer> {
  const m0 = await sharp(bytes).metadata();
  const w = Math.min(600, Math.round((m0.width ?? 600) / 2));
  const small = await sharp(bytes).removeAlpha().resize(w).png({ compressionLevel: 1 }).toBuffer();
  return sharp(small).resize(Math.round(w * factor), undefined, { kernel: 'linear' as never }).png({ compressionLevel: 1 }).toBuffer();
}

async function calibrate(tuning: Photo[]): Promise<ForensicCalibration> {
  type Check = Variant | 'up2x' | 'up1.5x' | 'splice8' | 'blur2';
  const isCheck = (v: Check) => v === 'webp512' || v === 'up2x' || v === 'up1.5x' || v === 'splice8' || v === 'blur2';
  type Feat = { v: Check; source: string; group: string; name: string; off: number; lat: number; noise: number; lowered: number; abstain: string | null };
  const feats: Feat[] = [], checks: Feat[] = [];
  const measure = async (p: Photo, v: Check, bytes: () => Promise<Buffer>) => {
    try {
      const decoded = await decodeImage(await bytes());
      const d = centralCrop(decoded.data, decoded.width, decoded.height, 3, MAX_FORENSIC_SIDE); // as at run time
      const f = computeForensicFeatures(d.data, d.width, d.height, 3);
      const row = { v, source: p.source, group: tuningGroup(p), name: p.name, off: f?.offGridPeak ?? 0, lat: f?.latticePeak ?? 0, noise: f?.noiseInconsistency ?? 0, lowered: f?.noiseLowered ?? 0, abstain: f?.noiseAbstain ?? null };
      if (f) (isCheck(v) ? checks : feats).push(row);
    } catch { /* undecodable variants are skipped */ }
  };
  for (const p of tuning) {
    // webp512 is a check only (not used for thresholds): a lossy WebP photo halved to ~512 px, the
    // condition of the held-out resize50 false positives, reproduced on tuning photos.
    for (const v of CALIBRATION_VARIANTS) await measure(p, v, () => variant(p.bytes, v));
    // Positive checks on tuning photos (not used for thresholds): up-scaled by 2 (the lattice
    // statistic's case, as in the eval's held-out control) and by 1.5 (off the codec lattice, the
    // off-grid statistic's case), so a threshold rule's cost in sensitivity is visible here.
    await measure(p, 'up2x', () => upscaled(p.bytes, 2));
    await measure(p, 'up1.5x', () => upscaled(p.bytes, 1.5));
    // and a noisier pasted region (σ 8, central ninth, as in the eval's splice control): the noise
    // statistic's case.
    await measure(p, 'splice8', () => noisySplice(p.bytes, 8, tuning.indexOf(p) + 1001));
    // and a smoother region (central ninth blurred, σ 2 px), as inpainting or retouching leaves.
    await measure(p, 'blur2', () => smoothedRegion(p.bytes, 2));
  }
  const saveAt = process.argv.indexOf('--save-features');
  if (saveAt > 0 && process.argv[saveAt + 1]) {
    // Diagnostics: the per-image statistics the thresholds below are computed from (tuning only).
    writeFileSync(path.resolve(process.argv[saveAt + 1]), JSON.stringify({ feats, checks }));
    console.log(`  tuning features written to ${process.argv[saveAt + 1]}`);
  }
  const fused = (f: Feat, c: ForensicCalibration) => scoreFeatures({ offGridPeak: f.off, latticePeak: f.lat, noiseInconsistency: f.noise, noiseAbstain: f.abstain } as never, c);
  // Thresholds per statistic FAMILY, each from its own calibration set and its own rule, so that
  // data added for one family cannot move another's threshold. (Until 2026-12-01 one loop raised a
  // shared quantile until the fused score of all three statistics flagged ≤ 1% of tuning images;
  // once the noise statistic had its own max-plus-margin rule and flagged none, that loop stopped
  // earlier and the off-grid threshold fell, 6.3393 → 6.2991, only because noise-statistic tuning
  // photos had been added.)
  //
  // Spectral family (off-grid and lattice peaks): calibrated on the set it was calibrated on before
  // the gcompris bundles and the WebP 75 + halving variant were added for the noise statistic —
  // the three camera-photo packages in seven variants — at the quantile that calibration settled
  // on, 0.999, which below 1000 images is each statistic's tuning maximum. Those additions were
  // chosen for the noise statistic's failure; the spectral statistics had no held-out false
  // positive on photos to correct, so their calibration stays as it was.
  const SPECTRAL_Q = 0.999;
  const spectralSet = feats.filter((f) => !f.group.startsWith('gcompris:') && f.v !== 'webp75half');
  // Noise-consistency family: all tuning photos in all eight variants; threshold = the largest,
  // over variants, of the variant's tuning maximum plus its source shift. A source shift is how far
  // one calibration group's maximum exceeds the maximum of all the other groups, leaving one group
  // out at a time; a group is a tuning package, and for gcompris one BUNDLE (the unit of the split,
  // so bundle-to-bundle variation counts as a shift). It is measured within one variant at a time
  // (a halved WebP photo compared with other halved WebP photos): the statistic's tail depends on
  // the processing (small images have few blocks), so pooling all variants first would compare
  // only the two groups that hold the pooled top values and hide a bundle that stands out in one
  // regime (`threshold-rules.ts`).
  const noise = noiseShiftThreshold(feats.map((f) => ({ ...f, variant: f.v })));
  for (const r of noise.perVariant) console.log(`  noise-consistency ${r.variant.padEnd(12)} tuning max ${r.max.toFixed(3)} + shift ${r.shift.toFixed(3)}${r.by ? ` (${r.by.group} ${r.by.own.toFixed(3)} vs others ${r.by.others.toFixed(3)})` : ''} = ${r.threshold.toFixed(3)}`);
  // For comparison, the rule before this change (one shift over all variants pooled), with bundles as groups.
  console.log(`  (pooled over variants, bundle groups: tuning max ${noise.pooled.max.toFixed(3)} + shift ${noise.pooled.shift.toFixed(3)} = ${(noise.pooled.max + noise.pooled.shift).toFixed(3)}; not used)`);
  const cal: ForensicCalibration = {
    version: `tuning-${new Date().toISOString().slice(0, 10)}-families`,
    source: `spectral: opencv-doc camera photos, labelme-examples photos, mate-backgrounds nature photos; variants as-is, JPEG 75, JPEG 95, PNG, WebP 80, 50% resize, 1080 px + JPEG 85; threshold = q${SPECTRAL_Q} (${spectralSet.length} images). noise consistency: the same plus gcompris-qt-data bundles explore_farm_animals, explore_world_music, clickgame, categorization and a WebP 75 then 50% resize variant; threshold = max over variants of (tuning maximum + leave-one-group-out shift), groups = packages and gcompris bundles`,
    photos: tuning.length, variants: feats.length, false_positive_rate: 0,
    offGridPeak: quantileThreshold(spectralSet.map((f) => f.off), SPECTRAL_Q),
    latticePeak: quantileThreshold(spectralSet.map((f) => f.lat), SPECTRAL_Q),
    noiseInconsistency: noise.calibration,
  };
  const flagged = feats.filter((f) => fused(f, cal).score >= 0.5).length;
  cal.false_positive_rate = Math.round((flagged / feats.length) * 1e4) / 1e4;
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  const fmt = (s: { median: number; threshold: number }) => `{ median: ${round(s.median)}, threshold: ${round(s.threshold)} }`;
  const file = path.resolve('server/src/analysis/image/forensics/calibration.ts');
  const text = readFileSync(file, 'utf8');
  const head = text.slice(0, text.indexOf('export const FORENSIC_CALIBRATION'));
  writeFileSync(file, `${head}export const FORENSIC_CALIBRATION: ForensicCalibration = {
  version: ${JSON.stringify(cal.version)},
  source: ${JSON.stringify(cal.source)},
  photos: ${cal.photos},
  variants: ${cal.variants},
  false_positive_rate: ${cal.false_positive_rate},
  offGridPeak: ${fmt(cal.offGridPeak)},
  latticePeak: ${fmt(cal.latticePeak)},
  noiseInconsistency: ${fmt(cal.noiseInconsistency)},
};
`);
  // Per-variant false positives on the tuning photos with the chosen calibration (the resized ones
  // are where small images used to trip the noise-consistency statistic).
  const blurred = checks.filter((f) => f.v === 'blur2' && !f.abstain);
  console.log(`  tuning blur2         measured ${blurred.length}: noise statistic at or above its threshold ${blurred.filter((f) => f.noise >= cal.noiseInconsistency.threshold).length}, through the smoother side ${blurred.filter((f) => f.lowered >= cal.noiseInconsistency.threshold).length}  [check only: central ninth blurred, σ 2 px]`);
  for (const v of [...CALIBRATION_VARIANTS, 'up2x', 'up1.5x', 'splice8'] as Check[]) {
    const set = (isCheck(v) ? checks : feats).filter((f) => f.v === v);
    const hit = set.filter((f) => fused(f, cal).score >= 0.5).length;
    const noiseHit = set.filter((f) => fused(f, cal).parts.noiseInconsistency >= 0.5).length;
    const abstained = set.filter((f) => f.abstain).length;
    const positive = v === 'up2x' || v === 'up1.5x' || v === 'splice8';
    const note = v === 'webp512' ? '  [check only: WebP 80 then 512 px wide]' : positive ? `  [positive check, not used for thresholds: ${v === 'splice8' ? 'σ 8 noise pasted into the central ninth' : `${v.slice(2)} up-scaled`}]` : '';
    console.log(`  tuning ${v.padEnd(13)} n=${set.length}  ${positive ? 'flagged' : 'FPR'} ${pct(hit / Math.max(1, set.length))} (${hit}; noise-consistency ${noiseHit}, abstained ${abstained})${note}`);
  }
  console.log(`calibration written to ${path.relative(process.cwd(), file)} (${cal.version}; tuning FPR ${pct(cal.false_positive_rate)} over ${feats.length} images) — rebuild before evaluating with it`);
  return cal;
}

async function main() {
  if (!existsSync(CACHE)) {
    console.error(`no image cache at ${CACHE}; run bench/fetch-images.sh first`);
    process.exit(2);
  }
  const { tuning, heldOut: allHeldOut, renders } = await collect();
  const heldOut = QUICK ? allHeldOut.filter((_, i) => i % 4 === 0) : allHeldOut;
  console.log(`photos: tuning ${tuning.length} (${[...new Set(tuning.map((p) => p.source))].join(', ')}), held-out ${heldOut.length} (${[...new Set(heldOut.map((p) => p.source))].join(', ')}), renders ${renders.length}`);
  const dumpAt = process.argv.indexOf('--dump-tuning');
  if (dumpAt > 0) {
    // Diagnostics: every tuning photo in every calibration variant, decoded and cropped as at run
    // time, as raw RGB files plus an index, so a candidate statistic can be studied on tuning data
    // without re-encoding (and without touching held-out photos).
    const dir = path.resolve(process.argv[dumpAt + 1] ?? 'data/tuning-dump');
    mkdirSync(dir, { recursive: true });
    const index: { file: string; source: string; name: string; variant: Variant; width: number; height: number }[] = [];
    for (const [k, p] of tuning.entries()) for (const v of CALIBRATION_VARIANTS) {
      try {
        const decoded = await decodeImage(await variant(p.bytes, v));
        const d = centralCrop(decoded.data, decoded.width, decoded.height, 3, MAX_FORENSIC_SIDE);
        const file = `${k}-${v}.rgb`;
        writeFileSync(path.join(dir, file), d.data);
        index.push({ file, source: p.source, name: p.name, variant: v, width: d.width, height: d.height });
      } catch { /* undecodable variants are skipped, as in calibration */ }
    }
    writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
    console.log(`${index.length} tuning images written to ${dir}`);
    return;
  }
  if (process.argv.includes('--calibrate')) {
    await calibrate(tuning);
    return;
  }
  const shipped = new ModelRegistry([process.env.DISCERN_MODELS_DIR ?? '', shippedModelsDir()].filter(Boolean));
  const learned = shipped.findByTask('image-synthetic');
  console.log(`forensic calibration: ${FORENSIC_CALIBRATION.version}; learned model: ${learned ? `${learned.manifest.name}@${learned.manifest.version}` : 'none installed'}`);
  const analyse = async (bytes: Buffer, models = shipped) => analyseImageBytes(bytes, { options: OPTIONS, artifacts: sink, teamId: 'eval', detectId: 'eval' }, { models });

  // 1. False positives on held-out real photographs.
  const variants: Variant[] = ['as-is', 'jpeg75', 'resize50', 'platform1080'];
  const fp: Record<string, { n: number; fake: number; unknown: number; errors: number }> = {};
  const verdicts = new Map<string, Partial<Record<Variant, string>>>();
  const firingCounts = new Map<string, number>();
  const fpNames = new Set<string>();
  for (const v of [...variants, 'png', 'jpeg95'] as Variant[]) fp[v] = { n: 0, fake: 0, unknown: 0, errors: 0 };
  for (const p of heldOut) {
    const row: Partial<Record<Variant, string>> = {};
    for (const v of [...variants, 'png', 'jpeg95'] as Variant[]) {
      fp[v].n++;
      try {
        const m = await analyse(await variant(p.bytes, v));
        row[v] = m.label as string;
        if (m.label === 'Fake') {
          fp[v].fake++;
          const firing = firingParts(m).split(', ');
          for (const t of firing) firingCounts.set(t, (firingCounts.get(t) ?? 0) + 1);
          fpNames.add(`${p.source}/${p.name}`);
        }
        if (m.label === 'Unknown') fp[v].unknown++;
      } catch (error) {
        fp[v].errors++;
        row[v] = 'error';
      }
    }
    verdicts.set(`${p.source}/${p.name}`, row);
  }
  console.log('\n== false-positive rate on held-out real photographs (label "Fake"; target ≤ 1%)');
  for (const v of [...variants, 'png', 'jpeg95'] as Variant[]) {
    const r = fp[v];
    console.log(`  ${v.padEnd(13)} n=${r.n}  FPR ${pct(r.fake / r.n)}  (Unknown ${pct(r.unknown / r.n)}, errors ${r.errors})`);
  }
  console.log(`  components behind the false positives (all variants): ${[...firingCounts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}; images: ${[...fpNames].join(', ') || 'none'}`);
  let flips = 0;
  for (const row of verdicts.values()) if (new Set([row.png, row.jpeg95, row.jpeg75]).size > 1) flips++;
  console.log(`\n== verdict flips between PNG, JPEG 95 and JPEG 75 versions (target ≤ 3%): ${flips}/${verdicts.size} = ${pct(flips / Math.max(1, verdicts.size))}`);

  // 2. Human-made renders (not AI, not photos): reported, not a target.
  let renderFake = 0;
  const renderFiring: string[] = [];
  for (const p of renders) {
    try {
      const m = await analyse(p.bytes);
      if (m.label === 'Fake') {
        renderFake++;
        renderFiring.push(`${p.source}/${p.name}: ${firingParts(m)}`);
      }
    } catch { /* counted as not Fake */ }
  }
  console.log(`\n== human-made renders/illustrations labelled Fake: ${renderFake}/${renders.length} = ${pct(renderFake / Math.max(1, renders.length))} (firing: ${renderFiring.join(', ') || 'none'})`);

  // 3. Forensic sensitivity to local resampling (positive control made here: 2× bilinear up-scaling).
  let upFlag = 0, upN = 0;
  for (const p of heldOut.slice(0, QUICK ? 8 : 24)) {
    const m0 = await sharp(p.bytes).metadata();
    const w = Math.min(600, Math.round((m0.width ?? 600) / 2));
    // Two pipelines: sharp applies only the last resize of one pipeline.
    const small = await sharp(p.bytes).removeAlpha().resize(w).png({ compressionLevel: 1 }).toBuffer();
    const up = await sharp(small).resize(w * 2, undefined, { kernel: 'linear' as never }).png({ compressionLevel: 1 }).toBuffer();
    const m = await analyse(up, new ModelRegistry([]));
    upN++;
    if ((m.ifl as { score: number }).score >= 0.5) upFlag++;
  }
  console.log(`== frequency forensics on 2× up-scaled held-out photos (locally made positive control): flagged ${upFlag}/${upN} = ${pct(upFlag / Math.max(1, upN))}`);

  // 3b. Noise-consistency sensitivity (positive control made here): the central ninth of the photo
  // gets extra Gaussian noise (σ = 8 grey levels), as when a region from a noisier source is pasted in.
  let spliceFlag = 0, spliceN = 0;
  for (const p of heldOut.slice(0, QUICK ? 8 : 24)) {
    const spliced = await noisySplice(p.bytes, 8, spliceN + 1);
    const m = await analyse(spliced, new ModelRegistry([]));
    spliceN++;
    const forensic = (m.children as { type: string; details?: { part_scores?: Record<string, number> } }[]).find((c) => c.type === 'FrequencyAnalysis');
    if ((forensic?.details?.part_scores?.noiseInconsistency ?? 0) >= 0.5) spliceFlag++;
  }
  console.log(`== noise-consistency statistic on held-out photos with a noisier pasted region (locally made positive control, σ 8): flagged ${spliceFlag}/${spliceN} = ${pct(spliceFlag / Math.max(1, spliceN))}`);
  // The same on tuning photos: camera JPEGs that mostly keep measurable noise, unlike the WebP
  // held-out photos (a sensitivity check only; nothing is tuned on it).
  let tuneFlag = 0, tuneN = 0;
  for (const p of tuning) {
    if (tuneN >= (QUICK ? 8 : 24)) break;
    const meta = await sharp(p.bytes).metadata();
    if (Math.min(meta.width ?? 0, meta.height ?? 0) < 256) continue; // too small for forensics
    const m = await analyse(await noisySplice(p.bytes, 8, tuneN + 101), new ModelRegistry([]));
    tuneN++;
    const forensic = (m.children as { type: string; details?: { part_scores?: Record<string, number> } }[]).find((c) => c.type === 'FrequencyAnalysis');
    if ((forensic?.details?.part_scores?.noiseInconsistency ?? 0) >= 0.5) tuneFlag++;
  }
  console.log(`   the same on tuning photos (camera JPEGs): flagged ${tuneFlag}/${tuneN} = ${pct(tuneFlag / Math.max(1, tuneN))}`);
  // 3c. A smoother region (central ninth blurred, σ 2 px), as inpainting or retouching leaves: the
  // other direction the statistic is meant to see.
  let smoothN = 0, smoothFlag = 0, smoothLowered = 0;
  for (const p of heldOut.slice(0, QUICK ? 8 : 24)) {
    const m = await analyse(await smoothedRegion(p.bytes, 2), new ModelRegistry([]));
    smoothN++;
    const forensic = (m.children as { type: string; details?: { noise_smoother_regions?: number; part_scores?: Record<string, number> } }[]).find((c) => c.type === 'FrequencyAnalysis');
    if ((forensic?.details?.part_scores?.noiseInconsistency ?? 0) >= 0.5) smoothFlag++;
    if ((forensic?.details?.noise_smoother_regions ?? 0) >= FORENSIC_CALIBRATION.noiseInconsistency.threshold) smoothLowered++;
  }
  console.log(`== noise-consistency statistic on held-out photos with a smoothed region (locally made positive control, central ninth blurred σ 2 px): flagged ${smoothFlag}/${smoothN} = ${pct(smoothFlag / Math.max(1, smoothN))} (${smoothLowered} through the smoother side)`);

  // 4. Provenance fixtures.
  const fixtures = await buildProvenanceFixtures();
  let correct = 0;
  const wrong: string[] = [];
  for (const f of fixtures) {
    const m = await analyse(f.bytes, new ModelRegistry([]));
    const children = m.children as { type: string; label: string; decisive?: boolean }[];
    const fakeTypes = children.filter((c) => c.label === 'Fake' && c.decisive).map((c) => c.type);
    const ok = f.expectFakeType ? fakeTypes.includes(f.expectFakeType) && m.label === 'Fake' : fakeTypes.length === 0;
    if (ok) correct++; else wrong.push(f.name);
  }
  const positives = fixtures.filter((f) => f.expectFakeType).length;
  console.log(`\n== provenance fixtures (target 100%): ${correct}/${fixtures.length} correct = ${pct(correct / fixtures.length)} (${positives} positives over ${new Set(fixtures.map((f) => f.expectFakeType).filter(Boolean)).size} signal types, ${fixtures.length - positives} negative controls)${wrong.length ? `; wrong: ${wrong.join('; ')}` : ''}`);

  // 5. Speed on a 1080p image, one libvips thread, no user models.
  sharp.concurrency(1);
  const source = heldOut.find((p) => p.source === 'plasma-workspace-wallpapers') ?? heldOut[0] ?? tuning[0];
  const hd = await sharp(source.bytes).removeAlpha().resize(1920, 1080, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
  const none = new ModelRegistry([]);
  await analyse(hd, none);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    await analyse(hd, none);
    times.push(performance.now() - t);
  }
  console.log(`\n== milliseconds per 1920×1080 JPEG (one libvips thread, no user models; target ≤ 500): median ${median(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)} ms`);
  if (learned) {
    await analyse(hd);
    const t = performance.now();
    for (let i = 0; i < 3; i++) await analyse(hd);
    console.log(`   with the shipped learned model: ${((performance.now() - t) / 3).toFixed(0)} ms`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

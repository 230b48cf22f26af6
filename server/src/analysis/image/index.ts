/**
 * Image analyser (GitHub issue #4): provenance, frequency forensics, the learned-detector slot,
 * fusion and perceptual-hash reverse search, returning Resemble-shaped `image_metrics`.
 */
import { readFile } from 'node:fs/promises';
import type { ModelRegistry } from '../../inference/model-registry.js';
import { AnalysisError, type Analyser, type AnalysisInput, type AnalysisOutput } from '../types.js';
import { decodeImage, type DecodedImage } from './decode.js';
import { round, runForensics } from './forensics/index.js';
import { FORENSIC_CALIBRATION } from './forensics/calibration.js';
import { fuse } from './fusion.js';
import { runLearnedDetector } from './learned.js';
import { analyseProvenance } from './provenance/index.js';
import { findMatches, perceptualHash, type ReverseSearchStore } from './reverse-search.js';
import type { ImageFinding } from './types.js';

export type { ImageFinding, ImageLabel } from './types.js';
export { InMemoryReverseSearchStore, perceptualHash, hashSimilarity, findMatches, MATCH_SIMILARITY } from './reverse-search.js';
export type { ReverseSearchStore, ReverseSearchEntry, ReverseSearchVerdict, ReverseImageSource } from './reverse-search.js';
export { analyseProvenance } from './provenance/index.js';
export { IMAGE_SYNTHETIC_TASK } from './learned.js';
export { MAX_INPUT_PIXELS } from './decode.js';

export interface ImageAnalyserDeps {
  models: ModelRegistry;
  reverseSearch?: ReverseSearchStore;
}

/** Largest image the DWT-DCT watermark reader runs on (generators emit ≤ 2048² images). */
const WATERMARK_MAX_PIXELS = 8_400_000;

export function createImageAnalyser(deps: ImageAnalyserDeps): Analyser {
  return {
    name: 'image',
    mediaTypes: ['image'] as const,
    async analyse(input: AnalysisInput): Promise<AnalysisOutput> {
      let bytes: Buffer;
      try {
        bytes = await readFile(input.mediaPath);
      } catch (error) {
        throw new AnalysisError(`image file could not be read: ${(error as Error).message}`);
      }
      if (bytes.length === 0) throw new AnalysisError('image file is empty');
      return { image_metrics: await analyseImageBytes(bytes, input, deps) };
    },
  };
}

/** The analysis itself, on bytes already in memory (used by the analyser and the evaluation). */
export async function analyseImageBytes(
  bytes: Buffer,
  input: Pick<AnalysisInput, 'options' | 'artifacts' | 'teamId' | 'detectId' | 'signal'>,
  deps: ImageAnalyserDeps,
): Promise<Record<string, unknown>> {
  const started = performance.now();
  const decoded: DecodedImage = await decodeImage(bytes);
  input.signal?.throwIfAborted();

  const provenance = await analyseProvenance(bytes, decoded.width * decoded.height <= WATERMARK_MAX_PIXELS ? decoded : null);
  input.signal?.throwIfAborted();

  const forensic = await runForensics(decoded.data, decoded.width, decoded.height, decoded.channels, input.options.visualize);
  input.signal?.throwIfAborted();

  let learned: Awaited<ReturnType<typeof runLearnedDetector>> = null;
  let learnedError: string | null = null;
  try {
    learned = await runLearnedDetector(deps.models, decoded.data, decoded.width, decoded.height);
  } catch (error) {
    // A broken user model must not hide the provenance result; say so in the output instead.
    learnedError = `learned detector failed: ${(error as Error).message}`;
  }

  const children: ImageFinding[] = [...provenance.findings, forensic.finding];
  if (learned) children.push(learned.finding);
  const fused = fuse({
    provenance: provenance.findings,
    forensic: forensic.features ? { score: forensic.score, threshold: forensic.threshold } : null,
    learned: learned ? { score: learned.score, threshold: learned.threshold, falseNegativeRate: learned.falseNegativeRate } : null,
  });

  let heatmapRef: string | null = null;
  if (input.options.visualize && forensic.heatmap) {
    heatmapRef = await input.artifacts.save(`${input.detectId}-image-heatmap.png`, forensic.heatmap, 'image/png');
  }

  const notes = [...decoded.notes, ...(learnedError ? [learnedError] : [])];
  if (provenance.warnings.length) notes.push(...provenance.warnings.slice(0, 10).map((w) => `metadata: ${w}`));

  const metrics: Record<string, unknown> = {
    type: 'FinalResult',
    label: fused.label,
    score: round(fused.score),
    image: heatmapRef,
    children: children.map(stripUndefined),
    ifl: { score: round(forensic.score), heatmap: heatmapRef },
    reason: fused.reason,
    ...(learned
      ? { model_version: learned.finding.model_version, threshold: learned.threshold, false_positive_rate: learned.finding.false_positive_rate }
      : { model_version: `image-forensics@${FORENSIC_CALIBRATION.version}`, threshold: forensic.threshold, false_positive_rate: FORENSIC_CALIBRATION.false_positive_rate }),
    format: decoded.format,
    width: decoded.width,
    height: decoded.height,
    notes,
  };

  if (input.options.use_reverse_search) {
    const hash = await perceptualHash(decoded);
    metrics.image_hash = hash;
    if (deps.reverseSearch) {
      metrics.reverse_image_search_sources = await findMatches(deps.reverseSearch, input.teamId, hash);
      if (!input.options.zero_retention_mode) {
        await deps.reverseSearch.add(input.teamId, { hash, detectId: input.detectId, label: 'analysed' });
      }
    } else {
      metrics.reverse_image_search_sources = [];
      notes.push('reverse search requested but no reverse-search store is configured');
    }
  }
  metrics.processing_ms = Math.round(performance.now() - started);
  return metrics;
}

function stripUndefined(finding: ImageFinding): ImageFinding {
  return Object.fromEntries(Object.entries(finding).filter(([, v]) => v !== undefined)) as unknown as ImageFinding;
}

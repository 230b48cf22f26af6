/**
 * Fusion of the image signals into the final label.
 *
 * 1. A decisive provenance finding (declared AI origin: C2PA / IPTC source type, generator
 *    parameter chunk, generator software tag, Stable Diffusion watermark) → "Fake".
 * 2. Otherwise the detectors, each against its own calibrated threshold: any that fires → "Fake"
 *    with the highest firing score.
 * 3. "Real" only when a learned model is installed whose manifest shows it misses at most 20% of
 *    the fakes it was measured on (metrics.false_negative_rate), it scores at most half its
 *    threshold, and the forensic score is below its threshold as well. Without a learned model nothing here can vouch
 *    for a photograph, so the answer is "Unknown" (camera EXIF and unsigned capture claims never count).
 */
import type { ImageFinding, ImageLabel } from './types.js';

export interface FusionInput {
  provenance: ImageFinding[];
  forensic: { score: number; threshold: number } | null;
  learned: { score: number; threshold: number; falseNegativeRate?: number } | null;
}

/** A learned model may call an image Real only if it has shown it misses at most this share of fakes. */
export const MAX_FNR_FOR_REAL = 0.2;

export interface FusionResult {
  label: ImageLabel;
  score: number;
  reason: string;
}

export function fuse({ provenance, forensic, learned }: FusionInput): FusionResult {
  const decisive = provenance.filter((f) => f.decisive && f.label === 'Fake');
  if (decisive.length > 0) {
    const top = decisive.reduce((a, b) => (b.score > a.score ? b : a));
    return { label: 'Fake', score: top.score, reason: `provenance: ${top.type} — ${top.evidence}` };
  }
  const firing: { name: string; score: number }[] = [];
  if (learned && learned.score >= learned.threshold) firing.push({ name: 'learned detector', score: learned.score });
  if (forensic && forensic.score >= forensic.threshold) firing.push({ name: 'frequency forensics', score: forensic.score });
  if (firing.length > 0) {
    const top = firing.reduce((a, b) => (b.score > a.score ? b : a));
    return { label: 'Fake', score: top.score, reason: `${firing.map((f) => f.name).join(' and ')} above calibrated threshold` };
  }
  const score = Math.max(learned?.score ?? 0, forensic?.score ?? 0);
  const learnedCanVouch = learned?.falseNegativeRate !== undefined && learned.falseNegativeRate <= MAX_FNR_FOR_REAL;
  if (learned && learnedCanVouch && learned.score <= learned.threshold / 2 && (!forensic || forensic.score < forensic.threshold)) {
    return { label: 'Real', score, reason: 'no provenance declaration; learned detector confidently below its threshold and no forensic trace (limited to generators like those it was trained on)' };
  }
  return {
    label: 'Unknown', score,
    reason: learned
      ? learnedCanVouch
        ? 'no provenance declaration and no detector confident either way'
        : `no provenance declaration and no detector fired; the learned model's measured miss rate (${learned.falseNegativeRate ?? 'not stated'}) is too high for it to vouch for authenticity`
      : 'no provenance declaration and no forensic trace; no learned detector is installed, so nothing here can vouch for authenticity',
  };
}

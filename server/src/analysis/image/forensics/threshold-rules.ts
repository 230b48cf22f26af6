/**
 * Threshold rules used by `node dist/bench/eval-image.js --calibrate` to write `calibration.ts`.
 * They live here, not in the bench script, so the rules themselves are under test.
 *
 * Each statistic family is calibrated on its own set by its own rule (docs/image-analysis.md,
 * "Frequency forensics" step 4): data added for one family must not move another's threshold, as
 * the shared-quantile loop before 2026-12-01 did.
 */
import type { StatCalibration } from './calibration.js';

/** One tuning image in one processing variant, as measured by `computeForensicFeatures`. */
export interface CalibrationRow {
  variant: string;
  /** Calibration group: a tuning package, or one gcompris bundle. */
  group: string;
  off: number;
  lat: number;
  noise: number;
  /** Non-null when the noise statistic abstained (it gave no evidence). */
  abstain: string | null;
}

/** The value that a share q of the values does not exceed (nearest rank: ceil(q·n)-th smallest). */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export const median = (values: number[]) => quantile(values, 0.5);

/**
 * Spectral statistic: threshold = quantile q over the family's calibration set (q 0.999 is the
 * maximum below 1000 images); never at or below the median, which would flatten the score map.
 */
export function quantileThreshold(values: number[], q: number): StatCalibration {
  const m = median(values);
  return { median: m, threshold: Math.max(quantile(values, q), m + 1e-3) };
}

export interface VariantShift {
  variant: string;
  /** Largest noise value over the variant's measured (non-abstaining) images. */
  max: number;
  /** Largest amount by which one group's maximum exceeded the maximum of all other groups (≥ 0). */
  shift: number;
  /** The group that set the shift, its maximum and the others' (empty when shift is 0). */
  by: { group: string; own: number; others: number } | null;
  threshold: number;
}

function maxNoise(rows: CalibrationRow[]): number | null {
  let m: number | null = null;
  for (const r of rows) if (m === null || r.noise > m) m = r.noise;
  return m;
}

/** Leave-one-group-out shift over a set of rows (the groups' maxima compared with each other). */
function groupShift(rows: CalibrationRow[]): { shift: number; by: VariantShift['by'] } {
  let shift = 0, by: VariantShift['by'] = null;
  for (const g of new Set(rows.map((r) => r.group))) {
    const own = maxNoise(rows.filter((r) => r.group === g)), others = maxNoise(rows.filter((r) => r.group !== g));
    // A group alone in a variant has nothing to be compared with, so it shows no shift.
    if (own === null || others === null) continue;
    if (own - others > shift) { shift = own - others; by = { group: g, own, others }; }
  }
  return { shift, by };
}

/**
 * Noise-consistency threshold: for each variant, its tuning maximum plus its leave-one-group-out
 * shift; the threshold is the largest of these. Measured within a variant because the statistic's
 * tail depends on the processing (halved images have few blocks): a group that stands out among
 * halved WebP photos is a source shift even when another variant holds the pooled top values.
 * Abstaining images are left out (they give no evidence). `pooled` is the same shift computed over
 * all variants at once (the rule before 2026-12-01, fourth session), reported for comparison.
 */
export function noiseShiftThreshold(rows: CalibrationRow[]): { calibration: StatCalibration; perVariant: VariantShift[]; pooled: { max: number; shift: number } } {
  const measured = rows.filter((r) => !r.abstain);
  const perVariant: VariantShift[] = [];
  for (const variant of new Set(measured.map((r) => r.variant))) {
    const inV = measured.filter((r) => r.variant === variant);
    const max = maxNoise(inV) ?? 0;
    const { shift, by } = groupShift(inV);
    perVariant.push({ variant, max, shift, by, threshold: max + shift });
  }
  const m = median(rows.map((r) => r.noise));
  const threshold = Math.max(m + 1e-3, ...perVariant.map((v) => v.threshold));
  return { calibration: { median: m, threshold }, perVariant, pooled: { max: maxNoise(measured) ?? 0, shift: groupShift(measured).shift } };
}

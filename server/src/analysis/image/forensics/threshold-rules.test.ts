import { describe, expect, it } from 'vitest';
import { noiseShiftThreshold, quantile, quantileThreshold, type CalibrationRow } from './threshold-rules.js';

const row = (variant: string, group: string, noise: number, abstain: string | null = null): CalibrationRow => ({ variant, group, off: 0, lat: 0, noise, abstain });

describe('calibration threshold rules', () => {
  it('takes the spectral quantile by nearest rank, which is the maximum below 1000 values at q 0.999', () => {
    const values = Array.from({ length: 563 }, (_, i) => i / 100);
    expect(quantile(values, 0.999)).toBe(5.62);
    expect(quantile(Array.from({ length: 2000 }, (_, i) => i), 0.999)).toBe(1997);
    expect(quantileThreshold(values, 0.999)).toEqual({ median: 2.81, threshold: 5.62 });
    // A constant statistic would put the threshold on the median (a step, not a score): kept above it.
    expect(quantileThreshold([1, 1, 1], 0.999).threshold).toBeCloseTo(1.001, 9);
  });

  it('measures the noise source shift within each variant, so a bundle that stands out in one regime counts', () => {
    const rows = [
      // as-is: package A holds the pooled maximum, bundles close together.
      row('as-is', 'A', 2.0), row('as-is', 'B', 1.9), row('as-is', 'gcompris:x', 1.8), row('as-is', 'gcompris:y', 1.7),
      // halved: one bundle stands 0.6 above every other group, but below the pooled maximum.
      row('half', 'A', 1.0), row('half', 'B', 1.1), row('half', 'gcompris:x', 1.7), row('half', 'gcompris:y', 1.1),
    ];
    const r = noiseShiftThreshold(rows);
    const half = r.perVariant.find((v) => v.variant === 'half')!;
    expect(half.shift).toBeCloseTo(0.6, 9);
    expect(half.by).toEqual({ group: 'gcompris:x', own: 1.7, others: 1.1 });
    expect(r.perVariant.find((v) => v.variant === 'as-is')!.shift).toBeCloseTo(0.1, 9);
    // max over variants of (max + shift): as-is 2.1, half 2.3.
    expect(r.calibration.threshold).toBeCloseTo(2.3, 9);
    // Pooled over variants (the earlier rule) only A against the rest: 2.0 vs 1.9.
    expect(r.pooled.max).toBe(2.0);
    expect(r.pooled.shift).toBeCloseTo(0.1, 9);
    // Every tuning value stays below the threshold.
    for (const x of rows) expect(x.noise).toBeLessThan(r.calibration.threshold);
  });

  it('ignores abstaining images and groups that have no company in a variant', () => {
    const rows = [
      row('as-is', 'A', 1.0), row('as-is', 'B', 0.8),
      row('as-is', 'C', 0, 'no reference texture bin'), // abstained: no evidence, no group maximum
      row('tiny', 'A', 1.5), // alone in its variant: no shift can be measured there
    ];
    const r = noiseShiftThreshold(rows);
    expect(r.perVariant.find((v) => v.variant === 'tiny')).toMatchObject({ max: 1.5, shift: 0, by: null, threshold: 1.5 });
    expect(r.perVariant.find((v) => v.variant === 'as-is')).toMatchObject({ max: 1.0, by: { group: 'A', own: 1.0, others: 0.8 } });
    expect(r.calibration.threshold).toBeCloseTo(1.5, 9);
  });
});

/** Detection metrics over scores where higher = more likely synthetic (label 1). */

export interface Scored {
  score: number;
  label: 0 | 1;
}

/** Equal error rate and the score threshold where FPR and FNR cross (scores ≥ threshold = fake). */
export function equalErrorRate(items: Scored[]): { eer: number; threshold: number } {
  const pos = items.filter((i) => i.label === 1).length;
  const neg = items.length - pos;
  if (pos === 0 || neg === 0) return { eer: NaN, threshold: NaN };
  const sorted = [...items].sort((a, b) => b.score - a.score);
  let tp = 0;
  let fp = 0;
  let best = { gap: Infinity, eer: NaN, threshold: NaN };
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.label === 1) tp++;
    else fp++;
    // Only evaluate between distinct scores: ties must fall on the same side.
    if (i + 1 < sorted.length && sorted[i + 1]!.score === sorted[i]!.score) continue;
    const fnr = 1 - tp / pos;
    const fpr = fp / neg;
    const gap = Math.abs(fnr - fpr);
    if (gap < best.gap) best = { gap, eer: (fnr + fpr) / 2, threshold: sorted[i]!.score };
  }
  return { eer: best.eer, threshold: best.threshold };
}

/** Area under the ROC curve (Mann–Whitney, ties counted half). */
export function rocAuc(items: Scored[]): number {
  const sorted = [...items].sort((a, b) => a.score - b.score);
  let rankSumPos = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]!.score === sorted[i]!.score) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (sorted[k]!.label === 1) rankSumPos += avgRank;
    i = j + 1;
  }
  const pos = items.filter((x) => x.label === 1).length;
  const neg = items.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Fraction of synthetic items caught when at most `maxFpr` of real items are flagged. */
export function tprAtFpr(items: Scored[], maxFpr: number): number {
  const reals = items.filter((i) => i.label === 0).map((i) => i.score).sort((a, b) => b - a);
  const fakes = items.filter((i) => i.label === 1).map((i) => i.score);
  if (!reals.length || !fakes.length) return NaN;
  const allowed = Math.floor(maxFpr * reals.length);
  // Threshold strictly above the (allowed+1)-th highest real score.
  const bar = reals[allowed]!;
  return fakes.filter((s) => s > bar).length / fakes.length;
}

export function rates(items: Scored[], threshold: number): { fpr: number; fnr: number } {
  const reals = items.filter((i) => i.label === 0);
  const fakes = items.filter((i) => i.label === 1);
  return {
    fpr: reals.filter((i) => i.score >= threshold).length / Math.max(1, reals.length),
    fnr: fakes.filter((i) => i.score < threshold).length / Math.max(1, fakes.length),
  };
}

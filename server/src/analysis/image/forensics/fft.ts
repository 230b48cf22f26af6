import { fft1d } from '../../dsp/fft.js';

export { fft1d };

/** Power spectrum of an n×n real block (row-major), returned row-major n×n. */
export function powerSpectrum2d(block: Float64Array, n: number): Float64Array {
  const re = new Float64Array(block);
  const im = new Float64Array(n * n);
  const rowRe = new Float64Array(n), rowIm = new Float64Array(n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) { rowRe[x] = re[y * n + x]; rowIm[x] = 0; }
    fft1d(rowRe, rowIm);
    for (let x = 0; x < n; x++) { re[y * n + x] = rowRe[x]; im[y * n + x] = rowIm[x]; }
  }
  for (let x = 0; x < n; x++) {
    for (let y = 0; y < n; y++) { rowRe[y] = re[y * n + x]; rowIm[y] = im[y * n + x]; }
    fft1d(rowRe, rowIm);
    for (let y = 0; y < n; y++) { re[y * n + x] = rowRe[y]; im[y * n + x] = rowIm[y]; }
  }
  const power = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) power[i] = re[i] * re[i] + im[i] * im[i];
  return power;
}

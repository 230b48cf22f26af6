/**
 * The learned-detector slot: any ONNX classifier whose manifest has task "image-synthetic".
 * Manifest fields used: input.name, input.size (side length), input.mean/std (0–1 pixel scale),
 * input.layout ("NCHW" default or "NHWC"), input.preprocess ("resize" default: whole image
 * resized to size×size; "center_crop": native-resolution centre crop, keeps pixel-level traces),
 * output.name, output.activation ("sigmoid" | "softmax" | "none"; default: softmax for two
 * outputs, none for one), threshold and metrics.false_positive_rate.
 */
import sharp from 'sharp';
import { verdictProvenance } from '../../inference/manifest.js';
import type { LoadedModel, ModelRegistry } from '../../inference/model-registry.js';
import { MAX_FNR_FOR_REAL } from './fusion.js';
import type { ImageFinding } from './types.js';

export const IMAGE_SYNTHETIC_TASK = 'image-synthetic';

export interface LearnedResult {
  finding: ImageFinding;
  score: number;
  threshold: number;
  falseNegativeRate?: number;
}

async function prepareInput(model: LoadedModel, data: Uint8Array, width: number, height: number): Promise<Float32Array> {
  const input = model.manifest.input as Record<string, unknown> & { size?: number; mean?: number[]; std?: number[]; layout?: string };
  const size = input.size ?? (model.manifest.input.shape.at(-1) && model.manifest.input.shape.at(-1)! > 0 ? model.manifest.input.shape.at(-1)! : 224);
  const mean = input.mean ?? [0, 0, 0];
  const std = input.std ?? [1, 1, 1];
  const mode = input.preprocess === 'center_crop' ? 'center_crop' : 'resize';
  let pixels: Uint8Array;
  if (mode === 'center_crop' && width >= size && height >= size) {
    const x0 = Math.floor((width - size) / 2), y0 = Math.floor((height - size) / 2);
    pixels = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      const from = ((y0 + y) * width + x0) * 3;
      pixels.set(data.subarray(from, from + size * 3), y * size * 3);
    }
  } else {
    const buf = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } })
      .resize(size, size, { fit: mode === 'center_crop' ? 'cover' : 'fill' })
      .raw()
      .toBuffer();
    pixels = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const out = new Float32Array(3 * size * size);
  const nhwc = (input.layout ?? 'NCHW').toUpperCase() === 'NHWC';
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) {
      const v = (pixels[i * 3 + c] / 255 - (mean[c] ?? 0)) / (std[c] ?? 1);
      out[nhwc ? i * 3 + c : c * size * size + i] = v;
    }
  }
  return out;
}

function toProbability(values: Float32Array | number[], activation: string | undefined): number {
  const v = Array.from(values);
  const mode = activation ?? (v.length === 2 ? 'softmax' : 'none');
  if (mode === 'softmax' && v.length >= 2) {
    const m = Math.max(...v);
    const e = v.map((x) => Math.exp(x - m));
    return e[1] / e.reduce((a, b) => a + b, 0);
  }
  const x = v[v.length === 2 ? 1 : 0];
  if (mode === 'sigmoid') return 1 / (1 + Math.exp(-x));
  return Math.max(0, Math.min(1, x));
}

/** Runs the installed image-synthetic model, or returns null when none is installed. */
export async function runLearnedDetector(models: ModelRegistry, data: Uint8Array, width: number, height: number): Promise<LearnedResult | null> {
  const model = await models.load(IMAGE_SYNTHETIC_TASK);
  if (!model) return null;
  const size = (model.manifest.input.size as number | undefined) ?? 224;
  const tensorData = await prepareInput(model, data, width, height);
  const nhwc = ((model.manifest.input.layout as string | undefined) ?? 'NCHW').toUpperCase() === 'NHWC';
  const dims = nhwc ? [1, size, size, 3] : [1, 3, size, size];
  const tensor = new model.ort.Tensor('float32', tensorData, dims);
  const outputs = await model.session.run({ [model.manifest.input.name]: tensor });
  const output = outputs[model.manifest.output.name] ?? Object.values(outputs)[0];
  const score = toProbability(output.data as Float32Array, model.manifest.output.activation as string | undefined);
  const prov = verdictProvenance(model.manifest);
  const fake = score >= prov.threshold;
  const fnr = model.manifest.metrics.false_negative_rate;
  const canVouch = fnr !== undefined && fnr <= MAX_FNR_FOR_REAL;
  const label = fake ? 'Fake' : canVouch && score <= prov.threshold / 2 ? 'Real' : 'Unknown';
  return {
    score,
    threshold: prov.threshold,
    falseNegativeRate: model.manifest.metrics.false_negative_rate,
    finding: {
      type: 'LearnedDetector',
      label,
      score: Math.round(score * 1e4) / 1e4,
      evidence: `${prov.model_version} scored ${score.toFixed(3)} against threshold ${prov.threshold} (measured false-positive rate ${prov.false_positive_rate}, miss rate ${fnr ?? 'not stated'}, on ${model.manifest.calibration ?? 'its calibration set'}); a learned detector only knows the generators it was trained on${canVouch ? '' : ', and this one misses too many of them to vouch for authenticity'}`,
      ...prov,
    },
  };
}

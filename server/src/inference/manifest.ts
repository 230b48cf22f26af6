import { z } from 'zod';

/**
 * `models/<name>/model.json`: everything a verdict needs to say how sure it can be.
 * The same format applies to models a user drops into DISCERN_MODELS_DIR.
 */
export const ModelManifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** What the model judges: "audio-deepfake", "image-synthetic", … Analysers pick models by task. */
  task: z.string().min(1),
  file: z.string().default('model.onnx'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  input: z.object({
    name: z.string(),
    /** Shape with -1 for dynamic axes, e.g. [-1, 1, 32000]. */
    shape: z.array(z.number().int()),
    layout: z.string().optional(),
    sample_rate: z.number().optional(),
    /** Image models: side length, channel mean/std used for normalisation. */
    size: z.number().int().optional(),
    mean: z.array(z.number()).optional(),
    std: z.array(z.number()).optional(),
  }).passthrough(),
  output: z.object({
    name: z.string(),
    /** e.g. "probability that the input is synthetic". */
    meaning: z.string(),
  }).passthrough(),
  /** Scores at or above this are called fake. */
  threshold: z.number(),
  /** Error rates measured on the held-out split named in `calibration`. */
  metrics: z.object({
    eer: z.number().optional(),
    false_positive_rate: z.number(),
    false_negative_rate: z.number().optional(),
    roc_auc: z.number().optional(),
  }).passthrough(),
  calibration: z.string().optional(),
  data_sources: z.array(z.object({ name: z.string(), licence: z.string() }).passthrough()).default([]),
  licence: z.string().optional(),
  card: z.string().optional(),
}).passthrough();

export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** What every verdict carries so a reader knows which model said it and how often it errs. */
export interface VerdictProvenance {
  model_version: string;
  threshold: number;
  false_positive_rate: number;
}

export function verdictProvenance(manifest: ModelManifest): VerdictProvenance {
  return {
    model_version: `${manifest.name}@${manifest.version}`,
    threshold: manifest.threshold,
    false_positive_rate: manifest.metrics.false_positive_rate,
  };
}

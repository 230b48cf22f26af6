/** Shapes shared by the image analyser's parts. */

export type ImageLabel = 'Fake' | 'Real' | 'Unknown';

/** One entry of `image_metrics.children`. */
export interface ImageFinding {
  /** Signal family, e.g. "C2PA", "IPTCDigitalSourceType", "GeneratorParameters", "FrequencyAnalysis". */
  type: string;
  /** What this signal alone points to. */
  label: ImageLabel;
  /** Strength of the signal toward `label` in 0–1 (for detectors: the calibrated fake score). */
  score: number;
  /** Human-readable explanation of what was found and how far it can be trusted. */
  evidence: string;
  /** True when the finding is declared provenance that decides the verdict on its own. */
  decisive?: boolean;
  details?: Record<string, unknown>;
  model_version?: string;
  threshold?: number;
  false_positive_rate?: number;
}

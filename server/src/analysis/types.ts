/**
 * The contract between the job pipeline and every analyser.
 *
 * The pipeline has already fetched the media, sniffed its real type and probed it with ffprobe
 * before an analyser runs; the analyser only reads the local file and returns Resemble-shaped
 * metrics. Analysers never touch the database or HTTP: they are plain modules so they can be
 * unit-tested on files and benchmarked on their own.
 */
import type { MediaProbe } from '../media/probe-types.js';

export type MediaType = 'audio' | 'image' | 'video';

/** Detect options after validation (the route has coerced multipart strings already). */
export interface DetectOptions {
  visualize: boolean;
  frame_length: number; // seconds, 1–4
  start_region?: number | null;
  end_region?: number | null;
  max_video_fps?: number | null;
  max_video_secs?: number | null;
  model_types?: 'image' | 'talking_head' | null;
  intelligence: boolean;
  audio_source_tracing: boolean;
  use_reverse_search: boolean;
  use_ood_detector: boolean;
  zero_retention_mode: boolean;
}

/**
 * Where analysers put visualisations (heatmap PNGs). `save` stores the bytes in blob storage
 * and returns an opaque `asset://…` reference; responses turn every such reference into an
 * expiring signed URL when they are serialised, so stored results never hold a URL that ages.
 */
export interface ArtifactSink {
  save(name: string, bytes: Buffer, contentType: string): Promise<string>;
}

export interface AnalysisInput {
  detectId: string;
  teamId: string;
  mediaPath: string;
  mediaType: MediaType;
  probe: MediaProbe;
  options: DetectOptions;
  artifacts: ArtifactSink;
  /** Aborted when the job's lease is lost or the server shuts down. */
  signal?: AbortSignal;
}

/** Fields merged into the detect row; keys follow the Detect v2 detect object. */
export interface AnalysisOutput {
  metrics?: Record<string, unknown> | null;
  image_metrics?: Record<string, unknown> | null;
  video_metrics?: Record<string, unknown> | null;
  duration?: number | null;
}

export interface Analyser {
  /** Stable name used in logs and the registry, e.g. "audio-deepfake". */
  readonly name: string;
  /** Media types this analyser handles. */
  readonly mediaTypes: readonly MediaType[];
  analyse(input: AnalysisInput): Promise<AnalysisOutput>;
}

/**
 * Thrown by analysers for input they cannot judge for a reason the caller should read
 * (corrupt media, no model installed). The job ends `failed` with this message verbatim.
 */
export class AnalysisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalysisError';
  }
}

export const ASSET_PREFIX = 'asset://';

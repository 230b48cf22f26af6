import { ASSET_PREFIX } from '../analysis/types.js';
import type { DetectOptions } from '../analysis/types.js';
import type { BatchRow } from '../repositories/batches-repository.js';
import type { DetectRow } from '../repositories/detects-repository.js';
import type { UrlSigner } from '../security/signed-urls.js';

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** Replaces every stored `asset://key` reference with a freshly signed, expiring URL. */
export function signAssets(value: unknown, signer: UrlSigner): unknown {
  if (typeof value === 'string') return value.startsWith(ASSET_PREFIX) ? signer.sign(value.slice(ASSET_PREFIX.length)) : value;
  if (Array.isArray(value)) return value.map((v) => signAssets(v, signer));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, signAssets(v, signer)]));
  }
  return value;
}

/**
 * The Detect v2 detect object (contract §2.3). Under zero retention `url`/`audio_url` are null
 * in every response and callback, whatever the state of the job.
 */
export function presentDetect(row: DetectRow, signer: UrlSigner): Record<string, unknown> {
  const options = JSON.parse(row.options) as DetectOptions;
  const zeroRetention = row.zero_retention === 1;
  let url: string | null = null;
  if (!zeroRetention) {
    if (row.source_url) url = row.source_url;
    else if (row.media_key && row.media_deleted === 0) url = signer.sign(row.media_key);
  }
  const item: Record<string, unknown> = {
    uuid: row.id,
    status: row.status,
    media_type: row.media_type,
    metrics: parseJson(row.metrics) ?? {},
    image_metrics: parseJson(row.image_metrics),
    video_metrics: parseJson(row.video_metrics),
    audio_source_tracing: parseJson(row.audio_source_tracing),
    intelligence: parseJson(row.intelligence),
    url,
    audio_url: url,
    filename: row.filename,
    duration: row.duration,
    zero_retention_mode: zeroRetention,
    media_redacted: zeroRetention,
    media_deleted: row.media_deleted === 1,
    file_deleted_at: row.file_deleted_at,
    visualize: options.visualize,
    audio_source_tracing_enabled: options.audio_source_tracing,
    use_ood_detector: options.use_ood_detector,
    frame_length: options.frame_length,
    start_region: options.start_region ?? null,
    end_region: options.end_region ?? null,
    pipeline: null,
    extra_params: { search_identity_requested: false, use_reverse_search: options.use_reverse_search },
    error_message: row.error_message,
    batch_uuid: row.batch_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
  return signAssets(item, signer) as Record<string, unknown>;
}

export function presentBatch(
  row: BatchRow,
  detectIds: string[],
  counts: { processing: number; completed: number; failed: number },
): Record<string, unknown> {
  const terminal = counts.processing === 0 && counts.completed + counts.failed >= row.total_files;
  const status = !terminal ? 'processing' : counts.completed === 0 && counts.failed > 0 ? 'failed' : 'completed';
  return {
    uuid: row.id,
    status,
    total_files: row.total_files,
    completed_count: counts.completed,
    failed_count: counts.failed,
    processing_count: counts.processing,
    detect_uuids: detectIds,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

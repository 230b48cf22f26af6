/**
 * Table types. Timestamps are ISO-8601 strings, booleans 0/1 integers and structured values
 * JSON text, so the same rows read identically from SQLite and PostgreSQL.
 */
export interface TeamsTable {
  id: string;
  name: string;
  webhook_secret: string | null;
  created_at: string;
}

export interface ApiKeysTable {
  id: string;
  team_id: string;
  /** sha256 of the key; the key itself is shown once and never stored. */
  key_hash: string;
  /** First characters of the key, so an operator can tell keys apart. */
  key_prefix: string;
  created_at: string;
  revoked_at: string | null;
}

export interface DetectsTable {
  id: string;
  team_id: string;
  batch_id: string | null;
  status: 'processing' | 'completed' | 'failed';
  media_type: 'audio' | 'image' | 'video' | null;
  filename: string | null;
  /** 'upload' | 'url' | 'media_token' */
  source_kind: string;
  /** The caller's URL; cleared once fetched when zero retention is on. */
  source_url: string | null;
  upload_id: string | null;
  media_key: string | null;
  media_bytes: number | null;
  options: string;
  metrics: string | null;
  image_metrics: string | null;
  video_metrics: string | null;
  intelligence: string | null;
  audio_source_tracing: string | null;
  duration: number | null;
  error_message: string | null;
  callback_url: string | null;
  zero_retention: number;
  media_deleted: number;
  file_deleted_at: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface BatchesTable {
  id: string;
  team_id: string;
  total_files: number;
  callback_url: string | null;
  /** Set once when the batch's terminal callback has been queued, so it fires exactly once. */
  callback_queued_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SecureUploadsTable {
  id: string;
  team_id: string;
  blob_key: string;
  filename: string;
  size_bytes: number;
  created_at: string;
  expires_at: string;
  deleted_at: string | null;
}

export interface JobsTable {
  id: string;
  type: string;
  payload: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  attempts: number;
  max_attempts: number;
  /** epoch milliseconds */
  run_at: number;
  lease_until: number | null;
  lease_owner: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ImageHashesTable {
  id: string;
  team_id: string;
  /** "p:<16 hex>;d:<16 hex>" perceptual + difference hash */
  hash: string;
  label: 'known_fake' | 'known_real' | 'analysed';
  detect_id: string | null;
  title: string | null;
  url: string | null;
  created_at: string;
}

export interface WatermarkJobsTable {
  id: string;
  team_id: string;
  kind: 'apply' | 'detect';
  status: 'processing' | 'completed' | 'failed';
  media_type: 'audio' | 'image' | 'video' | null;
  filename: string | null;
  source_url: string | null;
  media_key: string | null;
  /** The marked file (apply jobs). */
  output_key: string | null;
  /** {strength, custom_message} */
  options: string;
  metrics: string | null;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

export interface Database {
  watermark_jobs: WatermarkJobsTable;
  image_hashes: ImageHashesTable;
  teams: TeamsTable;
  api_keys: ApiKeysTable;
  detects: DetectsTable;
  batches: BatchesTable;
  secure_uploads: SecureUploadsTable;
  jobs: JobsTable;
}

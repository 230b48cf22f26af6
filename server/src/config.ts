import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting discern reads, in one place. Defaults give the embedded mode: one process,
 * SQLite file and media folder under DISCERN_DATA_DIR, jobs in the same SQLite database.
 * docs/configuration.md documents each variable; keep the two in step.
 */
const bool = z
  .union([z.boolean(), z.string()])
  .transform((v) => (typeof v === 'boolean' ? v : ['1', 'true', 'yes', 'on'].includes(v.toLowerCase())));

const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

export const ConfigSchema = z.object({
  DISCERN_HOST: z.string().default('127.0.0.1'),
  DISCERN_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Public base URL used to build signed asset links; defaults to http://HOST:PORT. */
  DISCERN_PUBLIC_URL: z.string().url().optional(),
  DISCERN_DATA_DIR: z.string().default('./data'),
  /** Creates team "default" with this API key at start when it does not exist yet. */
  DISCERN_BOOTSTRAP_KEY: z.string().min(16).optional(),
  /** Secret for secure-upload tokens and signed asset URLs; generated and kept in the data dir if unset. */
  DISCERN_SECRET: z.string().min(32).optional(),
  /** Unset or sqlite:[path] → embedded SQLite; postgres://… → PostgreSQL (scale-out). */
  DISCERN_DATABASE_URL: z.string().optional(),
  DISCERN_DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** redis://… → jobs go through BullMQ on Redis instead of the database's own queue. */
  DISCERN_REDIS_URL: z.string().optional(),
  /** Key prefix of discern's BullMQ queues, so several deployments can share one Redis. */
  DISCERN_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('discern'),
  /** Set → blobs in this S3-compatible bucket instead of the local data folder. */
  DISCERN_S3_BUCKET: z.string().optional(),
  /** For MinIO, Ceph, R2, s3rver…; unset → AWS's endpoint for the region. */
  DISCERN_S3_ENDPOINT: z.string().url().optional(),
  DISCERN_S3_REGION: z.string().default('us-east-1'),
  /** Unset → the AWS SDK's default credential chain (environment, profile, instance role). */
  DISCERN_S3_ACCESS_KEY_ID: z.string().optional(),
  DISCERN_S3_SECRET_ACCESS_KEY: z.string().optional(),
  /** Path-style URLs (endpoint/bucket/key), which most self-hosted S3 servers need. */
  DISCERN_S3_FORCE_PATH_STYLE: bool.default(false),
  /** Optional key prefix inside the bucket, e.g. "discern/". */
  DISCERN_S3_PREFIX: z.string().default(''),
  DISCERN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DISCERN_WORKERS: z.coerce.number().int().min(0).max(64).default(2),
  /** Seconds a worker holds a job before another may take it over (renewed while it runs). */
  DISCERN_JOB_LEASE_SECONDS: z.coerce.number().int().min(5).default(60),
  DISCERN_JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  /** Upper bound on how long `Prefer: wait` holds a request before answering with the current item. */
  DISCERN_WAIT_TIMEOUT_SECONDS: z.coerce.number().min(1).default(120),

  DISCERN_MAX_UPLOAD_BYTES: z.coerce.number().int().min(1).default(150 * 1024 * 1024),
  DISCERN_MAX_SECURE_UPLOAD_BYTES: z.coerce.number().int().min(1).default(1024 * 1024 * 1024),
  DISCERN_MAX_BATCH_BYTES: z.coerce.number().int().min(1).default(500 * 1024 * 1024),
  DISCERN_MAX_BATCH_FILES: z.coerce.number().int().min(1).default(50),
  DISCERN_MAX_URL_FETCH_BYTES: z.coerce.number().int().min(1).default(1024 * 1024 * 1024),
  DISCERN_URL_FETCH_TIMEOUT_SECONDS: z.coerce.number().min(1).default(120),
  /** Hosts or IPs that URL fetches and callbacks may reach even though they are private (tests, trusted LANs). */
  DISCERN_URL_ALLOW_HOSTS: list.default([]),

  DISCERN_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(40),
  DISCERN_CALLBACK_TIMEOUT_SECONDS: z.coerce.number().min(1).default(10),
  DISCERN_CALLBACK_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(8),
  /** First retry delay of a failed callback; later ones double, capped at 10 minutes. */
  DISCERN_CALLBACK_RETRY_BASE_SECONDS: z.coerce.number().min(0.01).default(5),
  DISCERN_SIGNED_URL_TTL_SECONDS: z.coerce.number().int().min(60).default(3600),
  DISCERN_MODELS_DIR: z.string().optional(),
  DISCERN_INFERENCE_THREADS: z.coerce.number().int().min(1).default(1),
  DISCERN_METRICS: bool.default(true),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface Config extends RawConfig {
  dataDir: string;
  databasePath: string;
  blobDir: string;
  tmpDir: string;
  publicUrl: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('DISCERN_') && value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const raw = parsed.data;
  const dataDir = path.resolve(raw.DISCERN_DATA_DIR);
  return {
    ...raw,
    dataDir,
    databasePath: path.join(dataDir, 'discern.sqlite'),
    blobDir: path.join(dataDir, 'blobs'),
    tmpDir: path.join(dataDir, 'tmp'),
    publicUrl: (raw.DISCERN_PUBLIC_URL ?? `http://${raw.DISCERN_HOST}:${raw.DISCERN_PORT}`).replace(/\/$/, ''),
  };
}

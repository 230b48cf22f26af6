import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { buildAnalyserRegistry } from './analysis/build-registry.js';
import type { AnalyserRegistry } from './analysis/registry.js';
import type { Config } from './config.js';
import { databaseKind, migrateToLatest, openDatabase, type DatabaseHandle } from './db/database.js';
import { ModelRegistry, shippedModelsDir } from './inference/model-registry.js';
import { Metrics } from './metrics.js';
import type { JobQueue } from './queue/job-queue.js';
import { BullMqJobQueue } from './queue/bullmq-queue.js';
import { SqliteJobQueue } from './queue/sqlite-queue.js';
import { BatchesRepository } from './repositories/batches-repository.js';
import { DetectsRepository } from './repositories/detects-repository.js';
import { ImageHashesRepository } from './repositories/image-hashes-repository.js';
import { TeamsRepository } from './repositories/teams-repository.js';
import { UploadsRepository } from './repositories/uploads-repository.js';
import { hashApiKey } from './security/api-keys.js';
import { RateLimiter } from './security/rate-limiter.js';
import { UrlSigner } from './security/signed-urls.js';
import { BatchService } from './services/batch-service.js';
import { CallbackService } from './services/callback-service.js';
import { DetectEvents } from './services/detect-events.js';
import { DetectProcessor } from './services/detect-processor.js';
import { DetectService } from './services/detect-service.js';
import { MediaIntake } from './services/media-intake.js';
import { UploadService } from './services/upload-service.js';
import { WatermarkService } from './services/watermark-service.js';
import { WatermarkJobsRepository } from './repositories/watermark-jobs-repository.js';
import type { BlobStore } from './storage/blob-store.js';
import { LocalBlobStore } from './storage/local-blob-store.js';
import { S3BlobStore } from './storage/s3-blob-store.js';

export interface AppContext {
  config: Config;
  logger: Logger;
  database: DatabaseHandle;
  blobs: BlobStore;
  queue: JobQueue;
  teams: TeamsRepository;
  detects: DetectsRepository;
  batches: BatchesRepository;
  uploads: UploadsRepository;
  intake: MediaIntake;
  imageHashes: ImageHashesRepository;
  detectService: DetectService;
  batchService: BatchService;
  uploadService: UploadService;
  watermarkService: WatermarkService;
  processor: DetectProcessor;
  callbacks: CallbackService;
  signer: UrlSigner;
  limiter: RateLimiter;
  metrics: Metrics;
  models: ModelRegistry;
  analysers: AnalyserRegistry;
  events: DetectEvents;
  /** Starts the embedded workers (serve) or nothing (API-only tests with workers = 0). */
  startWorkers(): void;
  close(): Promise<void>;
}

/** The server secret signs upload tokens and asset URLs; kept in the data folder when not configured. */
function loadSecret(config: Config): string {
  if (config.DISCERN_SECRET) return config.DISCERN_SECRET;
  const file = path.join(config.dataDir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

/**
 * Scale-out mode: processes on several machines share the database and the queue, so they
 * must share the secret too (tokens signed by one are verified by another).
 */
function requireSharedSecret(config: Config): void {
  const shared = databaseKind(config.DISCERN_DATABASE_URL, config.databasePath).kind === 'postgres' || Boolean(config.DISCERN_REDIS_URL);
  if (shared && !config.DISCERN_SECRET) {
    throw new Error('DISCERN_SECRET must be set (the same value on every node) when DISCERN_DATABASE_URL is PostgreSQL or DISCERN_REDIS_URL is set');
  }
}

/** Local folder by default; an S3-compatible bucket when DISCERN_S3_BUCKET is set. */
function buildBlobStore(config: Config): { blobs: BlobStore; close(): void } {
  if (!config.DISCERN_S3_BUCKET) return { blobs: new LocalBlobStore(config.blobDir), close: () => undefined };
  const store = new S3BlobStore({
    bucket: config.DISCERN_S3_BUCKET,
    endpoint: config.DISCERN_S3_ENDPOINT,
    region: config.DISCERN_S3_REGION,
    accessKeyId: config.DISCERN_S3_ACCESS_KEY_ID,
    secretAccessKey: config.DISCERN_S3_SECRET_ACCESS_KEY,
    forcePathStyle: config.DISCERN_S3_FORCE_PATH_STYLE,
    keyPrefix: config.DISCERN_S3_PREFIX,
  });
  return { blobs: store, close: () => store.close() };
}

/** BullMQ on Redis when DISCERN_REDIS_URL is set; otherwise the queue lives in the database. */
function buildJobQueue(config: Config, database: DatabaseHandle, logger: Logger): JobQueue {
  const leaseMs = config.DISCERN_JOB_LEASE_SECONDS * 1000;
  if (config.DISCERN_REDIS_URL) {
    return new BullMqJobQueue(
      { url: config.DISCERN_REDIS_URL, prefix: config.DISCERN_REDIS_PREFIX, leaseMs, defaultMaxAttempts: config.DISCERN_JOB_MAX_ATTEMPTS },
      logger,
    );
  }
  return new SqliteJobQueue(database.db, logger, {
    leaseMs,
    defaultMaxAttempts: config.DISCERN_JOB_MAX_ATTEMPTS,
    skipLocked: database.dialect === 'postgres',
  });
}

/**
 * The only place adapters are built from configuration. Everything above receives them
 * ready-made, so a test or the scale-out mode swaps an adapter here and nowhere else.
 */
export async function createContext(config: Config, options: { logger?: Logger } = {}): Promise<AppContext> {
  const logger = options.logger ?? pino({ level: config.DISCERN_LOG_LEVEL, base: { service: 'discern' } });
  requireSharedSecret(config);
  mkdirSync(config.tmpDir, { recursive: true });
  const database = openDatabase(config);
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }

  const secret = loadSecret(config);
  const blobStore = buildBlobStore(config);
  const blobs = blobStore.blobs;
  const queue = buildJobQueue(config, database, logger);
  const teams = new TeamsRepository(database.db);
  const detects = new DetectsRepository(database.db);
  const batches = new BatchesRepository(database.db);
  const uploads = new UploadsRepository(database.db);
  const events = new DetectEvents();
  const signer = new UrlSigner(secret, config.publicUrl, config.DISCERN_SIGNED_URL_TTL_SECONDS);
  const models = new ModelRegistry(
    [config.DISCERN_MODELS_DIR, shippedModelsDir()].filter((d): d is string => Boolean(d)),
    config.DISCERN_INFERENCE_THREADS,
  );
  const imageHashes = new ImageHashesRepository(database.db);
  const analysers = buildAnalyserRegistry({ models, reverseSearch: imageHashes });
  const metrics = new Metrics();

  const intake = new MediaIntake({ config, uploads, blobs, secret });
  const detectService = new DetectService({ config, detects, intake, blobs, queue, events, imageHashes, logger });
  const batchService = new BatchService({ config, batches, detects, detectService });
  const uploadService = new UploadService({ uploads, blobs, secret });
  const processor = new DetectProcessor({ config, detects, batches, uploads, intake, blobs, queue, analysers, events, metrics, logger });
  const watermarkService = new WatermarkService({ config, jobs: new WatermarkJobsRepository(database.db), intake, blobs, queue, events, signer, logger });
  const callbacks = new CallbackService({ config, detects, batches, teams, signer, logger });

  if (config.DISCERN_BOOTSTRAP_KEY) {
    // Several nodes of a scale-out deployment may start at once: a unique-key clash means
    // another one registered the team or key first, so look again before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = await teams.findByKeyHash(hashApiKey(config.DISCERN_BOOTSTRAP_KEY));
        if (!existing) {
          const team = (await teams.findByName('default')) ?? (await teams.create('default'));
          await teams.addKey(team.id, hashApiKey(config.DISCERN_BOOTSTRAP_KEY), config.DISCERN_BOOTSTRAP_KEY.slice(0, 8));
          logger.info({ team: team.id }, 'bootstrap key registered for team "default"');
        }
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  let sweeper: NodeJS.Timeout | null = null;
  return {
    config, logger, database, blobs, queue, teams, detects, batches, uploads, intake, imageHashes,
    detectService, batchService, uploadService, watermarkService, processor, callbacks,
    signer, limiter: new RateLimiter(config.DISCERN_RATE_LIMIT_PER_SECOND), metrics, models, analysers, events,
    startWorkers() {
      queue.start(
        { analyse: processor.analyseHandler, purge: processor.purgeHandler, callback: callbacks.handler, watermark: watermarkService.handler },
        config.DISCERN_WORKERS,
      );
      // Expired secure uploads are removed; detects made from them hold their own copy.
      sweeper = setInterval(() => void processor.sweepExpiredUploads().catch((err) => logger.warn({ err }, 'upload sweep failed')), 60_000);
      sweeper.unref();
    },
    async close() {
      if (sweeper) clearInterval(sweeper);
      await queue.stop();
      blobStore.close();
      await database.close();
    },
  };
}

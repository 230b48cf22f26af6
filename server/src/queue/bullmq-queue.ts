import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EnqueueOptions, JobHandler, JobQueue } from './job-queue.js';

export interface BullMqJobQueueOptions {
  /** redis://[:password@]host:port[/db] */
  url: string;
  /** Key prefix in Redis, so several deployments can share one server. */
  prefix: string;
  /** How long a worker's lock on a job lasts before another worker may take the job over; renewed while it runs. */
  leaseMs: number;
  defaultMaxAttempts: number;
  queueName?: string;
  /** How long completed jobs are kept, which is how long their ids keep deduplicating (default 1 day). */
  keepCompletedSeconds?: number;
  /** How long failed jobs are kept for inspection (default 7 days). */
  keepFailedSeconds?: number;
}

/**
 * Job ids become BullMQ job ids. BullMQ refuses ids that look like integers or contain ':'
 * (ours do: "analyse:<uuid>"), so ids are escaped reversibly and given a prefix.
 */
export function toBullJobId(id: string): string {
  return `j_${id.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

/**
 * The scale-out queue: BullMQ on Redis, with the semantics of the embedded SQLite queue.
 *
 * - one BullMQ queue carries every job type (job name = type), so `concurrency` bounds all
 *   of a process's jobs together, as it does in the embedded queue;
 * - attempts are counted by starts (BullMQ's `attemptsStarted`), so a job whose worker died
 *   counts as an attempt, and a job that keeps killing its workers is given up like one that
 *   keeps failing. BullMQ's own stalled-job limit is therefore set out of reach;
 * - the give-up decision is taken here, not by BullMQ, so `onGiveUp` runs in the worker that
 *   made the last attempt, once, before the job is moved to failed;
 * - a handler's `RetryLaterError.retryAfterMs` is the next delay (custom backoff strategy),
 *   otherwise 1 s, 2 s, 4 s… capped at 60 s.
 */
export class BullMqJobQueue implements JobQueue {
  private readonly commands: Redis;
  private workerConnection: Redis | null = null;
  private readonly queue: Queue;
  private worker: Worker | null = null;
  private handlers: Record<string, JobHandler> = {};
  private readonly abort = new AbortController();
  private stopping = false;
  private readonly queueName: string;

  constructor(
    private readonly options: BullMqJobQueueOptions,
    private readonly logger: Logger,
  ) {
    this.queueName = options.queueName ?? 'jobs';
    this.commands = new Redis(options.url, { lazyConnect: false });
    this.commands.on('error', (err) => this.logger.warn({ err }, 'job queue: redis connection error'));
    this.queue = new Queue(this.queueName, { connection: this.commands, prefix: options.prefix });
    this.queue.on('error', (err) => this.logger.warn({ err }, 'job queue: queue error'));
  }

  async enqueue(type: string, payload: unknown, options: EnqueueOptions = {}): Promise<void> {
    await this.queue.add(type, payload, {
      // An existing job with this id makes `add` a no-op: that is the deduplication.
      jobId: options.id === undefined ? undefined : toBullJobId(options.id),
      delay: options.delayMs && options.delayMs > 0 ? Math.round(options.delayMs) : undefined,
      attempts: options.maxAttempts ?? this.options.defaultMaxAttempts,
      backoff: { type: 'discern' },
      removeOnComplete: { age: this.options.keepCompletedSeconds ?? 24 * 3600 },
      removeOnFail: { age: this.options.keepFailedSeconds ?? 7 * 24 * 3600 },
    });
  }

  start(handlers: Record<string, JobHandler>, concurrency: number): void {
    this.handlers = handlers;
    this.stopping = false;
    if (concurrency <= 0 || this.worker) return;
    // Blocking commands need their own connection, which must wait out Redis restarts.
    this.workerConnection = new Redis(this.options.url, { maxRetriesPerRequest: null });
    this.workerConnection.on('error', (err) => this.logger.warn({ err }, 'job queue: redis connection error'));
    this.worker = new Worker(this.queueName, (job, token) => this.process(job, token), {
      connection: this.workerConnection,
      prefix: this.options.prefix,
      concurrency,
      lockDuration: this.options.leaseMs,
      stalledInterval: Math.max(1000, Math.floor(this.options.leaseMs / 2)),
      maxStalledCount: 1_000_000,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) => {
          const requested = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
          if (typeof requested === 'number' && Number.isFinite(requested)) return Math.max(0, Math.round(requested));
          return Math.min(60_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
        },
      },
    });
    this.worker.on('error', (err) => this.logger.error({ err }, 'job queue: worker error'));
  }

  private async process(job: Job, token?: string): Promise<void> {
    const handler = this.handlers[job.name];
    if (!handler) {
      // A process built without this job type (a mixed-version deployment): leave it to another.
      this.logger.warn({ job: job.id, type: job.name }, 'job queue: no handler for this job type here; postponed');
      await job.moveToDelayed(Date.now() + 10_000, token);
      throw new DelayedError();
    }
    const maxAttempts = job.opts.attempts ?? this.options.defaultMaxAttempts;
    const attempt = job.attemptsStarted;
    if (attempt > maxAttempts) {
      const reason = 'gave up: the job did not finish within its attempts (worker crashed or lease lost)';
      await this.giveUp(job, handler, job.failedReason || 'lease lost');
      throw new UnrecoverableError(reason);
    }
    const isLastAttempt = attempt >= maxAttempts;
    try {
      await handler.run(job.data, { attempt, maxAttempts, isLastAttempt, signal: this.abort.signal });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.stopping && token) {
        // Shutting down: hand the job back at once rather than count it as a failure.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (isLastAttempt) {
        this.logger.error({ err: error, job: job.id, type: job.name }, 'job failed for the last time');
        await this.giveUp(job, handler, message);
        throw new UnrecoverableError(message);
      }
      this.logger.warn({ err: error, job: job.id, type: job.name, attempt }, 'job failed; will retry');
      throw error;
    }
  }

  private async giveUp(job: Job, handler: JobHandler, message: string): Promise<void> {
    try {
      await handler.onGiveUp?.(job.data, message);
    } catch (err) {
      this.logger.error({ err, job: job.id, type: job.name }, 'job queue: onGiveUp failed');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    if (this.worker) await this.worker.close();
    this.worker = null;
    await this.queue.close();
    for (const connection of [this.workerConnection, this.commands]) {
      if (!connection) continue;
      try {
        await connection.quit();
      } catch {
        connection.disconnect();
      }
    }
    this.workerConnection = null;
  }

  /** Same state names as the embedded queue, so /metrics reads the same in both modes. */
  async stats(): Promise<Record<string, number>> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'paused', 'waiting-children', 'active', 'completed', 'failed');
    const n = (state: string) => Number(counts[state] ?? 0);
    return {
      queued: n('waiting') + n('delayed') + n('prioritized') + n('paused') + n('waiting-children'),
      running: n('active'),
      done: n('completed'),
      failed: n('failed'),
    };
  }
}

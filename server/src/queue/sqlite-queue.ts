import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database, JobsTable } from '../db/schema.js';
import { newId, nowIso } from '../util/ids.js';
import type { EnqueueOptions, JobHandler, JobQueue } from './job-queue.js';

/**
 * The embedded mode's durable queue, kept in the same SQLite database as the detects.
 *
 * A worker claims a job by taking a lease (owner + expiry) in one UPDATE; while the handler
 * runs the lease is renewed. If the process dies, the lease runs out and any worker takes the
 * job over — this is how a job survives `kill -9`. Failures are retried with exponential
 * backoff until `max_attempts`.
 */
export class SqliteJobQueue implements JobQueue {
  private readonly wake = new EventEmitter();
  private readonly owner = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private handlers: Record<string, JobHandler> = {};
  private running = 0;
  private stopped = true;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly active = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: {
      leaseMs: number;
      defaultMaxAttempts: number;
      pollMs?: number;
      /** PostgreSQL: lock the picked row so two workers never claim the same job (no effect in SQLite, which has one writer). */
      skipLocked?: boolean;
    },
  ) {
    this.wake.setMaxListeners(0);
  }

  async enqueue(type: string, payload: unknown, options: EnqueueOptions = {}): Promise<void> {
    const now = nowIso();
    const row: JobsTable = {
      id: options.id ?? newId(),
      type,
      payload: JSON.stringify(payload),
      status: 'queued',
      attempts: 0,
      max_attempts: options.maxAttempts ?? this.options.defaultMaxAttempts,
      run_at: Date.now() + (options.delayMs ?? 0),
      lease_until: null,
      lease_owner: null,
      last_error: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('jobs').values(row).onConflict((oc) => oc.column('id').doNothing()).execute();
    this.wake.emit('job');
  }

  start(handlers: Record<string, JobHandler>, concurrency: number): void {
    this.handlers = handlers;
    this.stopped = false;
    if (concurrency <= 0) return;
    const tick = () => void this.fill(concurrency);
    this.wake.on('job', tick);
    this.pollTimer = setInterval(tick, this.options.pollMs ?? 250);
    this.pollTimer.unref();
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.wake.removeAllListeners('job');
    this.abort.abort();
    await Promise.allSettled([...this.active]);
  }

  async stats(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  private filling = false;

  private async fill(concurrency: number): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      while (!this.stopped && this.running < concurrency) {
        const job = await this.claim();
        if (!job) break;
        this.running++;
        const done = this.execute(job).finally(() => {
          this.running--;
          this.active.delete(done);
          if (!this.stopped) setImmediate(() => void this.fill(concurrency));
        });
        this.active.add(done);
      }
    } catch (error) {
      this.logger.error({ err: error }, 'job queue: claim failed');
    } finally {
      this.filling = false;
    }
  }

  /** Takes the oldest due job, or one whose lease ran out (its worker died). */
  private async claim(): Promise<JobsTable | null> {
    const now = Date.now();
    const types = Object.keys(this.handlers);
    if (types.length === 0) return null;
    const result = await sql<JobsTable>`
      UPDATE jobs
         SET status = 'running', lease_owner = ${this.owner}, lease_until = ${now + this.options.leaseMs},
             attempts = attempts + 1, updated_at = ${nowIso()}
       WHERE id = (
         SELECT id FROM jobs
          WHERE ((status = 'queued' AND run_at <= ${now}) OR (status = 'running' AND lease_until < ${now}))
            AND type IN (${sql.join(types)})
          ORDER BY run_at, created_at
          LIMIT 1${this.options.skipLocked ? sql` FOR UPDATE SKIP LOCKED` : sql``})
      RETURNING *`.execute(this.db);
    return result.rows[0] ?? null;
  }

  private async execute(job: JobsTable): Promise<void> {
    const handler = this.handlers[job.type];
    const payload = JSON.parse(job.payload);
    if (!handler) return;
    // A job that keeps killing its worker must not loop forever: past max attempts it fails.
    if (job.attempts > job.max_attempts) {
      await this.markFailed(job, 'gave up: the job did not finish within its attempts (worker crashed or lease lost)');
      await handler.onGiveUp?.(payload, job.last_error ?? 'lease lost');
      return;
    }
    const renew = setInterval(() => {
      void this.db
        .updateTable('jobs')
        .set({ lease_until: Date.now() + this.options.leaseMs })
        .where('id', '=', job.id)
        .where('lease_owner', '=', this.owner)
        .execute()
        .catch((err) => this.logger.warn({ err, job: job.id }, 'job queue: lease renewal failed'));
    }, Math.max(1000, Math.floor(this.options.leaseMs / 3)));
    renew.unref();
    try {
      await handler.run(payload, {
        attempt: job.attempts,
        maxAttempts: job.max_attempts,
        isLastAttempt: job.attempts >= job.max_attempts,
        signal: this.abort.signal,
      });
      await this.db
        .updateTable('jobs')
        .set({ status: 'done', lease_owner: null, lease_until: null, updated_at: nowIso() })
        .where('id', '=', job.id)
        .execute();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.stopped) {
        // Shutting down: leave the lease to run out so the next start takes the job over.
        return;
      }
      if (job.attempts >= job.max_attempts) {
        this.logger.error({ err: error, job: job.id, type: job.type }, 'job failed for the last time');
        await this.markFailed(job, message);
        await handler.onGiveUp?.(payload, message);
      } else {
        const requested = (error as { retryAfterMs?: unknown }).retryAfterMs;
        const delay = typeof requested === 'number' ? requested : Math.min(60_000, 1000 * 2 ** (job.attempts - 1));
        this.logger.warn({ err: error, job: job.id, type: job.type, retryInMs: delay }, 'job failed; will retry');
        await this.db
          .updateTable('jobs')
          .set({ status: 'queued', run_at: Date.now() + delay, lease_owner: null, lease_until: null, last_error: message, updated_at: nowIso() })
          .where('id', '=', job.id)
          .execute();
      }
    } finally {
      clearInterval(renew);
    }
  }

  private async markFailed(job: JobsTable, message: string): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ status: 'failed', last_error: message, lease_owner: null, lease_until: null, updated_at: nowIso() })
      .where('id', '=', job.id)
      .execute();
  }
}

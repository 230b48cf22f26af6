/**
 * Work that must survive a crash. The database row of a detect is the record of its state;
 * the queue only carries work, and every handler is idempotent, so running a job twice after
 * a crash is harmless.
 */
export interface JobContext {
  attempt: number;
  maxAttempts: number;
  /** True when a failure now will not be retried: handlers record a terminal state. */
  isLastAttempt: boolean;
  signal: AbortSignal;
}

export interface JobHandler<P = any> {
  run(payload: P, context: JobContext): Promise<void>;
  /** Called once when a job has failed for the last time (including a lease that ran out too often). */
  onGiveUp?(payload: P, error: string): Promise<void>;
}

export interface EnqueueOptions {
  /** Deduplication: a second enqueue with the same id while the first exists is a no-op. */
  id?: string;
  delayMs?: number;
  maxAttempts?: number;
}

export interface JobQueue {
  enqueue(type: string, payload: unknown, options?: EnqueueOptions): Promise<void>;
  start(handlers: Record<string, JobHandler>, concurrency: number): void;
  stop(): Promise<void>;
  /** Jobs by state, for /metrics and /readyz. */
  stats(): Promise<Record<string, number>>;
}

/** Thrown by a handler that wants its own retry schedule (callbacks back off for minutes). */
export class RetryLaterError extends Error {
  constructor(message: string, public readonly retryAfterMs: number) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * The BullMQ queue against a real Redis: the JobQueue contract the embedded queue keeps —
 * deduplication by id, delays, retries on the handler's own schedule, give-up once, bounded
 * concurrency, graceful stop, and a job taken over after its worker process is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullMqJobQueue, toBullJobId } from '../src/queue/bullmq-queue.js';
import { RetryLaterError, type JobContext, type JobHandler } from '../src/queue/job-queue.js';
import { startRedis, type RunningService } from './helpers/services.js';

const QUEUE_MODULE = path.resolve('dist/server/src/queue/bullmq-queue.js');
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RunningService;
const queues: BullMqJobQueue[] = [];
const children: ChildProcess[] = [];
let prefixes = 0;

function makeQueue(prefix: string, leaseMs = 5000): BullMqJobQueue {
  const queue = new BullMqJobQueue({ url: redis.url, prefix, leaseMs, defaultMaxAttempts: 3 }, silent);
  queues.push(queue);
  return queue;
}

async function until<T>(probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(25);
  }
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const queue of queues) await queue.stop().catch(() => undefined);
  await redis?.stop();
});

describe('BullMQ job queue (Redis)', () => {
  it('escapes ids BullMQ would refuse, without collisions', () => {
    expect(toBullJobId('analyse:abc')).not.toContain(':');
    expect(toBullJobId('123')).not.toMatch(/^\d+$/);
    expect(toBullJobId('a:b')).not.toBe(toBullJobId('a%3Ab'));
  });

  it('runs a delayed job once, however often its id is enqueued', async () => {
    const queue = makeQueue(`p${prefixes++}`);
    const runs: { id: string; at: number; ctx: JobContext }[] = [];
    queue.start({ work: { run: async (p: { id: string }, ctx) => void runs.push({ id: p.id, at: Date.now(), ctx }) } }, 2);
    const enqueuedAt = Date.now();
    await queue.enqueue('work', { id: 'first' }, { id: 'analyse:one', delayMs: 700 });
    await queue.enqueue('work', { id: 'second' }, { id: 'analyse:one' }); // same id: no-op, not an immediate run
    await queue.enqueue('work', { id: 'anon' });
    await queue.enqueue('work', { id: 'anon' });
    await until(() => runs.length >= 3);
    await sleep(400);
    expect(runs.filter((r) => r.id === 'anon')).toHaveLength(2);
    const delayed = runs.filter((r) => r.id !== 'anon');
    expect(delayed.map((r) => r.id)).toEqual(['first']);
    expect(delayed[0].at - enqueuedAt).toBeGreaterThanOrEqual(650);
    expect(delayed[0].ctx).toMatchObject({ attempt: 1, maxAttempts: 3, isLastAttempt: false });
    // Finished jobs keep their id for a while: enqueueing it again is still a no-op.
    await queue.enqueue('work', { id: 'third' }, { id: 'analyse:one' });
    await sleep(400);
    expect(runs.filter((r) => r.id !== 'anon')).toHaveLength(1);
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0, done: 3, failed: 0 });
  });

  it("retries after the delay the handler asks for, else with exponential backoff", async () => {
    const queue = makeQueue(`p${prefixes++}`);
    const seen: Record<string, { at: number; ctx: JobContext }[]> = { custom: [], plain: [] };
    const handler: JobHandler<{ kind: 'custom' | 'plain' }> = {
      run: async (p, ctx) => {
        seen[p.kind].push({ at: Date.now(), ctx });
        if (ctx.attempt === 1) throw p.kind === 'custom' ? new RetryLaterError('receiver busy', 300) : new Error('flaky');
      },
    };
    queue.start({ flaky: handler }, 2);
    await queue.enqueue('flaky', { kind: 'custom' }, { id: 'callback:detect:1' });
    await queue.enqueue('flaky', { kind: 'plain' }, { id: 'callback:detect:2' });
    await until(() => seen.custom.length === 2 && seen.plain.length === 2);
    const customGap = seen.custom[1].at - seen.custom[0].at;
    const plainGap = seen.plain[1].at - seen.plain[0].at;
    expect(customGap).toBeGreaterThanOrEqual(280);
    expect(customGap).toBeLessThan(900); // the requested 300 ms, not the default 1 s
    expect(plainGap).toBeGreaterThanOrEqual(950); // default: 1 s after the first failure
    expect(seen.custom.map((s) => s.ctx.attempt)).toEqual([1, 2]);
    expect(seen.custom.map((s) => s.ctx.isLastAttempt)).toEqual([false, false]);
    await sleep(200);
    expect(await queue.stats()).toMatchObject({ done: 2, failed: 0 });
  });

  it('gives up after maxAttempts: the last attempt knows it, onGiveUp runs once', async () => {
    const queue = makeQueue(`p${prefixes++}`);
    const attempts: JobContext[] = [];
    const gaveUp: { payload: unknown; error: string }[] = [];
    queue.start(
      {
        doomed: {
          run: async (_p, ctx) => {
            attempts.push(ctx);
            throw new RetryLaterError('always broken', 50);
          },
          onGiveUp: async (payload, error) => void gaveUp.push({ payload, error }),
        },
      },
      1,
    );
    await queue.enqueue('doomed', { detectId: 'd1' }, { id: 'analyse:d1', maxAttempts: 2 });
    await until(() => gaveUp.length > 0);
    await sleep(500);
    expect(attempts.map((a) => [a.attempt, a.maxAttempts, a.isLastAttempt])).toEqual([
      [1, 2, false],
      [2, 2, true],
    ]);
    expect(gaveUp).toEqual([{ payload: { detectId: 'd1' }, error: 'always broken' }]);
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0, failed: 1 });
  });

  it('never runs more jobs at once than its concurrency', async () => {
    const queue = makeQueue(`p${prefixes++}`);
    let running = 0;
    let peak = 0;
    let finished = 0;
    queue.start(
      {
        slow: {
          run: async () => {
            running++;
            peak = Math.max(peak, running);
            await sleep(150);
            running--;
            finished++;
          },
        },
      },
      2,
    );
    for (let i = 0; i < 6; i++) await queue.enqueue('slow', { i });
    await until(() => finished === 6);
    expect(peak).toBe(2);
  });

  it('stop() aborts running handlers and hands their jobs straight back to another worker', async () => {
    const prefix = `p${prefixes++}`;
    const first = makeQueue(prefix);
    let started = false;
    first.start(
      {
        long: {
          run: (_p, ctx) =>
            new Promise<void>((_resolve, reject) => {
              started = true;
              ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
            }),
        },
      },
      1,
    );
    await first.enqueue('long', {}, { id: 'analyse:long' });
    await until(() => started);
    const stopAt = Date.now();
    await first.stop();
    expect(Date.now() - stopAt).toBeLessThan(3000);
    const second = makeQueue(prefix);
    const contexts: JobContext[] = [];
    second.start({ long: { run: async (_p, ctx) => void contexts.push(ctx) } }, 1);
    await until(() => contexts.length > 0, 5000);
    // Handed back, not failed: no retry delay, and the lease did not have to run out.
    expect(Date.now() - stopAt).toBeLessThan(3000);
    expect(contexts[0].attempt).toBe(2);
    expect(await second.stats()).toMatchObject({ failed: 0 });
  });

  it('takes over the jobs of a worker process killed mid-job; one that used its last attempt is given up', async () => {
    if (!existsSync(QUEUE_MODULE)) throw new Error('run `npm run build` first: the worker process runs the compiled queue');
    const prefix = `p${prefixes++}`;
    const leaseMs = 1000;
    const producer = makeQueue(prefix, leaseMs);
    await producer.enqueue('hang', { n: 'retryable' }, { id: 'analyse:retryable', maxAttempts: 3 });
    await producer.enqueue('hang', { n: 'last-chance' }, { id: 'analyse:last-chance', maxAttempts: 1 });
    const script = `
      import pino from 'pino';
      import { BullMqJobQueue } from ${JSON.stringify(QUEUE_MODULE)};
      const queue = new BullMqJobQueue({ url: ${JSON.stringify(redis.url)}, prefix: ${JSON.stringify(prefix)}, leaseMs: ${leaseMs}, defaultMaxAttempts: 3 }, pino({ level: 'silent' }));
      queue.start({ hang: { run: (p, ctx) => { process.stdout.write('started ' + p.n + ' ' + ctx.attempt + '\\n'); return new Promise(() => {}); } } }, 2);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    await until(() => output.includes('started retryable 1') && output.includes('started last-chance 1'), 20_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const takeover = makeQueue(prefix, leaseMs);
    const runs: { n: string; ctx: JobContext }[] = [];
    const gaveUp: { payload: { n: string }; error: string }[] = [];
    takeover.start(
      {
        hang: {
          run: async (p: { n: string }, ctx) => void runs.push({ n: p.n, ctx }),
          onGiveUp: async (payload: { n: string }, error) => void gaveUp.push({ payload, error }),
        },
      },
      2,
    );
    await until(() => runs.length >= 1 && gaveUp.length >= 1, 20_000);
    await sleep(1500);
    expect(runs.map((r) => [r.n, r.ctx.attempt, r.ctx.isLastAttempt])).toEqual([['retryable', 2, false]]);
    expect(gaveUp.map((g) => g.payload.n)).toEqual(['last-chance']);
    expect(await takeover.stats()).toMatchObject({ queued: 0, running: 0, done: 1, failed: 1 });
  });
});

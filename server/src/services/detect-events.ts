import { EventEmitter } from 'node:events';

/**
 * In-process signal that a detect reached a terminal state, so `Prefer: wait` answers at once
 * instead of on its next poll. Waiters also poll the database, which is what makes waiting
 * work when the worker is another process.
 */
export class DetectEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  finished(detectId: string): void {
    this.emitter.emit(detectId);
  }

  waitFor(detectId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(detectId, done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.emitter.once(detectId, done);
    });
  }
}

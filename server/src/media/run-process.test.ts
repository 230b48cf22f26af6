import { describe, expect, it } from 'vitest';
import { firstErrorLine, runProcess } from './run-process.js';

describe('runProcess', () => {
  it('captures stdout and the exit code without a shell', async () => {
    const r = await runProcess('node', ['-e', 'process.stdout.write("a; echo b"); process.exit(3)'], { timeoutMs: 10_000 });
    expect(r.stdout.toString()).toBe('a; echo b');
    expect(r.code).toBe(3);
    expect(r.timedOut).toBe(false);
  });

  it('kills a process that runs past its timeout', async () => {
    const t0 = Date.now();
    const r = await runProcess('node', ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('stops a process that floods stdout, and bounds stderr', async () => {
    const r = await runProcess(
      'node',
      ['-e', 'const b = Buffer.alloc(65536, 120); process.stderr.write(b); (function w() { process.stdout.write(b, w); })()'],
      { timeoutMs: 10_000, maxStdoutBytes: 200_000, maxStderrBytes: 1000 },
    );
    expect(r.overflowed).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(200_000);
    expect(r.stderr.length).toBeLessThanOrEqual(1000);
  });

  it('reports a missing program instead of throwing', async () => {
    const r = await runProcess('/nonexistent/ffprobe', [], { timeoutMs: 1000 });
    expect(r.spawnError).toBeInstanceOf(Error);
  });

  it('honours an already-aborted signal', async () => {
    const r = await runProcess('node', ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 10_000, signal: AbortSignal.abort() });
    expect(r.signal).toBe('SIGKILL');
  });
});

describe('firstErrorLine', () => {
  it('picks the error line and strips ffmpeg context and file paths', () => {
    expect(firstErrorLine('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8a3e840] moov atom not found\nfile:/tmp/x/upload.mp4: Invalid data found when processing input\n')).toBe(
      'moov atom not found',
    );
    expect(firstErrorLine('file:/srv/data/tmp/abc.wav: Invalid data found when processing input')).toBe('Invalid data found when processing input');
    expect(firstErrorLine('')).toBe('');
  });
});

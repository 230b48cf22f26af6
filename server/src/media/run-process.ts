/**
 * Runs a helper program (ffprobe, ffmpeg) on untrusted input: argument array (no shell),
 * a hard timeout that kills the process, and bounded capture of stdout/stderr so a hostile
 * file cannot make us buffer gigabytes of diagnostics.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  timeoutMs: number;
  /** Stop capturing stdout past this many bytes and kill the process (default 4 MiB). */
  maxStdoutBytes?: number;
  /** Keep at most this many bytes of stderr (the tail is dropped; default 64 KiB). */
  maxStderrBytes?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  /** stdout went past maxStdoutBytes and the process was killed. */
  overflowed: boolean;
  /** The program could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export function runProcess(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const maxOut = opts.maxStdoutBytes ?? 4 * 1024 * 1024;
  const maxErr = opts.maxStderrBytes ?? 64 * 1024;
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let timedOut = false;
    let overflowed = false;
    let spawnError: Error | undefined;
    let settled = false;

    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    const onAbort = () => kill();
    if (opts.signal?.aborted) kill();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (overflowed) return;
      outBytes += chunk.length;
      if (outBytes > maxOut) {
        overflowed = true;
        kill();
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < maxErr) err += chunk.toString('utf8', 0, Math.min(chunk.length, maxErr - err.length));
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, timedOut, overflowed, spawnError });
    };
    child.on('error', (e) => {
      spawnError = e;
      finish(null, null);
    });
    child.on('close', finish);
  });
}

/** First meaningful line of a tool's stderr, for error messages (bounded, no control chars). */
export function firstErrorLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/[\u0000-\u001f\u007f]/g, '').trim())
    .filter(Boolean);
  // Prefer lines that look like errors over banner noise.
  const line = lines.find((l) => /invalid|error|not found|could not|failed|unsupported|truncat|corrupt/i.test(l)) ?? lines[0] ?? '';
  // Strip "[mov,mp4 @ 0x55…]" context prefixes and the temp file path ffmpeg echoes back.
  return line
    .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')
    .replace(/^file:\S*?:\s*/, '')
    .replace(/^\/\S*?:\s*/, '')
    .slice(0, 300);
}

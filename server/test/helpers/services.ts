/**
 * Throwaway PostgreSQL, Redis and s3rver instances for the scale-out tests: each in its own
 * temporary folder, on 127.0.0.1 and a free port, stopped by PID. A missing binary is a test
 * failure with the package to install — never a skip (CI installs them: scripts/setup.sh --test).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './server.js';

export interface RunningService {
  url: string;
  port: number;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function findOnPath(name: string, extra: string[] = []): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin', ...extra]) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/** Newest PostgreSQL server binaries that Debian's packages install. */
export function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')) && existsSync(path.join(root, v, 'bin', 'postgres')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install them with `apt-get install postgresql` (scripts/setup.sh --test does)');
  }
  return path.join(root, versions[0], 'bin');
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await sleep(50);
  }
  return false;
}

async function stopPid(pid: number, signal: NodeJS.Signals, child?: ChildProcess): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const exited = child
    ? await Promise.race([new Promise<boolean>((r) => (child.exitCode !== null || child.signalCode !== null ? r(true) : child.once('exit', () => r(true)))), sleep(10_000).then(() => false)])
    : await waitForExit(pid, 10_000);
  if (!exited) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).slice(-2000);
  } catch {
    return '';
  }
}

/**
 * initdb + postgres in a temporary folder. As root the server runs as the `postgres` user
 * (PostgreSQL refuses root); fsync is off because the data is thrown away.
 */
export async function startPostgres(): Promise<RunningService> {
  const bin = findPostgresBin();
  // As root the server runs as `postgres`, which must be able to reach the folder: /tmp can be.
  const dir = await mkdtemp(path.join(process.getuid?.() === 0 ? '/tmp' : tmpdir(), 'discern-pg-'));
  let ids: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    try {
      ids = {
        uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
      };
    } catch {
      throw new Error('running as root but there is no `postgres` user to run the test database as (apt-get install postgresql creates it)');
    }
    chownSync(dir, ids.uid, ids.gid);
  }
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const spawnOptions = { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' } };
  try {
    execFileSync(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-locale', '-E', 'UTF8', '--no-sync'], {
      ...spawnOptions,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`);
  }
  const port = await freePort();
  const log = await open(logFile, 'a');
  if (ids) chownSync(logFile, ids.uid, ids.gid);
  const child = spawn(
    path.join(bin, 'postgres'),
    [
      '-D', dataDir, '-p', String(port), '-k', dir,
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=16MB', '-c', 'max_connections=60',
    ],
    { ...spawnOptions, stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  const pid = child.pid!;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    // SIGINT is PostgreSQL's fast shutdown.
    await stopPid(pid, 'SIGINT', child);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      const output = await tail(logFile);
      await stop();
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}:\n${output}`);
    }
    await sleep(100);
  }
  return { url, port, pid, dir, stop };
}

/** A fresh database on a running server, so test files sharing one server do not see each other. */
export async function createDatabase(server: RunningService, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/** redis-server with no persistence, in a temporary folder. */
export async function startRedis(): Promise<RunningService> {
  const binary = findOnPath('redis-server');
  if (!binary) throw new Error('redis-server not found: install it with `apt-get install redis-server` (scripts/setup.sh --test does)');
  const dir = await mkdtemp(path.join(tmpdir(), 'discern-redis-'));
  const port = await freePort();
  const logFile = path.join(dir, 'redis.log');
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', logFile, '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const pid = child.pid!;
  const stop = async () => {
    await stopPid(pid, 'SIGTERM', child);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(1000, () => socket.destroy());
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        reply += d.toString();
        if (reply.includes('\r\n')) socket.end();
      });
      socket.on('close', () => resolve(reply.startsWith('+PONG')));
      socket.on('error', () => undefined);
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      const output = await tail(logFile);
      await stop();
      throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${output}`);
    }
    await sleep(100);
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid, dir, stop };
}

export interface RunningS3 extends RunningService {
  bucket: string;
  /** The DISCERN_S3_* variables that point discern at this server. */
  env: Record<string, string>;
}

/** s3rver (an npm devDependency) as a child process with one bucket. Its fixed credentials are S3RVER/S3RVER. */
export async function startS3rver(bucket = 'discern-test'): Promise<RunningS3> {
  const script = path.resolve('node_modules/s3rver/bin/s3rver.js');
  if (!existsSync(script)) throw new Error('s3rver not found in node_modules: run `npm install` (it is a devDependency)');
  const dir = await mkdtemp(path.join(tmpdir(), 'discern-s3-'));
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [script, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent', '--no-vhost-buckets', '--configure-bucket', bucket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output = (output + d).slice(-2000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-2000)));
  const pid = child.pid!;
  const stop = async () => {
    await stopPid(pid, 'SIGTERM', child);
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      // An anonymous request is refused, but any HTTP answer means it listens (and the bucket exists once it does).
      await fetch(`${url}/${bucket}`);
      break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`s3rver did not start on ${url}:\n${output}`);
    }
    await sleep(100);
  }
  return {
    url,
    port,
    pid,
    dir,
    bucket,
    stop,
    env: {
      DISCERN_S3_BUCKET: bucket,
      DISCERN_S3_ENDPOINT: url,
      DISCERN_S3_REGION: 'us-east-1',
      DISCERN_S3_ACCESS_KEY_ID: 'S3RVER',
      DISCERN_S3_SECRET_ACCESS_KEY: 'S3RVER',
      DISCERN_S3_FORCE_PATH_STYLE: 'true',
    },
  };
}

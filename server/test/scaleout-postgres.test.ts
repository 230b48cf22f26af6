/**
 * PostgreSQL as the database: the same migrations, int8 columns read as numbers, the
 * repositories, the database-backed queue with row locking, and the CLI (`migrate`,
 * `keys create`) — all against a throwaway PostgreSQL server.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKind, migrateToLatest, openDatabase, type DatabaseHandle } from '../src/db/database.js';
import type { JobContext } from '../src/queue/job-queue.js';
import { SqliteJobQueue } from '../src/queue/sqlite-queue.js';
import { DetectsRepository } from '../src/repositories/detects-repository.js';
import { TeamsRepository } from '../src/repositories/teams-repository.js';
import { hashApiKey } from '../src/security/api-keys.js';
import { newId, nowIso } from '../src/util/ids.js';
import { createDatabase, startPostgres, type RunningService } from './helpers/services.js';

const run = promisify(execFile);
const MAIN = path.resolve('dist/server/src/main.js');
const silent = pino({ level: 'silent' });

let postgres: RunningService;
let url: string;
let handle: DatabaseHandle;

beforeAll(async () => {
  postgres = await startPostgres();
  url = await createDatabase(postgres, 'repos');
  handle = openDatabase({ DISCERN_DATABASE_URL: url, databasePath: '/nonexistent/never-used.sqlite' });
  await migrateToLatest(handle.db);
});

afterAll(async () => {
  await handle?.close();
  await postgres?.stop();
});

describe('configuration', () => {
  it('reads the database URL', () => {
    expect(databaseKind(undefined, '/d/discern.sqlite')).toEqual({ kind: 'sqlite', path: '/d/discern.sqlite' });
    expect(databaseKind('sqlite:', '/d/discern.sqlite')).toEqual({ kind: 'sqlite', path: '/d/discern.sqlite' });
    expect(databaseKind('sqlite:///srv/x.sqlite', '/d/discern.sqlite')).toEqual({ kind: 'sqlite', path: '/srv/x.sqlite' });
    expect(databaseKind('postgresql://u@h/db', '/d')).toEqual({ kind: 'postgres', url: 'postgresql://u@h/db' });
    expect(() => databaseKind('mysql://h/db', '/d')).toThrow(/postgres/);
  });
});

describe('PostgreSQL', () => {
  it('applies every migration, and a second run has nothing to do', async () => {
    const fresh = openDatabase({ DISCERN_DATABASE_URL: await createDatabase(postgres, 'migrations'), databasePath: '/nonexistent' });
    try {
      expect(fresh.dialect).toBe('postgres');
      const applied = await migrateToLatest(fresh.db);
      expect(applied).toContain('001-initial');
      expect(applied.length).toBeGreaterThanOrEqual(3);
      expect(await migrateToLatest(fresh.db)).toEqual([]);
      const tables = await fresh.db.introspection.getTables();
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['teams', 'api_keys', 'detects', 'batches', 'secure_uploads', 'jobs', 'image_hashes']));
    } finally {
      await fresh.close();
    }
  });

  it('reads bigint columns and counts back as numbers', async () => {
    const teams = new TeamsRepository(handle.db);
    const team = await teams.create('numbers');
    await teams.addKey(team.id, hashApiKey('k-numbers-0123456789'), 'k-number');
    expect((await teams.findByKeyHash(hashApiKey('k-numbers-0123456789')))?.id).toBe(team.id);
    const detects = new DetectsRepository(handle.db);
    const now = nowIso();
    const id = newId();
    await detects.insert({
      id, team_id: team.id, batch_id: null, status: 'processing', media_type: null, filename: 'a.wav', source_kind: 'upload',
      source_url: null, upload_id: null, media_key: null, media_bytes: 5_000_000_000, options: '{}', metrics: null,
      image_metrics: null, video_metrics: null, intelligence: null, audio_source_tracing: null, duration: 1.5,
      error_message: null, callback_url: null, zero_retention: 0, media_deleted: 0, file_deleted_at: null,
      created_at: now, updated_at: now, completed_at: null,
    });
    const row = await detects.findForTeam(team.id, id);
    expect(row?.media_bytes).toBe(5_000_000_000);
    expect(row?.duration).toBe(1.5);
    expect(row?.zero_retention).toBe(0);
    const listed = await detects.listForTeam(team.id, 1, 10);
    expect(listed.total).toBe(1);
    expect(typeof listed.total).toBe('number');
    expect(await detects.finish(id, { status: 'completed', updated_at: nowIso() })).toBe(true);
    expect(await detects.finish(id, { status: 'failed', updated_at: nowIso() })).toBe(false);
    expect(await detects.countsForBatch('none')).toEqual({ processing: 0, completed: 0, failed: 0 });
    expect(await detects.deleteForTeam('other-team', id)).toBe(false);
    expect(await detects.deleteForTeam(team.id, id)).toBe(true);
  });

  it('runs the database queue from several workers without claiming a job twice', async () => {
    const runs = new Map<string, number>();
    let concurrent = 0;
    let peak = 0;
    const handler = {
      run: async (payload: { n: number }, ctx: JobContext) => {
        expect(ctx.attempt).toBe(1);
        concurrent++;
        peak = Math.max(peak, concurrent);
        runs.set(String(payload.n), (runs.get(String(payload.n)) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
        concurrent--;
      },
    };
    const queues = [0, 1, 2].map(
      () => new SqliteJobQueue(handle.db, silent, { leaseMs: 30_000, defaultMaxAttempts: 3, pollMs: 20, skipLocked: true }),
    );
    for (let n = 0; n < 40; n++) await queues[0].enqueue('count', { n }, { id: `count:${n}` });
    await queues[0].enqueue('count', { n: 0 }, { id: 'count:0' }); // duplicate id: no second job
    // Hold a row lock on the oldest job while the workers start: every claimer sees it first.
    // Without SKIP LOCKED they all wait for it and then all take it; with it they pass it by.
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`UPDATE jobs SET updated_at = updated_at WHERE id = 'count:0'`);
    for (const q of queues) q.start({ count: handler }, 3);
    await new Promise((r) => setTimeout(r, 400));
    await locker.query('COMMIT');
    await locker.end();
    const deadline = Date.now() + 20_000;
    while ([...runs.values()].reduce((a, b) => a + b, 0) < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all(queues.map((q) => q.stop()));
    expect(runs.size).toBe(40);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(peak).toBeGreaterThan(1);
    expect((await queues[0].stats()).done).toBe(40);
  });
});

describe('CLI against PostgreSQL', () => {
  it('`discern migrate` and `discern keys create` use DISCERN_DATABASE_URL', async () => {
    if (!existsSync(MAIN)) throw new Error('run `npm run build` first: this test runs the compiled CLI');
    const cliUrl = await createDatabase(postgres, 'cli');
    const env = { ...process.env, DISCERN_DATABASE_URL: cliUrl, DISCERN_DATA_DIR: '/nonexistent/discern-data', DISCERN_LOG_LEVEL: 'silent' };
    const migrated = await run(process.execPath, [MAIN, 'migrate'], { env });
    expect(migrated.stdout).toMatch(/applied: 001-initial/);
    expect((await run(process.execPath, [MAIN, 'migrate'], { env })).stdout).toMatch(/up to date/);
    const created = await run(process.execPath, [MAIN, 'keys', 'create', '--team', 'acme'], { env });
    const key = created.stdout.trim();
    expect(key.length).toBeGreaterThan(20);
    const cli = openDatabase({ DISCERN_DATABASE_URL: cliUrl, databasePath: '/nonexistent' });
    try {
      const team = await new TeamsRepository(cli.db).findByKeyHash(hashApiKey(key));
      expect(team?.name).toBe('acme');
    } finally {
      await cli.close();
    }
    expect(existsSync('/nonexistent/discern-data')).toBe(false);
  });
});

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import * as initial from './migrations/001-initial.js';
import * as reverseSearch from './migrations/002-reverse-search.js';
import * as watermarkJobs from './migrations/003-watermark-jobs.js';
import type { Database } from './schema.js';

/** Migrations are imported statically so the compiled server needs no file-system scan. */
const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-reverse-search': reverseSearch,
  '003-watermark-jobs': watermarkJobs,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** Which engine is behind `db`; the few statements that differ (row locking) read it. */
  dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

export type DatabaseKind = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Reads DISCERN_DATABASE_URL: unset or `sqlite:` → the SQLite file in the data folder,
 * `sqlite:<path>` → that file, `postgres://` / `postgresql://` → PostgreSQL.
 */
export function databaseKind(url: string | undefined, defaultSqlitePath: string): DatabaseKind {
  if (!url) return { kind: 'sqlite', path: defaultSqlitePath };
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  if (url.startsWith('sqlite:')) {
    const rest = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    return { kind: 'sqlite', path: rest ? path.resolve(rest) : defaultSqlitePath };
  }
  throw new Error('DISCERN_DATABASE_URL must start with postgres://, postgresql:// or sqlite:');
}

/** The one way the server and the CLI open the configured database. */
export function openDatabase(config: { DISCERN_DATABASE_URL?: string; DISCERN_DATABASE_POOL_SIZE?: number; databasePath: string }): DatabaseHandle {
  const target = databaseKind(config.DISCERN_DATABASE_URL, config.databasePath);
  return target.kind === 'postgres'
    ? openPostgres(target.url, { poolSize: config.DISCERN_DATABASE_POOL_SIZE })
    : openSqlite(target.path);
}

/**
 * int8 values (epoch milliseconds, byte sizes, COUNT(*)) come back from pg as strings by
 * default; the schema types them as numbers, so they are parsed here, per pool rather than
 * through pg's process-wide parser table. All of them stay far below 2^53.
 */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export function openPostgres(url: string, options: { poolSize?: number } = {}): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: pgTypes as pg.CustomTypesConfig });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

export function openSqlite(databasePath: string): DatabaseHandle {
  mkdirSync(path.dirname(databasePath), { recursive: true });
  const sqlite = new SQLite(databasePath);
  // WAL lets readers (HTTP requests) proceed while a worker writes; NORMAL sync is durable
  // across process crashes, which is the failure the job queue must survive.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
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
  close(): Promise<void>;
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
  return { db, close: () => db.destroy() };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('teams')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('webhook_secret', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('key_prefix', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute();

  await db.schema
    .createTable('batches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('total_files', 'integer', (c) => c.notNull())
    .addColumn('callback_url', 'text')
    .addColumn('callback_queued_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('secure_uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('blob_key', 'text', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .execute();

  await db.schema
    .createTable('detects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('batch_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text')
    .addColumn('filename', 'text')
    .addColumn('source_kind', 'text', (c) => c.notNull())
    .addColumn('source_url', 'text')
    .addColumn('upload_id', 'text')
    .addColumn('media_key', 'text')
    .addColumn('media_bytes', 'bigint')
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('metrics', 'text')
    .addColumn('image_metrics', 'text')
    .addColumn('video_metrics', 'text')
    .addColumn('intelligence', 'text')
    .addColumn('audio_source_tracing', 'text')
    .addColumn('duration', 'double precision')
    .addColumn('error_message', 'text')
    .addColumn('callback_url', 'text')
    .addColumn('zero_retention', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('media_deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('file_deleted_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('completed_at', 'text')
    .execute();
  await db.schema.createIndex('detects_team_created').on('detects').columns(['team_id', 'created_at']).execute();
  await db.schema.createIndex('detects_batch').on('detects').column('batch_id').execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_until', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('jobs_ready').on('jobs').columns(['status', 'run_at']).execute();
  void sql;
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['jobs', 'detects', 'secure_uploads', 'batches', 'api_keys', 'teams']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}

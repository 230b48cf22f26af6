import type { Kysely } from 'kysely';

/** Watermark apply/detect jobs (contract §8). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('watermark_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text')
    .addColumn('filename', 'text')
    .addColumn('source_url', 'text')
    .addColumn('media_key', 'text')
    .addColumn('output_key', 'text')
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('metrics', 'text')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('watermark_jobs_team').on('watermark_jobs').columns(['team_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('watermark_jobs').ifExists().execute();
}

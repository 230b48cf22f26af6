import type { Kysely } from 'kysely';

/** Team-scoped perceptual hashes of images analysed or registered as known fake / real. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('image_hashes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('detect_id', 'text')
    .addColumn('title', 'text')
    .addColumn('url', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('image_hashes_team').on('image_hashes').column('team_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('image_hashes').ifExists().execute();
}

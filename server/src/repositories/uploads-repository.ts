import type { Kysely, Selectable } from 'kysely';
import type { Database, SecureUploadsTable } from '../db/schema.js';

export type SecureUploadRow = Selectable<SecureUploadsTable>;

export class UploadsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: SecureUploadRow): Promise<void> {
    await this.db.insertInto('secure_uploads').values(row).execute();
  }

  async findForTeam(teamId: string, id: string): Promise<SecureUploadRow | null> {
    return (
      (await this.db
        .selectFrom('secure_uploads')
        .selectAll()
        .where('id', '=', id)
        .where('team_id', '=', teamId)
        .executeTakeFirst()) ?? null
    );
  }

  async markDeleted(id: string, at: string): Promise<void> {
    await this.db.updateTable('secure_uploads').set({ deleted_at: at }).where('id', '=', id).execute();
  }

  async listExpired(beforeIso: string, limit: number): Promise<SecureUploadRow[]> {
    return this.db
      .selectFrom('secure_uploads')
      .selectAll()
      .where('expires_at', '<', beforeIso)
      .where('deleted_at', 'is', null)
      .limit(limit)
      .execute();
  }
}

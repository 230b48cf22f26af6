import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, WatermarkJobsTable } from '../db/schema.js';

export type WatermarkJobRow = Selectable<WatermarkJobsTable>;

export class WatermarkJobsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: WatermarkJobRow): Promise<void> {
    await this.db.insertInto('watermark_jobs').values(row).execute();
  }

  async findForTeam(teamId: string, id: string, kind: 'apply' | 'detect'): Promise<WatermarkJobRow | null> {
    return (
      (await this.db
        .selectFrom('watermark_jobs')
        .selectAll()
        .where('id', '=', id)
        .where('team_id', '=', teamId)
        .where('kind', '=', kind)
        .executeTakeFirst()) ?? null
    );
  }

  async findById(id: string): Promise<WatermarkJobRow | null> {
    return (await this.db.selectFrom('watermark_jobs').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async update(id: string, patch: Updateable<WatermarkJobsTable>): Promise<void> {
    await this.db.updateTable('watermark_jobs').set(patch).where('id', '=', id).execute();
  }

  async finish(id: string, patch: Updateable<WatermarkJobsTable>): Promise<boolean> {
    const r = await this.db.updateTable('watermark_jobs').set(patch).where('id', '=', id).where('status', '=', 'processing').executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

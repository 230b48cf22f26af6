import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, DetectsTable } from '../db/schema.js';

export type DetectRow = Selectable<DetectsTable>;
export type DetectPatch = Updateable<DetectsTable>;

/** SQL for detects. Every read that serves a caller is filtered by team. */
export class DetectsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: DetectRow): Promise<void> {
    await this.db.insertInto('detects').values(row).execute();
  }

  async insertMany(rows: DetectRow[]): Promise<void> {
    if (rows.length) await this.db.insertInto('detects').values(rows).execute();
  }

  async findForTeam(teamId: string, id: string): Promise<DetectRow | null> {
    const row = await this.db
      .selectFrom('detects')
      .selectAll()
      .where('id', '=', id)
      .where('team_id', '=', teamId)
      .executeTakeFirst();
    return row ?? null;
  }

  /** Internal (worker) lookup, not for request handlers. */
  async findById(id: string): Promise<DetectRow | null> {
    return (await this.db.selectFrom('detects').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async listForTeam(teamId: string, page: number, pageSize: number): Promise<{ rows: DetectRow[]; total: number }> {
    const total = await this.db
      .selectFrom('detects')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('team_id', '=', teamId)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('detects')
      .selectAll()
      .where('team_id', '=', teamId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute();
    return { rows, total: Number(total.n) };
  }

  async listByBatch(batchId: string): Promise<DetectRow[]> {
    return this.db.selectFrom('detects').selectAll().where('batch_id', '=', batchId).orderBy('created_at').execute();
  }

  async update(id: string, patch: DetectPatch): Promise<void> {
    await this.db.updateTable('detects').set(patch).where('id', '=', id).execute();
  }

  /** Moves a detect to a terminal state only if it is still processing; returns whether it did. */
  async finish(id: string, patch: DetectPatch): Promise<boolean> {
    const result = await this.db
      .updateTable('detects')
      .set(patch)
      .where('id', '=', id)
      .where('status', '=', 'processing')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deleteForTeam(teamId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('detects').where('id', '=', id).where('team_id', '=', teamId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async countsForBatch(batchId: string): Promise<{ processing: number; completed: number; failed: number }> {
    const rows = await this.db
      .selectFrom('detects')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('batch_id', '=', batchId)
      .groupBy('status')
      .execute();
    const counts = { processing: 0, completed: 0, failed: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }
}

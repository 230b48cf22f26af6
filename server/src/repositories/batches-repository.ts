import type { Kysely, Selectable } from 'kysely';
import type { BatchesTable, Database } from '../db/schema.js';
import { nowIso } from '../util/ids.js';

export type BatchRow = Selectable<BatchesTable>;

export class BatchesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: BatchRow): Promise<void> {
    await this.db.insertInto('batches').values(row).execute();
  }

  async findForTeam(teamId: string, id: string): Promise<BatchRow | null> {
    return (
      (await this.db.selectFrom('batches').selectAll().where('id', '=', id).where('team_id', '=', teamId).executeTakeFirst()) ?? null
    );
  }

  async findById(id: string): Promise<BatchRow | null> {
    return (await this.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  /** Claims the right to send the batch's terminal callback; true for exactly one caller. */
  async claimCallback(id: string): Promise<boolean> {
    const now = nowIso();
    const result = await this.db
      .updateTable('batches')
      .set({ callback_queued_at: now, updated_at: now })
      .where('id', '=', id)
      .where('callback_queued_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

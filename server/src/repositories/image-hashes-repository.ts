import type { Kysely } from 'kysely';
import type { ReverseSearchEntry, ReverseSearchStore } from '../analysis/image/reverse-search.js';
import type { Database } from '../db/schema.js';
import { newId, nowIso } from '../util/ids.js';

/** SQL-backed reverse-search index; every read and write is scoped to one team. */
export class ImageHashesRepository implements ReverseSearchStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(teamId: string, entry: ReverseSearchEntry): Promise<void> {
    await this.db
      .insertInto('image_hashes')
      .values({
        id: newId(),
        team_id: teamId,
        hash: entry.hash,
        label: entry.label,
        detect_id: entry.detectId ?? null,
        title: entry.title ?? null,
        url: entry.url ?? null,
        created_at: nowIso(),
      })
      .execute();
  }

  async list(teamId: string): Promise<ReverseSearchEntry[]> {
    const rows = await this.db.selectFrom('image_hashes').selectAll().where('team_id', '=', teamId).orderBy('created_at', 'desc').limit(100_000).execute();
    return rows.map((r) => ({
      hash: r.hash,
      label: r.label,
      detectId: r.detect_id ?? undefined,
      title: r.title ?? undefined,
      url: r.url ?? undefined,
    }));
  }

  async deleteForDetect(teamId: string, detectId: string): Promise<void> {
    await this.db.deleteFrom('image_hashes').where('team_id', '=', teamId).where('detect_id', '=', detectId).execute();
  }
}

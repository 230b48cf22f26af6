import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { newId, nowIso } from '../util/ids.js';

export interface Team {
  id: string;
  name: string;
  webhookSecret: string | null;
}

export class TeamsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findByName(name: string): Promise<Team | null> {
    const row = await this.db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? { id: row.id, name: row.name, webhookSecret: row.webhook_secret } : null;
  }

  async create(name: string): Promise<Team> {
    const team = { id: newId(), name, webhook_secret: null, created_at: nowIso() };
    await this.db.insertInto('teams').values(team).execute();
    return { id: team.id, name, webhookSecret: null };
  }

  async setWebhookSecret(teamId: string, secret: string | null): Promise<void> {
    await this.db.updateTable('teams').set({ webhook_secret: secret }).where('id', '=', teamId).execute();
  }

  async addKey(teamId: string, keyHash: string, keyPrefix: string): Promise<void> {
    await this.db
      .insertInto('api_keys')
      .values({ id: newId(), team_id: teamId, key_hash: keyHash, key_prefix: keyPrefix, created_at: nowIso(), revoked_at: null })
      .execute();
  }

  async findByKeyHash(keyHash: string): Promise<Team | null> {
    const row = await this.db
      .selectFrom('api_keys')
      .innerJoin('teams', 'teams.id', 'api_keys.team_id')
      .select(['teams.id', 'teams.name', 'teams.webhook_secret'])
      .where('api_keys.key_hash', '=', keyHash)
      .where('api_keys.revoked_at', 'is', null)
      .executeTakeFirst();
    return row ? { id: row.id, name: row.name, webhookSecret: row.webhook_secret } : null;
  }

  async findById(teamId: string): Promise<Team | null> {
    const row = await this.db.selectFrom('teams').selectAll().where('id', '=', teamId).executeTakeFirst();
    return row ? { id: row.id, name: row.name, webhookSecret: row.webhook_secret } : null;
  }
}

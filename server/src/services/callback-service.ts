import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { RetryLaterError, type JobHandler } from '../queue/job-queue.js';
import type { BatchesRepository } from '../repositories/batches-repository.js';
import type { DetectsRepository } from '../repositories/detects-repository.js';
import type { TeamsRepository } from '../repositories/teams-repository.js';
import type { UrlSigner } from '../security/signed-urls.js';
import { CALLBACK_BASE_DELAY_MS, computeRetryDelayMs, deliverCallback } from '../webhooks/callback.js';
import { presentBatch, presentDetect } from './presenters.js';

/**
 * Delivers `{success, item}` to a detect's or batch's callback_url when it reaches a terminal
 * state. The body is built at send time from the current row, so zero-retention redaction and
 * fresh signed URLs apply. Non-2xx answers are retried with exponential backoff.
 */
export class CallbackService {
  constructor(
    private readonly deps: {
      config: Config;
      detects: DetectsRepository;
      batches: BatchesRepository;
      teams: TeamsRepository;
      signer: UrlSigner;
      logger: Logger;
    },
  ) {}

  readonly handler: JobHandler<{ kind: 'detect' | 'batch'; id: string }> = {
    run: async (payload, context) => {
      const built = await this.build(payload.kind, payload.id);
      if (!built) return;
      const team = await this.deps.teams.findById(built.teamId);
      const result = await deliverCallback({
        url: built.url,
        payload: built.body,
        secret: team?.webhookSecret ?? undefined,
        timeoutMs: this.deps.config.DISCERN_CALLBACK_TIMEOUT_SECONDS * 1000,
        guard: { allowHosts: this.deps.config.DISCERN_URL_ALLOW_HOSTS },
        eventId: `${payload.kind}.${payload.id}`,
      });
      if (result.ok) {
        this.deps.logger.info({ kind: payload.kind, id: payload.id, status: result.status, attempt: context.attempt }, 'callback delivered');
        return;
      }
      const reason = result.error ?? `HTTP ${result.status}`;
      if (result.permanent) {
        this.deps.logger.warn({ kind: payload.kind, id: payload.id, reason }, 'callback not deliverable; not retried');
        return;
      }
      // The schedule's shape comes from computeRetryDelayMs (5 s doubling, capped at 10 min);
      // DISCERN_CALLBACK_RETRY_BASE_SECONDS rescales it (tests use a fraction of a second).
      const scale = this.deps.config.DISCERN_CALLBACK_RETRY_BASE_SECONDS / (CALLBACK_BASE_DELAY_MS / 1000);
      throw new RetryLaterError(`callback for ${payload.kind} ${payload.id} failed: ${reason}`, Math.round(computeRetryDelayMs(context.attempt) * scale));
    },
    onGiveUp: async (payload, error) => {
      this.deps.logger.warn({ kind: payload.kind, id: payload.id, error }, 'callback abandoned after its last attempt');
    },
  };

  private async build(kind: 'detect' | 'batch', id: string) {
    if (kind === 'detect') {
      const row = await this.deps.detects.findById(id);
      if (!row?.callback_url) return null;
      return { url: row.callback_url, teamId: row.team_id, body: { success: true, item: presentDetect(row, this.deps.signer) } };
    }
    const batch = await this.deps.batches.findById(id);
    if (!batch?.callback_url) return null;
    const children = await this.deps.detects.listByBatch(id);
    const counts = await this.deps.detects.countsForBatch(id);
    return {
      url: batch.callback_url,
      teamId: batch.team_id,
      body: { success: true, item: presentBatch(batch, children.map((c) => c.id), counts) },
    };
  }
}

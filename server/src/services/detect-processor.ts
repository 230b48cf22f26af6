import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AnalyserRegistry } from '../analysis/registry.js';
import { AnalysisError, ASSET_PREFIX, type AnalysisOutput, type ArtifactSink, type DetectOptions } from '../analysis/types.js';
import type { Config } from '../config.js';
import { FetchError, UrlRefusedError } from '../media/fetch-url.js';
import { MediaError, probeMedia } from '../media/probe.js';
import type { JobHandler, JobQueue } from '../queue/job-queue.js';
import type { BatchesRepository } from '../repositories/batches-repository.js';
import type { DetectRow, DetectsRepository } from '../repositories/detects-repository.js';
import type { UploadsRepository } from '../repositories/uploads-repository.js';
import type { Metrics } from '../metrics.js';
import type { BlobStore } from '../storage/blob-store.js';
import { newId, nowIso } from '../util/ids.js';
import type { DetectEvents } from './detect-events.js';
import { detectPrefix } from './detect-service.js';
import type { MediaIntake } from './media-intake.js';

/** A failure that is the media's or the caller's fault: the job fails at once, without retries. */
function isTerminalInputError(error: unknown): boolean {
  return error instanceof AnalysisError || error instanceof MediaError || error instanceof UrlRefusedError || error instanceof FetchError;
}

/**
 * The worker side of a detection: intake → probe → analysers → result → follow-ups
 * (callback, batch completion, zero-retention purge). Safe to run twice for the same detect:
 * a detect that is already terminal only gets its follow-ups (re)queued, which are idempotent.
 */
export class DetectProcessor {
  constructor(
    private readonly deps: {
      config: Config;
      detects: DetectsRepository;
      batches: BatchesRepository;
      uploads: UploadsRepository;
      intake: MediaIntake;
      blobs: BlobStore;
      queue: JobQueue;
      analysers: AnalyserRegistry;
      events: DetectEvents;
      metrics: Metrics;
      logger: Logger;
    },
  ) {}

  readonly analyseHandler: JobHandler<{ detectId: string }> = {
    run: (payload, context) => this.analyse(payload.detectId, context.isLastAttempt, context.signal),
    onGiveUp: async (payload, error) => {
      this.deps.logger.error({ detect: payload.detectId, error }, 'analysis abandoned');
      await this.finish(payload.detectId, { status: 'failed', error_message: 'Internal error while analysing the media; see the server log' });
    },
  };

  readonly purgeHandler: JobHandler<{ detectId: string }> = {
    run: (payload) => this.purgeMedia(payload.detectId),
  };

  private async analyse(detectId: string, isLastAttempt: boolean, signal: AbortSignal): Promise<void> {
    const row = await this.deps.detects.findById(detectId);
    if (!row) return; // deleted while queued
    if (row.status !== 'processing') {
      await this.queueFollowUps(row);
      return;
    }
    const started = Date.now();
    const workDir = path.join(this.deps.config.tmpDir, `job-${detectId}-${newId().slice(0, 8)}`);
    await mkdir(workDir, { recursive: true });
    try {
      const output = await this.runAnalysis(row, workDir, signal);
      await this.finish(detectId, {
        status: 'completed',
        media_type: output.mediaType,
        metrics: output.metrics ? JSON.stringify(output.metrics) : null,
        image_metrics: output.image_metrics ? JSON.stringify(output.image_metrics) : null,
        video_metrics: output.video_metrics ? JSON.stringify(output.video_metrics) : null,
        duration: output.duration ?? null,
        intelligence: output.intelligence,
        audio_source_tracing: output.audioSourceTracing,
      });
    } catch (error) {
      if (isTerminalInputError(error)) {
        let message = (error as Error).message;
        // Zero retention: the caller's URL must not come back in any response, errors included.
        if (row.zero_retention && row.source_url) message = message.split(row.source_url).join('[redacted url]');
        await this.finish(detectId, { status: 'failed', error_message: message });
      } else if (isLastAttempt) {
        this.deps.logger.error({ err: error, detect: detectId }, 'analysis failed on its last attempt');
        await this.finish(detectId, { status: 'failed', error_message: 'Internal error while analysing the media; see the server log' });
      } else {
        throw error;
      }
    } finally {
      this.deps.metrics.analysisDuration.observe({}, (Date.now() - started) / 1000);
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async runAnalysis(row: DetectRow, workDir: string, signal: AbortSignal) {
    const options = JSON.parse(row.options) as DetectOptions;
    let mediaKey = row.media_key;
    if (!mediaKey) {
      if (!row.source_url) throw new AnalysisError('The detect has no media to analyse');
      const name = row.filename && !row.zero_retention ? row.filename : null;
      const fetched = await this.deps.intake.fetchIntoStore(row.source_url, detectPrefix(row.team_id, row.id), name, workDir, signal);
      mediaKey = fetched.mediaKey;
      await this.deps.detects.update(row.id, {
        media_key: mediaKey,
        media_bytes: fetched.bytes,
        // Zero retention: once fetched, the caller's URL is not kept either.
        source_url: row.zero_retention ? null : row.source_url,
        updated_at: nowIso(),
      });
    }
    const mediaPath = await this.deps.blobs.toLocalFile(mediaKey, path.join(workDir, 'media'));
    const probe = await probeMedia(mediaPath);
    const analysers = this.deps.analysers.forMediaType(probe.mediaType);
    if (analysers.length === 0) {
      throw new AnalysisError(`No ${probe.mediaType} analyser is installed on this server, so no verdict can be given`);
    }
    const artifacts: ArtifactSink = {
      save: async (name, bytes) => {
        const safe = name.replace(/[^a-zA-Z0-9._-]/g, '_').slice(0, 80) || 'asset';
        const key = `${detectPrefix(row.team_id, row.id)}assets/${newId().slice(0, 8)}-${safe}`;
        await this.deps.blobs.put(key, bytes);
        return `${ASSET_PREFIX}${key}`;
      },
    };
    const merged: AnalysisOutput = {};
    for (const analyser of analysers) {
      const out = await analyser.analyse({
        detectId: row.id,
        teamId: row.team_id,
        mediaPath,
        mediaType: probe.mediaType,
        probe,
        options,
        artifacts,
        signal,
      });
      for (const key of ['metrics', 'image_metrics', 'video_metrics'] as const) {
        if (out[key]) merged[key] = out[key];
      }
      if (out.duration != null) merged.duration = out.duration;
    }
    // Follow-up analyses that this server cannot perform yet say so instead of staying empty.
    const intelligence = options.intelligence
      ? JSON.stringify({ description: null, status: 'failed', error_message: 'Intelligence is not available on this server', created_at: nowIso() })
      : null;
    const label = (merged.metrics as { label?: string } | undefined)?.label;
    const audioSourceTracing =
      options.audio_source_tracing && label === 'fake'
        ? JSON.stringify({ label: null, error_message: 'No source-tracing model is installed on this server' })
        : null;
    return { ...merged, duration: merged.duration ?? probe.duration, mediaType: probe.mediaType, intelligence, audioSourceTracing };
  }

  /** Writes the terminal state once, wakes `Prefer: wait` and queues the follow-ups. */
  private async finish(detectId: string, patch: Parameters<DetectsRepository['finish']>[1]): Promise<void> {
    const now = nowIso();
    await this.deps.detects.finish(detectId, { ...patch, updated_at: now, completed_at: now });
    const row = await this.deps.detects.findById(detectId);
    if (!row) return;
    this.deps.events.finished(detectId);
    this.deps.metrics.detectsFinished.inc({ status: row.status, media_type: row.media_type ?? 'unknown' });
    this.deps.logger.info({ detect: detectId, status: row.status, error: row.error_message ?? undefined }, 'detect finished');
    await this.queueFollowUps(row);
  }

  private async queueFollowUps(row: DetectRow): Promise<void> {
    const { queue } = this.deps;
    if (row.callback_url) {
      await queue.enqueue('callback', { kind: 'detect', id: row.id }, { id: `callback:detect:${row.id}`, maxAttempts: this.deps.config.DISCERN_CALLBACK_MAX_ATTEMPTS });
    }
    if (row.batch_id) {
      const counts = await this.deps.detects.countsForBatch(row.batch_id);
      const batch = await this.deps.batches.findById(row.batch_id);
      // Compared with total_files, not "none processing": early children can finish before
      // the last ones of the batch are even inserted.
      if (batch && counts.completed + counts.failed >= batch.total_files) {
        if (batch.callback_url && (await this.deps.batches.claimCallback(batch.id))) {
          await queue.enqueue('callback', { kind: 'batch', id: batch.id }, { id: `callback:batch:${batch.id}`, maxAttempts: this.deps.config.DISCERN_CALLBACK_MAX_ATTEMPTS });
        }
      }
    }
    if (row.zero_retention && row.media_deleted === 0) {
      await queue.enqueue('purge', { detectId: row.id }, { id: `purge:${row.id}` });
    }
  }

  /**
   * Zero retention: deletes the analysed media and the secure-upload blob it came from.
   * Visualisations stay: they are derived pictures, not the media.
   */
  private async purgeMedia(detectId: string): Promise<void> {
    const row = await this.deps.detects.findById(detectId);
    if (!row || row.media_deleted === 1) return;
    if (row.media_key) await this.deps.blobs.delete(row.media_key);
    const now = nowIso();
    if (row.upload_id) {
      await this.deps.blobs.deletePrefix(`teams/${row.team_id}/uploads/${row.upload_id}/`);
      await this.deps.uploads.markDeleted(row.upload_id, now);
    }
    await this.deps.detects.update(detectId, { media_deleted: 1, file_deleted_at: now, media_key: null, source_url: null, updated_at: now });
    this.deps.logger.info({ detect: detectId }, 'zero retention: media purged');
  }

  /** Deletes secure-upload blobs whose token has expired. */
  async sweepExpiredUploads(): Promise<void> {
    const expired = await this.deps.uploads.listExpired(nowIso(), 100);
    for (const upload of expired) {
      await this.deps.blobs.deletePrefix(`teams/${upload.team_id}/uploads/${upload.id}/`);
      await this.deps.uploads.markDeleted(upload.id, nowIso());
    }
  }
}

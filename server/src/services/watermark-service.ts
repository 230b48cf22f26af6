import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AnalysisError } from '../analysis/types.js';
import type { TimeScaleSearch } from '../analysis/watermark/audio-watermark.js';
import { applyWatermarkToFile, detectWatermarkInFile } from '../analysis/watermark/media-watermark.js';
import type { Config } from '../config.js';
import { notFound } from '../errors.js';
import { FetchError, UrlRefusedError } from '../media/fetch-url.js';
import { MediaError, probeMedia } from '../media/probe.js';
import type { JobHandler, JobQueue } from '../queue/job-queue.js';
import type { Team } from '../repositories/teams-repository.js';
import type { WatermarkJobRow, WatermarkJobsRepository } from '../repositories/watermark-jobs-repository.js';
import type { UrlSigner } from '../security/signed-urls.js';
import type { BlobStore } from '../storage/blob-store.js';
import { newId, nowIso } from '../util/ids.js';
import type { DetectEvents } from './detect-events.js';
import type { MediaIntake, MediaSource } from './media-intake.js';

export interface WatermarkOptions {
  strength: number;
  /** Apply: the message to embed. Detect: when given, the mark must also carry this message. */
  custom_message: string | null;
  /**
   * Detect, audio: marks played up to ±5 % faster or slower are looked for by default where the
   * mark's period stands out (audio-watermark.ts, 'auto'); true also tries weak estimates
   * (slower on unmarked input), false skips the search.
   */
  time_scale_search?: boolean;
}

export type WatermarkKind = 'apply' | 'detect';

/** The API's boolean (absent = the default) as the detector's search mode. */
function timeScaleMode(requested: boolean | undefined): TimeScaleSearch {
  return requested === undefined ? 'auto' : requested ? 'full' : 'off';
}

/** The error Resemble's watermark endpoints use for unreadable media. */
export const INVALID_MEDIA = 'File must be valid media format';

function prefixOf(teamId: string, id: string): string {
  return `teams/${teamId}/watermarks/${id}/`;
}

/** Watermark apply/detect jobs: intake as for detects, the engine in analysis/watermark. */
export class WatermarkService {
  constructor(
    private readonly deps: {
      config: Config;
      jobs: WatermarkJobsRepository;
      intake: MediaIntake;
      blobs: BlobStore;
      queue: JobQueue;
      events: DetectEvents;
      signer: UrlSigner;
      logger: Logger;
    },
  ) {}

  async create(team: Team, kind: WatermarkKind, source: MediaSource, options: WatermarkOptions): Promise<WatermarkJobRow> {
    const id = newId();
    const media = await this.deps.intake.accept(team, prefixOf(team.id, id), source);
    const now = nowIso();
    const row: WatermarkJobRow = {
      id,
      team_id: team.id,
      kind,
      status: 'processing',
      media_type: null,
      filename: media.filename,
      source_url: media.sourceUrl,
      media_key: media.mediaKey,
      output_key: null,
      options: JSON.stringify(options),
      metrics: null,
      error_message: null,
      created_at: now,
      updated_at: now,
    };
    await this.deps.jobs.insert(row);
    await this.deps.queue.enqueue('watermark', { jobId: id }, { id: `watermark:${id}` });
    return row;
  }

  async get(team: Team, id: string, kind: WatermarkKind): Promise<WatermarkJobRow> {
    const row = await this.deps.jobs.findForTeam(team.id, id, kind);
    if (!row) throw notFound('Watermark job not found');
    return row;
  }

  async waitForTerminal(team: Team, id: string, kind: WatermarkKind, timeoutMs: number): Promise<WatermarkJobRow> {
    const deadline = Date.now() + timeoutMs;
    let row = await this.get(team, id, kind);
    while (row.status === 'processing' && Date.now() < deadline) {
      await this.deps.events.waitFor(id, Math.min(1000, deadline - Date.now()));
      row = await this.get(team, id, kind);
    }
    return row;
  }

  /** The contract's item: `watermarked_media` (and `watermarked_audio` for audio) as signed URLs. */
  present(row: WatermarkJobRow): Record<string, unknown> {
    const watermarked = row.output_key ? this.deps.signer.sign(row.output_key) : null;
    return {
      uuid: row.id,
      status: row.status,
      media_type: row.media_type,
      source_media_url: row.source_url ?? (row.media_key ? this.deps.signer.sign(row.media_key) : null),
      metrics: row.metrics ? JSON.parse(row.metrics) : null,
      watermarked_media: row.kind === 'apply' ? watermarked : undefined,
      watermarked_audio: row.kind === 'apply' && row.media_type === 'audio' ? watermarked : undefined,
      error_message: row.error_message,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  readonly handler: JobHandler<{ jobId: string }> = {
    run: (payload, context) => this.process(payload.jobId, context.isLastAttempt, context.signal),
    onGiveUp: async (payload) => this.fail(payload.jobId, 'Internal error while processing the watermark job; see the server log'),
  };

  private async process(id: string, isLastAttempt: boolean, signal: AbortSignal): Promise<void> {
    const row = await this.deps.jobs.findById(id);
    if (!row || row.status !== 'processing') return;
    const workDir = path.join(this.deps.config.tmpDir, `wm-${id}-${newId().slice(0, 8)}`);
    await mkdir(workDir, { recursive: true });
    try {
      let mediaKey = row.media_key;
      if (!mediaKey) {
        const fetched = await this.deps.intake.fetchIntoStore(row.source_url!, prefixOf(row.team_id, id), row.filename, workDir, signal);
        mediaKey = fetched.mediaKey;
        await this.deps.jobs.update(id, { media_key: mediaKey, updated_at: nowIso() });
      }
      const inputPath = await this.deps.blobs.toLocalFile(mediaKey, path.join(workDir, 'input'));
      let probe;
      try {
        probe = await probeMedia(inputPath);
      } catch (error) {
        if (error instanceof MediaError) throw new MediaError(`${INVALID_MEDIA}: ${error.message}`);
        throw error;
      }
      const options = JSON.parse(row.options) as WatermarkOptions;
      if (row.kind === 'apply') {
        const ext = path.extname(mediaKey) || (probe.mediaType === 'image' ? '.png' : probe.mediaType === 'audio' ? '.wav' : '.mp4');
        const outputPath = path.join(workDir, `watermarked${ext}`);
        const result = await applyWatermarkToFile({ inputPath, outputPath, mediaType: probe.mediaType, strength: options.strength, message: options.custom_message });
        const outputKey = `${prefixOf(row.team_id, id)}watermarked${path.extname(result.outputPath) || ext}`;
        await this.deps.blobs.put(outputKey, (await import('node:fs')).createReadStream(result.outputPath));
        const { outputPath: _ignored, ...details } = result as unknown as Record<string, unknown>;
        await this.finish(id, { status: 'completed', media_type: probe.mediaType, output_key: outputKey, metrics: JSON.stringify({ applied: true, ...details }) });
      } else {
        const result = await detectWatermarkInFile({ inputPath, mediaType: probe.mediaType, message: options.custom_message, timeScaleSearch: timeScaleMode(options.time_scale_search) });
        await this.finish(id, { status: 'completed', media_type: probe.mediaType, metrics: JSON.stringify(result) });
      }
    } catch (error) {
      const inputError = error instanceof MediaError || error instanceof AnalysisError || error instanceof FetchError || error instanceof UrlRefusedError;
      if (inputError) await this.fail(id, (error as Error).message);
      else if (isLastAttempt) {
        this.deps.logger.error({ err: error, job: id }, 'watermark job failed on its last attempt');
        await this.fail(id, 'Internal error while processing the watermark job; see the server log');
      } else throw error;
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async fail(id: string, message: string): Promise<void> {
    await this.finish(id, { status: 'failed', error_message: message });
  }

  private async finish(id: string, patch: Parameters<WatermarkJobsRepository['finish']>[1]): Promise<void> {
    await this.deps.jobs.finish(id, { ...patch, updated_at: nowIso() });
    this.deps.events.finished(id);
  }
}

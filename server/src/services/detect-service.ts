import path from 'node:path';
import type { Logger } from 'pino';
import type { DetectOptions } from '../analysis/types.js';
import type { Config } from '../config.js';
import { ApiError, notFound } from '../errors.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { DetectRow, DetectsRepository } from '../repositories/detects-repository.js';
import type { ImageHashesRepository } from '../repositories/image-hashes-repository.js';
import type { Team } from '../repositories/teams-repository.js';
import type { DetectOptionsInputType } from '../schemas/detect.js';
import type { BlobStore } from '../storage/blob-store.js';
import { newId, nowIso } from '../util/ids.js';
import type { DetectEvents } from './detect-events.js';
import type { MediaIntake, MediaSource } from './media-intake.js';

/** Extensions accepted for direct uploads (contract §2.1), lower-case with the dot. */
export const MEDIA_EXTENSIONS = new Set([
  '.wav', '.mp3', '.m4a', '.ogg', '.aac', '.flac', '.amr', '.3gp', '.3gpp', '.opus',
  '.mp4', '.mov', '.avi', '.mkv', '.webm', '.wmv',
  '.jpg', '.jpeg', '.png', '.gif', '.webp',
]);

const AUDIO_EXT = new Set(['.wav', '.mp3', '.m4a', '.ogg', '.aac', '.flac', '.amr', '.opus']);
const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.gif', '.webp']);

/** Media type guessed from a name, only to fill `media_type` before the bytes are probed. */
export function guessMediaType(name: string | null): 'audio' | 'image' | 'video' | null {
  if (!name) return null;
  const ext = path.extname(name).toLowerCase();
  if (AUDIO_EXT.has(ext)) return 'audio';
  if (IMAGE_EXT.has(ext)) return 'image';
  if (MEDIA_EXTENSIONS.has(ext)) return 'video';
  return null;
}

export type { MediaSource } from './media-intake.js';

export function resolveOptions(input: DetectOptionsInputType, defaults: { visualize: boolean }): DetectOptions {
  return {
    visualize: input.visualize ?? defaults.visualize,
    frame_length: input.frame_length ?? 2,
    start_region: input.start_region ?? null,
    end_region: input.end_region ?? null,
    max_video_fps: input.max_video_fps ?? null,
    max_video_secs: input.max_video_secs ?? null,
    model_types: input.model_types ?? null,
    intelligence: input.intelligence ?? false,
    audio_source_tracing: input.audio_source_tracing ?? input.audio_source_tracing_enabled ?? false,
    use_reverse_search: input.use_reverse_search ?? false,
    use_ood_detector: input.use_ood_detector ?? false,
    zero_retention_mode: input.zero_retention_mode ?? input.privacy_mode ?? false,
  };
}

export function detectPrefix(teamId: string, detectId: string): string {
  return `teams/${teamId}/detects/${detectId}/`;
}

/** `redacted_<32 hex>.<ext>`: zero retention keeps the extension and nothing else of the name. */
export function redactedFilename(original: string | null): string {
  const ext = original ? path.extname(original).toLowerCase().replace(/[^.a-z0-9]/g, '').slice(0, 8) : '';
  return `redacted_${newId()}${ext}`;
}

export interface CreateDetectParams {
  source: MediaSource;
  options: DetectOptions;
  callbackUrl: string | null;
  batchId?: string | null;
}

/** Rules of detections: creation from each intake, team scoping, listing, deletion, waiting. */
export class DetectService {
  constructor(
    private readonly deps: {
      config: Config;
      detects: DetectsRepository;
      intake: MediaIntake;
      blobs: BlobStore;
      queue: JobQueue;
      events: DetectEvents;
      imageHashes: ImageHashesRepository;
      logger: Logger;
    },
  ) {}

  async checkPublicUrl(url: string, field: string): Promise<void> {
    return this.deps.intake.checkPublicUrl(url, field);
  }

  /** Validates the source and options, stores the media, writes the row and queues the analysis. */
  async create(team: Team, params: CreateDetectParams): Promise<DetectRow> {
    const { source, options } = params;
    const id = newId();
    const now = nowIso();
    if (params.callbackUrl) await this.checkPublicUrl(params.callbackUrl, 'callback_url');

    const media = await this.deps.intake.accept(team, detectPrefix(team.id, id), source);
    const filename = media.filename;

    const row: DetectRow = {
      id,
      team_id: team.id,
      batch_id: params.batchId ?? null,
      status: 'processing',
      media_type: guessMediaType(filename),
      filename: options.zero_retention_mode ? redactedFilename(filename) : filename,
      source_kind: source.kind,
      source_url: media.sourceUrl,
      upload_id: media.uploadId,
      media_key: media.mediaKey,
      media_bytes: media.mediaBytes,
      options: JSON.stringify(options),
      metrics: null,
      image_metrics: null,
      video_metrics: null,
      intelligence: null,
      audio_source_tracing: null,
      duration: null,
      error_message: null,
      callback_url: params.callbackUrl,
      zero_retention: options.zero_retention_mode ? 1 : 0,
      media_deleted: 0,
      file_deleted_at: null,
      created_at: now,
      updated_at: now,
      completed_at: null,
    };
    await this.deps.detects.insert(row);
    await this.deps.queue.enqueue('analyse', { detectId: id }, { id: `analyse:${id}` });
    this.deps.logger.info({ detect: id, team: team.id, source: source.kind, zeroRetention: options.zero_retention_mode }, 'detect created');
    return row;
  }

  async get(team: Team, id: string): Promise<DetectRow> {
    const row = await this.deps.detects.findForTeam(team.id, id);
    if (!row) throw notFound('Detect not found');
    return row;
  }

  async list(team: Team, page: number, pageSize: number) {
    return this.deps.detects.listForTeam(team.id, page, pageSize);
  }

  /** Removes the row and every blob of the detect (media and visualisations). */
  async delete(team: Team, id: string): Promise<void> {
    const row = await this.deps.detects.findForTeam(team.id, id);
    if (!row) throw notFound('Detect not found');
    await this.deps.blobs.deletePrefix(detectPrefix(team.id, id));
    await this.deps.imageHashes.deleteForDetect(team.id, id);
    await this.deps.detects.deleteForTeam(team.id, id);
  }

  /**
   * `Prefer: wait`: resolves when the detect is terminal or the wait limit passes, then
   * returns the row as it is, so clients can fall back to polling.
   */
  async waitForTerminal(team: Team, id: string, timeoutMs: number): Promise<DetectRow> {
    const deadline = Date.now() + timeoutMs;
    let row = await this.get(team, id);
    while (row.status === 'processing' && Date.now() < deadline) {
      await this.deps.events.waitFor(id, Math.min(1000, deadline - Date.now()));
      row = await this.get(team, id);
    }
    return row;
  }
}

export { ApiError };

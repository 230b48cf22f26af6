import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DetectOptions } from '../analysis/types.js';
import type { Config } from '../config.js';
import { badRequest, notFound } from '../errors.js';
import { extractMediaZip, ZipRefusedError } from '../media/safe-zip.js';
import type { BatchesRepository } from '../repositories/batches-repository.js';
import type { DetectsRepository } from '../repositories/detects-repository.js';
import type { Team } from '../repositories/teams-repository.js';
import type { ReceivedFile } from '../routes/multipart.js';
import { newId, nowIso } from '../util/ids.js';
import { type DetectService, MEDIA_EXTENSIONS } from './detect-service.js';
import { presentBatch } from './presenters.js';

/** Batch detection: many files (or one zip) with the same settings, each an ordinary detect. */
export class BatchService {
  constructor(
    private readonly deps: { config: Config; batches: BatchesRepository; detects: DetectsRepository; detectService: DetectService },
  ) {}

  async create(team: Team, files: ReceivedFile[], options: DetectOptions, callbackUrl: string | null) {
    const { config } = this.deps;
    const listed = files.filter((f) => f.field === 'files[]' || f.field === 'files');
    const zips = files.filter((f) => f.field === 'file');
    if (listed.length && zips.length) throw badRequest('Send either files[] or one .zip in file, not both');
    if (!listed.length && !zips.length) throw badRequest('No files: send repeated files[] fields or one .zip in file');
    if (zips.length > 1) throw badRequest('Send a single .zip in file');
    if (callbackUrl) await this.deps.detectService.checkPublicUrl(callbackUrl, 'callback_url');

    let media: { tempPath: string; filename: string; bytes: number }[];
    let extractDir: string | null = null;
    if (zips.length) {
      const zip = zips[0]!;
      extractDir = path.join(config.tmpDir, `batch-${newId()}`);
      await mkdir(extractDir, { recursive: true });
      try {
        const extracted = await extractMediaZip(zip.tempPath, extractDir, {
          maxEntries: config.DISCERN_MAX_BATCH_FILES,
          maxTotalBytes: config.DISCERN_MAX_BATCH_BYTES,
          maxEntryBytes: config.DISCERN_MAX_UPLOAD_BYTES,
          allowedExtensions: [...MEDIA_EXTENSIONS],
        });
        media = extracted.map((e) => ({ tempPath: e.path, filename: e.name, bytes: e.bytes }));
      } catch (error) {
        await rm(extractDir, { recursive: true, force: true });
        if (error instanceof ZipRefusedError) throw badRequest(`Zip refused: ${error.message}`);
        throw error;
      } finally {
        await rm(zip.tempPath, { force: true });
      }
      if (media.length === 0) {
        await rm(extractDir, { recursive: true, force: true });
        throw badRequest('The zip holds no media files');
      }
    } else {
      for (const f of listed) {
        const ext = path.extname(f.filename).toLowerCase();
        if (!MEDIA_EXTENSIONS.has(ext)) throw badRequest(`${f.filename}: unsupported extension; allowed: ${[...MEDIA_EXTENSIONS].join(' ')}`);
        if (f.bytes === 0) throw badRequest(`${f.filename}: the file is empty`);
      }
      media = listed;
    }
    if (media.length > config.DISCERN_MAX_BATCH_FILES) throw badRequest(`Too many files: at most ${config.DISCERN_MAX_BATCH_FILES} per batch`);

    const now = nowIso();
    const batch = { id: newId(), team_id: team.id, total_files: media.length, callback_url: callbackUrl, callback_queued_at: null, created_at: now, updated_at: now };
    await this.deps.batches.insert(batch);
    const detectIds: string[] = [];
    try {
      for (const m of media) {
        const row = await this.deps.detectService.create(team, {
          source: { kind: 'upload', tempPath: m.tempPath, filename: m.filename, bytes: m.bytes },
          options,
          callbackUrl: null,
          batchId: batch.id,
        });
        detectIds.push(row.id);
      }
    } finally {
      if (extractDir) await rm(extractDir, { recursive: true, force: true });
    }
    return presentBatch(batch, detectIds, { processing: detectIds.length, completed: 0, failed: 0 });
  }

  async get(team: Team, id: string) {
    const batch = await this.deps.batches.findForTeam(team.id, id);
    if (!batch) throw notFound('Batch not found');
    const children = await this.deps.detects.listByBatch(id);
    const counts = await this.deps.detects.countsForBatch(id);
    return presentBatch(batch, children.map((c) => c.id), counts);
  }
}

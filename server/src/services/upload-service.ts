import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { badRequest } from '../errors.js';
import type { Team } from '../repositories/teams-repository.js';
import type { UploadsRepository } from '../repositories/uploads-repository.js';
import { signUploadToken } from '../security/tokens.js';
import type { BlobStore } from '../storage/blob-store.js';
import { newId, nowIso } from '../util/ids.js';
import { MEDIA_EXTENSIONS } from './detect-service.js';

export const UPLOAD_TOKEN_TTL_SECONDS = 3600;

/** Secure uploads: store a file privately for the team, answer a signed one-hour token. */
export class UploadService {
  constructor(private readonly deps: { uploads: UploadsRepository; blobs: BlobStore; secret: string }) {}

  async create(team: Team, file: { tempPath: string; filename: string; bytes: number }): Promise<string> {
    try {
      if (file.bytes === 0) throw badRequest('The uploaded file is empty');
      const ext = path.extname(file.filename).toLowerCase();
      if (ext && !MEDIA_EXTENSIONS.has(ext)) throw badRequest(`Unsupported file extension ${ext}: upload audio, image or video`);
      const id = newId();
      const blobKey = `teams/${team.id}/uploads/${id}/${file.filename}`;
      await this.deps.blobs.put(blobKey, createReadStream(file.tempPath));
      const issued = Math.floor(Date.now() / 1000);
      await this.deps.uploads.insert({
        id,
        team_id: team.id,
        blob_key: blobKey,
        filename: file.filename,
        size_bytes: file.bytes,
        created_at: nowIso(),
        expires_at: new Date((issued + UPLOAD_TOKEN_TTL_SECONDS) * 1000).toISOString(),
        deleted_at: null,
      });
      return signUploadToken({ sub: team.id, upl: id, iat: issued, exp: issued + UPLOAD_TOKEN_TTL_SECONDS }, this.deps.secret);
    } finally {
      await rm(file.tempPath, { force: true });
    }
  }
}

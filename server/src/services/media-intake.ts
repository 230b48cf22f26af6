import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { badRequest } from '../errors.js';
import { assertPublicUrl, fetchToFile, UrlRefusedError } from '../media/fetch-url.js';
import type { Team } from '../repositories/teams-repository.js';
import type { UploadsRepository } from '../repositories/uploads-repository.js';
import { verifyUploadToken } from '../security/tokens.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Where a job's media comes from, as the route received it. */
export type MediaSource =
  | { kind: 'upload'; tempPath: string; filename: string; bytes: number }
  | { kind: 'url'; url: string }
  | { kind: 'media_token'; token: string };

export interface AcceptedMedia {
  filename: string | null;
  /** Set when the bytes are already stored; null for URLs, which the worker fetches. */
  mediaKey: string | null;
  mediaBytes: number | null;
  sourceUrl: string | null;
  uploadId: string | null;
}

/** The blob key of a job's media, under the job's own folder so deleting the folder deletes it. */
export function mediaKeyIn(prefix: string, filename: string): string {
  const ext = path.extname(filename).toLowerCase().replace(/[^.a-z0-9]/g, '').slice(0, 8);
  return `${prefix}media${ext}`;
}

/**
 * Media intake shared by every job kind (detects, watermark jobs): checks the caller's URL
 * against the SSRF guard up front, stores uploads, resolves media tokens, and later fetches
 * URLs in the worker with the pinned, size- and time-capped client.
 */
export class MediaIntake {
  constructor(private readonly deps: { config: Config; uploads: UploadsRepository; blobs: BlobStore; secret: string }) {}

  /** Refusals are immediate 400s, so a caller learns at once that a URL will never be fetched. */
  async checkPublicUrl(url: string, field: string): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badRequest(`${field} must be a valid http(s) URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw badRequest(`${field} must be an http(s) URL`);
    try {
      await assertPublicUrl(parsed, { allowHosts: this.deps.config.DISCERN_URL_ALLOW_HOSTS });
    } catch (error) {
      if (error instanceof UrlRefusedError) throw badRequest(`${field} refused: ${error.message}`);
      throw badRequest(`${field} could not be resolved: ${(error as Error).message}`);
    }
  }

  /** Takes the media in for a job whose blobs live under `prefix`. */
  async accept(team: Team, prefix: string, source: MediaSource): Promise<AcceptedMedia> {
    if (source.kind === 'url') {
      await this.checkPublicUrl(source.url, 'url');
      return { filename: path.basename(new URL(source.url).pathname) || null, mediaKey: null, mediaBytes: null, sourceUrl: source.url, uploadId: null };
    }
    if (source.kind === 'media_token') {
      const check = verifyUploadToken(source.token, this.deps.secret);
      if (!check.ok) throw badRequest(check.reason);
      if (check.claims.sub !== team.id) throw badRequest('media_token does not belong to this team');
      const upload = await this.deps.uploads.findForTeam(team.id, check.claims.upl);
      if (!upload || upload.deleted_at) throw badRequest('media_token refers to an upload that no longer exists; upload the file again');
      const mediaKey = mediaKeyIn(prefix, upload.filename);
      await this.deps.blobs.copy(upload.blob_key, mediaKey);
      return { filename: upload.filename, mediaKey, mediaBytes: upload.size_bytes, sourceUrl: null, uploadId: upload.id };
    }
    const mediaKey = mediaKeyIn(prefix, source.filename);
    try {
      const bytes = await this.deps.blobs.put(mediaKey, createReadStream(source.tempPath));
      return { filename: source.filename, mediaKey, mediaBytes: bytes, sourceUrl: null, uploadId: null };
    } finally {
      await rm(source.tempPath, { force: true });
    }
  }

  /** Worker side: downloads a URL job's media into the blob store. */
  async fetchIntoStore(url: string, prefix: string, fallbackName: string | null, workDir: string, signal?: AbortSignal) {
    const fetched = await fetchToFile(url, path.join(workDir, 'download'), {
      maxBytes: this.deps.config.DISCERN_MAX_URL_FETCH_BYTES,
      timeoutMs: this.deps.config.DISCERN_URL_FETCH_TIMEOUT_SECONDS * 1000,
      allowHosts: this.deps.config.DISCERN_URL_ALLOW_HOSTS,
      signal,
    });
    const mediaKey = mediaKeyIn(prefix, fallbackName ?? fetched.filenameHint ?? 'media');
    try {
      const bytes = await this.deps.blobs.put(mediaKey, createReadStream(fetched.path));
      return { mediaKey, bytes };
    } finally {
      await rm(fetched.path, { force: true });
    }
  }
}

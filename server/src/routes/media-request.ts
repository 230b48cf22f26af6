import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { badRequest } from '../errors.js';
import { MEDIA_EXTENSIONS } from '../services/detect-service.js';
import type { MediaSource } from '../services/media-intake.js';
import { receiveMultipart } from './multipart.js';

export interface MediaRequest {
  /** Every other field of the body (JSON values, or strings from a form). */
  fields: Record<string, unknown>;
  source: MediaSource;
  /** Removes the temporary upload when the request fails before a service took it over. */
  discard(): Promise<void>;
}

/**
 * Reads a request that carries exactly one media source — JSON `url` / `media_token`, or a
 * multipart `file` (streamed to a temporary file) — as POST /detect and the watermark routes do.
 */
export async function readMediaRequest(request: FastifyRequest, config: Config, invalidFileMessage?: string): Promise<MediaRequest> {
  if (request.isMultipart()) {
    const received = await receiveMultipart(request, {
      tmpDir: config.tmpDir,
      maxFileBytes: config.DISCERN_MAX_UPLOAD_BYTES,
      maxTotalBytes: config.DISCERN_MAX_UPLOAD_BYTES + 1024 * 1024,
      maxFiles: 1,
      tooLargeMessage: `The file exceeds the ${Math.floor(config.DISCERN_MAX_UPLOAD_BYTES / 1048576)} MB direct-upload limit; use POST /secure_uploads and send its token as media_token`,
    });
    const fields = received.fields;
    const file = received.files[0];
    const fail = async (message: string, extra?: Record<string, unknown>) => {
      await received.cleanup();
      return badRequest(message, extra);
    };
    const sources = [file, fields.url, fields.media_token].filter(Boolean).length;
    if (sources !== 1) {
      throw await fail(sources === 0 ? 'Provide one media source: file, url or media_token' : 'Provide exactly one media source: file, url or media_token, not several');
    }
    if (!file) {
      const source: MediaSource = fields.url ? { kind: 'url', url: fields.url } : { kind: 'media_token', token: fields.media_token! };
      return { fields, source, discard: async () => {} };
    }
    if (file.bytes === 0) throw await fail(invalidFileMessage ?? 'The uploaded file is empty', invalidFileMessage ? { error: invalidFileMessage } : undefined);
    const ext = path.extname(file.filename).toLowerCase();
    if (!MEDIA_EXTENSIONS.has(ext)) {
      throw await fail(
        invalidFileMessage ?? `Unsupported file extension ${ext || '(none)'}; allowed: ${[...MEDIA_EXTENSIONS].join(' ')}`,
        invalidFileMessage ? { error: invalidFileMessage } : undefined,
      );
    }
    return {
      fields,
      source: { kind: 'upload', tempPath: file.tempPath, filename: file.filename, bytes: file.bytes },
      discard: async () => void (await rm(file.tempPath, { force: true })),
    };
  }

  if (!request.body || typeof request.body !== 'object' || Array.isArray(request.body)) {
    throw badRequest('Expected a JSON object body or multipart/form-data with a file');
  }
  const fields = request.body as Record<string, unknown>;
  const present = (v: unknown) => v !== undefined && v !== null && v !== '';
  const hasUrl = present(fields.url);
  const hasToken = present(fields.media_token);
  if (hasUrl === hasToken) {
    throw badRequest(hasUrl ? 'Provide exactly one media source: url or media_token, not both' : 'Provide one media source: url, media_token, or a multipart file');
  }
  if (hasUrl && typeof fields.url !== 'string') throw badRequest('url must be a string');
  if (hasToken && typeof fields.media_token !== 'string') throw badRequest('media_token must be a string');
  const source: MediaSource = hasUrl ? { kind: 'url', url: fields.url as string } : { kind: 'media_token', token: fields.media_token as string };
  return { fields, source, discard: async () => {} };
}

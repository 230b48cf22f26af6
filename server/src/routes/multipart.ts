import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../errors.js';
import { newId } from '../util/ids.js';

export interface ReceivedFile {
  field: string;
  filename: string;
  tempPath: string;
  bytes: number;
}

export interface MultipartLimits {
  tmpDir: string;
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
  /** Message for a file over `maxFileBytes`. */
  tooLargeMessage: string;
}

/**
 * Streams every file part of a multipart request to its own temporary file, never holding a
 * file in memory, and collects the text fields. Over a limit, everything written so far is
 * removed and a 400 explains which limit.
 */
export async function receiveMultipart(request: FastifyRequest, limits: MultipartLimits) {
  const fields: Record<string, string> = {};
  const files: ReceivedFile[] = [];
  let total = 0;
  await mkdir(limits.tmpDir, { recursive: true });
  const cleanup = async () => Promise.all(files.map((f) => rm(f.tempPath, { force: true })));
  // A body that ends inside a file part (no closing boundary) leaves that part's stream open
  // forever in the parser; once the request has ended, such a stream is cut off.
  let openFile: NodeJS.ReadableStream & { destroy(error?: Error): void } | null = null;
  let cutOff: NodeJS.Timeout | null = null;
  const onRequestEnd = () => {
    cutOff = setTimeout(() => openFile?.destroy(new Error('the body ended inside a file part (no closing boundary)')), 2000);
  };
  // With async hooks before the handler, the whole body may already be in when we get here.
  if (request.raw.complete) onRequestEnd();
  else request.raw.once('end', onRequestEnd);
  try {
    const parts = request.parts({ limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles + 1, fields: 100, fieldSize: 64 * 1024 } });
    for await (const part of parts) {
      if (part.type === 'field') {
        fields[part.fieldname] = typeof part.value === 'string' ? part.value : String(part.value);
        continue;
      }
      if (files.length >= limits.maxFiles) {
        part.file.resume();
        throw badRequest(`Too many files: at most ${limits.maxFiles} are accepted`);
      }
      const tempPath = path.join(limits.tmpDir, `upload-${newId()}`);
      const file: ReceivedFile = { field: part.fieldname, filename: sanitizeFilename(part.filename), tempPath, bytes: 0 };
      files.push(file);
      const counter = new Transform({
        transform(chunk: Buffer, _enc, callback) {
          file.bytes += chunk.length;
          total += chunk.length;
          if (total > limits.maxTotalBytes) {
            callback(badRequest(`The upload exceeds the total limit of ${Math.floor(limits.maxTotalBytes / 1048576)} MB`));
            return;
          }
          callback(null, chunk);
        },
      });
      // Destroying our own stage (not the parser's file stream) is what reliably ends the pipeline.
      openFile = counter;
      await pipeline(part.file, counter, createWriteStream(tempPath));
      openFile = null;
      if (part.file.truncated) throw badRequest(limits.tooLargeMessage);
    }
  } catch (error) {
    await cleanup();
    if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw badRequest(limits.tooLargeMessage);
    if ((error as { code?: string }).code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') throw badRequest('Expected multipart/form-data');
    if ((error as { code?: string }).code === 'FST_FILES_LIMIT') throw badRequest(`Too many files: at most ${limits.maxFiles} are accepted`);
    if (error instanceof ApiError) throw error;
    // Anything else the parser throws (no boundary, truncated body, bad headers) is the
    // caller's malformed request. Local I/O failures carry a syscall and stay server errors.
    if (!(error as NodeJS.ErrnoException).syscall) throw badRequest(`Malformed multipart body: ${(error as Error).message}`);
    throw error;
  } finally {
    if (cutOff) clearTimeout(cutOff);
    request.raw.off('end', onRequestEnd);
  }
  return { fields, files, cleanup };
}

/** Keeps only a base name of safe characters: the name is shown back, never used as a path. */
export function sanitizeFilename(name: string | undefined): string {
  const base = path.basename((name ?? '').replace(/\\/g, '/'));
  const cleaned = base.replace(/[^\p{L}\p{N}._ -]/gu, '_').replace(/^\.+/, '').slice(0, 200);
  return cleaned || 'upload';
}

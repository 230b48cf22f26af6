import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobStore } from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Unset → AWS's endpoint for the region. */
  endpoint?: string;
  region: string;
  /** Unset → the SDK's default credential chain. */
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
  /** Prepended to every key, so one bucket can hold several deployments. */
  keyPrefix?: string;
  /** Multipart part size for streamed uploads (S3's minimum is 5 MiB). */
  partSizeBytes?: number;
}

function notFoundError(key: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`blob not found: ${key}`);
  error.code = 'ENOENT';
  return error;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.Code === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Blobs in an S3-compatible bucket (scale-out mode): every API node and worker sees the same
 * media. Objects appear whole or not at all, so no partial-file dance is needed on write.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly partSize: number;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.keyPrefix = options.keyPrefix ?? '';
    this.partSize = Math.max(5 * 1024 * 1024, options.partSizeBytes ?? 8 * 1024 * 1024);
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
      // Newer SDKs add streaming CRC trailers to every upload, which many self-hosted S3
      // servers reject; checksums are sent only where the S3 API demands them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Same key rules as the local store, so a key valid in one mode is valid in the other. */
  private objectKey(key: string): string {
    if (!key || key.includes('\0') || key.split('/').some((part) => part === '..' || part === '' || part === '.')) {
      throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
    }
    return this.keyPrefix + key;
  }

  async put(key: string, body: Readable | Buffer, contentType?: string): Promise<number> {
    const Key = this.objectKey(key);
    if (Buffer.isBuffer(body)) {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: body.length, ContentType: contentType }),
      );
      return body.length;
    }
    // Length unknown: stream it as a multipart upload (one PutObject when it fits one part).
    let bytes = 0;
    const counted = new PassThrough();
    counted.on('data', (chunk: Buffer) => (bytes += chunk.length));
    const piping = pipeline(body, counted);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body: counted, ContentType: contentType },
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await Promise.all([upload.done(), piping]);
    } catch (error) {
      counted.destroy();
      await upload.abort().catch(() => undefined);
      throw error;
    }
    return bytes;
  }

  async get(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!response.Body) throw notFoundError(key);
      return response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw notFoundError(key);
      throw error;
    }
  }

  async toLocalFile(key: string, destinationPath: string): Promise<string> {
    const source = await this.get(key);
    await mkdir(path.dirname(destinationPath), { recursive: true });
    const partial = `${destinationPath}.partial-${process.pid}-${Date.now()}`;
    try {
      await pipeline(source, createWriteStream(partial));
      await rename(partial, destinationPath);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return destinationPath;
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const from = this.objectKey(fromKey);
    const source = `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.objectKey(toKey), CopySource: source }));
    } catch (error) {
      if (isNotFound(error)) throw notFoundError(fromKey);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  /**
   * Removes the blob named `prefix` and everything below `prefix/` — what removing a folder
   * does locally. `teams/t/uploads/ab` does not touch `teams/t/uploads/abc`.
   */
  async deletePrefix(prefix: string): Promise<void> {
    const base = this.objectKey(prefix.replace(/\/+$/, ''));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: base }));
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${base}/`, ContinuationToken: token, MaxKeys: 1000 }),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => Boolean(k));
      if (keys.length > 0) {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
        );
        if (result.Errors && result.Errors.length > 0) {
          const first = result.Errors[0];
          throw new Error(`S3 refused to delete ${result.Errors.length} object(s), e.g. ${first.Key}: ${first.Code} ${first.Message}`);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Lets a long-running process release its sockets on shutdown. */
  close(): void {
    this.client.destroy();
  }
}

import type { Readable } from 'node:stream';

/**
 * Byte storage for uploaded media, secure uploads and visualisation assets.
 * Keys are slash-separated paths such as `teams/<team>/media/<id>/<file>`; one implementation
 * writes to a local folder (embedded mode), another to S3-compatible storage (scale-out).
 */
export interface BlobStore {
  /** Store a stream or buffer under `key`; returns the number of bytes written. */
  put(key: string, body: Readable | Buffer, contentType?: string): Promise<number>;
  get(key: string): Promise<Readable>;
  /** Copy the blob to a local file so ffmpeg/onnx can read it; returns the path. */
  toLocalFile(key: string, destinationPath: string): Promise<string>;
  /** Copy within the store (a hard link locally, CopyObject on S3) so owners can be purged independently. */
  copy(fromKey: string, toKey: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Remove every blob whose key starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
}

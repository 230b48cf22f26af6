import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob-store.js';

/** Blobs as files under one folder (embedded mode). */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  /** Maps a key to a path, refusing anything that would leave the root. */
  private pathOf(key: string): string {
    if (!key || key.includes('\0') || key.split('/').some((part) => part === '..' || part === '')) {
      throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
    }
    const full = path.resolve(this.root, key);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
    return full;
  }

  async put(key: string, body: Readable | Buffer): Promise<number> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}-${Date.now()}`;
    let bytes = 0;
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    source.on('data', (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(source, createWriteStream(partial));
      // Rename makes the blob appear whole or not at all, even if the process dies mid-write.
      const { rename } = await import('node:fs/promises');
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return bytes;
  }

  async get(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    await stat(file);
    return createReadStream(file);
  }

  /** Local blobs already are files: the path itself is returned and nothing is copied. */
  async toLocalFile(key: string): Promise<string> {
    const file = this.pathOf(key);
    await stat(file);
    return file;
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const from = this.pathOf(fromKey);
    const to = this.pathOf(toKey);
    await mkdir(path.dirname(to), { recursive: true });
    try {
      await link(from, to);
    } catch {
      await copyFile(from, to);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    const clean = prefix.replace(/\/+$/, '');
    await rm(this.pathOf(clean), { recursive: true, force: true });
  }
}

/**
 * Extracts the media files of an uploaded batch zip, treating the archive as hostile:
 * - every entry name is checked before anything is written (no `..`, absolute paths, drive
 *   letters, backslashes, NUL bytes); output names are our own flattened, sanitised names;
 * - symlinks and other special files, encrypted entries, unknown compression methods and nested
 *   archives are refused;
 * - sizes are enforced on the bytes actually inflated, not on what the headers declare, so a
 *   zip bomb stops at the limit; a declared size or CRC that does not match the data is refused;
 * - anything refused removes every file this call already wrote.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import yauzl from 'yauzl';

export class ZipRefusedError extends Error {
  readonly code = 'ZIP_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'ZipRefusedError';
  }
}

/** The batch upload allow-list (Detect API §3.1). */
export const DEFAULT_MEDIA_EXTENSIONS: readonly string[] = [
  '.wav', '.mp3', '.m4a', '.ogg', '.aac', '.flac', '.mp4', '.mov', '.avi', '.mkv', '.webm', '.jpg', '.jpeg', '.png', '.gif', '.webp',
];

const ARCHIVE_EXTENSIONS = new Set([
  '.zip', '.zipx', '.tar', '.gz', '.tgz', '.bz2', '.tbz', '.tbz2', '.xz', '.txz', '.zst', '.7z', '.rar', '.cab', '.iso', '.jar', '.lz', '.lzma', '.z',
]);

/** OS clutter that zips made by Finder/Explorer carry; skipped silently. */
const JUNK_NAMES = new Set(['.ds_store', 'thumbs.db', 'desktop.ini', '.localized']);

export interface ExtractMediaZipOptions {
  /** Most media files the zip may hold (default 50). */
  maxEntries?: number;
  /** Most bytes all extracted files may add up to, counted as inflated (default 500 MB). */
  maxTotalBytes?: number;
  /** Most bytes one extracted file may have (default: maxTotalBytes). */
  maxEntryBytes?: number;
  /** Lower-case extensions with the dot (default: the batch allow-list). */
  allowedExtensions?: readonly string[];
  /** Most non-media entries (folders, clutter, notes) tolerated before the zip is refused (default 1000). */
  maxSkippedEntries?: number;
  /** Deadline for the whole extraction (default 5 minutes). */
  timeoutMs?: number;
}

export interface ExtractedFile {
  /** Absolute path of the extracted file inside destDir. */
  path: string;
  /** The flattened file name we wrote (unique within destDir for this call). */
  name: string;
  /** The entry's full name inside the zip, as the uploader wrote it. */
  originalName: string;
  bytes: number;
}

type ZipFile = yauzl.ZipFile;
type Entry = yauzl.Entry;

const getFileNameLowLevel = (yauzl as unknown as {
  getFileNameLowLevel(flags: number, raw: Buffer, extraFields: Entry['extraFields'], strict: boolean): string;
}).getFileNameLowLevel;

const crc32: ((data: Uint8Array, value?: number) => number) | undefined = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

const MB = 1000 * 1000;

export async function extractMediaZip(zipPath: string, destDir: string, opts: ExtractMediaZipOptions = {}): Promise<ExtractedFile[]> {
  const maxEntries = opts.maxEntries ?? 50;
  const maxTotalBytes = opts.maxTotalBytes ?? 500 * MB;
  const maxEntryBytes = Math.min(opts.maxEntryBytes ?? maxTotalBytes, maxTotalBytes);
  const allowed = new Set((opts.allowedExtensions ?? DEFAULT_MEDIA_EXTENSIONS).map((e) => e.toLowerCase()));
  const maxSkipped = opts.maxSkippedEntries ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;

  await mkdir(destDir, { recursive: true });
  const root = resolve(destDir);
  const written: ExtractedFile[] = [];
  const usedNames = new Set<string>();
  let partial: string | null = null;

  let zip: ZipFile;
  try {
    zip = await new Promise<ZipFile>((resolveOpen, rejectOpen) => {
      yauzl.open(
        zipPath,
        {
          lazyEntries: true,
          autoClose: false,
          decodeStrings: false,
          // We count inflated bytes ourselves and compare with the declared size afterwards.
          validateEntrySizes: false,
        },
        (err, zf) => (err || !zf ? rejectOpen(err ?? new Error('no zip')) : resolveOpen(zf)),
      );
    });
  } catch (err) {
    throw new ZipRefusedError(`The file is not a readable zip archive (${errMessage(err)})`);
  }

  const deadline = AbortSignal.timeout(timeoutMs);
  const reader = new EntryReader(zip);
  const onDeadline = () => reader.fail(new ZipRefusedError(`Extracting the zip took longer than ${Math.round(timeoutMs / 1000)} s`));
  deadline.addEventListener('abort', onDeadline, { once: true });

  try {
    if (zip.entryCount > maxEntries + maxSkipped) {
      throw new ZipRefusedError(`The zip has ${zip.entryCount} entries; at most ${maxEntries} media files are accepted`);
    }
    let totalBytes = 0;
    let skipped = 0;
    const skip = () => {
      if (++skipped > maxSkipped) throw new ZipRefusedError(`The zip has more than ${maxSkipped} entries that are not media files`);
    };

    for (let entry = await reader.next(); entry; entry = await reader.next()) {
      const name = entryName(entry);
      checkName(name);
      const unixMode = (entry.versionMadeBy >> 8) === 3 ? (entry.externalFileAttributes >>> 16) & 0o170000 : 0;
      if (unixMode === 0o120000) throw new ZipRefusedError(`The zip contains a symbolic link ("${shown(name)}"); links are not accepted`);
      if (unixMode !== 0 && unixMode !== 0o100000 && unixMode !== 0o040000) {
        throw new ZipRefusedError(`The zip contains a special file ("${shown(name)}"); only regular files are accepted`);
      }
      if (name.endsWith('/')) {
        skip();
        continue;
      }
      const segments = name.split('/');
      const base = segments[segments.length - 1]!;
      if (segments[0] === '__MACOSX' || base.startsWith('._') || JUNK_NAMES.has(base.toLowerCase())) {
        skip();
        continue;
      }
      const ext = extname(base).toLowerCase();
      if (ARCHIVE_EXTENSIONS.has(ext)) {
        throw new ZipRefusedError(`The zip contains another archive ("${shown(name)}"); nested archives are not accepted`);
      }
      if (!allowed.has(ext)) {
        skip();
        continue;
      }
      if ((entry.generalPurposeBitFlag & 0x1) !== 0) {
        throw new ZipRefusedError(`The zip entry "${shown(name)}" is encrypted; password-protected zips are not accepted`);
      }
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new ZipRefusedError(`The zip entry "${shown(name)}" uses an unsupported compression method (${entry.compressionMethod})`);
      }
      if (written.length + 1 > maxEntries) {
        throw new ZipRefusedError(`The zip holds more than ${maxEntries} media files`);
      }
      // Declared sizes can only make us refuse early; they are never trusted to let data in.
      if (entry.uncompressedSize > maxEntryBytes) {
        throw new ZipRefusedError(`The zip entry "${shown(name)}" is too large (${entry.uncompressedSize} bytes; the limit is ${maxEntryBytes})`);
      }
      if (totalBytes + entry.uncompressedSize > maxTotalBytes) {
        throw new ZipRefusedError(`The zip's files add up to more than ${maxTotalBytes} bytes`);
      }

      const outName = uniqueName(base, ext, usedNames, written.length + 1, root);
      const outPath = join(root, outName);
      if (!outPath.startsWith(root + sep)) throw new ZipRefusedError(`The zip entry "${shown(name)}" has an unsafe name`);

      let bytes = 0;
      let crc = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxEntryBytes) {
            cb(new ZipRefusedError(`The zip entry "${shown(name)}" expands to more than ${maxEntryBytes} bytes (possible zip bomb)`));
            return;
          }
          if (totalBytes + bytes > maxTotalBytes) {
            cb(new ZipRefusedError(`The zip expands to more than ${maxTotalBytes} bytes (possible zip bomb)`));
            return;
          }
          if (crc32) crc = crc32(chunk, crc);
          cb(null, chunk);
        },
      });
      const input = await reader.openReadStream(entry);
      partial = outPath;
      try {
        // 'wx': never follow or overwrite something already sitting at that path.
        await reader.guard(pipeline(input, counter, createWriteStream(outPath, { flags: 'wx' })), () => input.destroy());
      } catch (err) {
        if (err instanceof ZipRefusedError) throw err;
        throw new ZipRefusedError(`The zip entry "${shown(name)}" could not be extracted (${errMessage(err)})`);
      }
      partial = null;
      written.push({ path: outPath, name: outName, originalName: name, bytes });
      if (bytes !== entry.uncompressedSize) {
        throw new ZipRefusedError(`The zip entry "${shown(name)}" is corrupt (declared ${entry.uncompressedSize} bytes, found ${bytes})`);
      }
      if (crc32 && (crc >>> 0) !== (entry.crc32 >>> 0)) {
        throw new ZipRefusedError(`The zip entry "${shown(name)}" is corrupt (checksum mismatch)`);
      }
      totalBytes += bytes;
    }
    if (written.length === 0) {
      throw new ZipRefusedError(`The zip contains no supported media files (accepted: ${[...allowed].join(' ')})`);
    }
    return written;
  } catch (err) {
    const files = written.map((f) => f.path);
    if (partial) files.push(partial);
    await Promise.all(files.map((p) => unlink(p).catch(() => {})));
    if (err instanceof ZipRefusedError) throw err;
    throw new ZipRefusedError(`The zip archive is corrupt or unsupported (${errMessage(err)})`);
  } finally {
    deadline.removeEventListener('abort', onDeadline);
    zip.close();
  }
}

/**
 * Promise front for yauzl's lazy-entry events. Errors from the zip file (emitted at any time)
 * and the deadline both reject whatever is being awaited.
 */
class EntryReader {
  private waiter: { resolve: (e: Entry | null) => void; reject: (err: unknown) => void } | null = null;
  private failure: unknown = null;
  private readonly failListeners = new Set<(err: unknown) => void>();

  constructor(private readonly zip: ZipFile) {
    zip.on('entry', (entry: Entry) => this.settle((w) => w.resolve(entry)));
    zip.on('end', () => this.settle((w) => w.resolve(null)));
    zip.on('error', (err: unknown) => this.fail(err));
  }

  private settle(fn: (w: NonNullable<EntryReader['waiter']>) => void): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) fn(w);
  }

  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    this.settle((w) => w.reject(err));
    for (const l of this.failListeners) l(err);
  }

  next(): Promise<Entry | null> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.zip.readEntry();
    });
  }

  openReadStream(entry: Entry): Promise<NodeJS.ReadableStream & { destroy(): void }> {
    if (this.failure) return Promise.reject(this.failure);
    return this.guard(
      new Promise((resolve, reject) => {
        this.zip.openReadStream(entry, (err, stream) => (err || !stream ? reject(err ?? new Error('no stream')) : resolve(stream)));
      }),
    );
  }

  /** Races `p` against a zip error or the deadline; `onFail` tears down what `p` is doing. */
  guard<T>(p: Promise<T>, onFail?: () => void): Promise<T> {
    if (this.failure) {
      onFail?.();
      p.catch(() => {});
      return Promise.reject(this.failure);
    }
    return new Promise<T>((resolve, reject) => {
      const listener = (err: unknown) => {
        onFail?.();
        reject(err);
      };
      this.failListeners.add(listener);
      p.then(
        (v) => {
          this.failListeners.delete(listener);
          resolve(v);
        },
        (e) => {
          this.failListeners.delete(listener);
          reject(e);
        },
      );
    });
  }
}

function entryName(entry: Entry): string {
  const raw = entry.fileName as unknown as Buffer | string;
  if (typeof raw === 'string') return raw;
  // strict = true keeps backslashes as they are so that checkName can refuse them.
  return getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, true);
}

function checkName(name: string): void {
  if (name.length === 0) throw new ZipRefusedError('The zip contains an entry with an empty name');
  if (name.includes('\0')) throw new ZipRefusedError('The zip contains an entry name with a NUL byte');
  if (name.includes('\\')) throw new ZipRefusedError(`The zip entry "${shown(name)}" uses backslashes in its path; refused`);
  if (name.startsWith('/')) throw new ZipRefusedError(`The zip entry "${shown(name)}" has an absolute path; refused`);
  if (/^[a-zA-Z]:/.test(name)) throw new ZipRefusedError(`The zip entry "${shown(name)}" has a drive letter; refused`);
  if (name.split('/').some((s) => s === '..')) {
    throw new ZipRefusedError(`The zip entry "${shown(name)}" points outside the archive folder (..); refused`);
  }
}

/** Flattened, sanitised, unique (case-insensitively) output name. */
function uniqueName(base: string, ext: string, used: Set<string>, ordinal: number, dir: string): string {
  let stem = base.slice(0, base.length - ext.length);
  stem = stem
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f<>:"|?*/\\]/g, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 120);
  if (!stem) stem = `file-${ordinal}`;
  let candidate = `${stem}${ext}`;
  for (let i = 2; used.has(candidate.toLowerCase()) || existsSync(join(dir, candidate)); i++) candidate = `${stem}-${i}${ext}`;
  used.add(candidate.toLowerCase());
  return candidate;
}

/** Entry names go into client-facing messages: printable and bounded. */
function shown(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 117)}…` : clean;
}

function errMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 200);
}

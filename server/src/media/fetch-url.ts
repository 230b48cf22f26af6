/**
 * Fetches a user-supplied media URL to a local file, safely:
 * - only http/https; every hop's host resolved by us and checked by the SSRF guard;
 * - the connection pinned to the checked address (no second DNS lookup to rebind);
 * - redirects followed by hand (at most 5), each target re-checked;
 * - a byte cap enforced on Content-Length up front and on the real stream, partial file deleted;
 * - one overall deadline covering DNS, connect, redirects and body.
 */
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import {
  assertPublicUrl,
  createPinnedAgent,
  UrlRefusedError,
  type PinnedAgentOptions,
  type UrlGuardOptions,
} from './url-guard.js';

export { assertPublicUrl, UrlRefusedError, classifyAddress, isPublicAddress } from './url-guard.js';
export type { UrlGuardOptions, CheckedTarget, HostResolver } from './url-guard.js';

export class FetchError extends Error {
  readonly code = 'FETCH_FAILED';
  constructor(
    message: string,
    /** HTTP status of the remote answer when the failure was an HTTP error. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface FetchToFileOptions extends UrlGuardOptions {
  maxBytes: number;
  /** Deadline for the whole fetch: DNS, connect, every redirect and the body. */
  timeoutMs: number;
  /** Defaults to 5. */
  maxRedirects?: number;
  userAgent?: string;
  signal?: AbortSignal;
  tls?: PinnedAgentOptions['tls'];
}

export interface FetchedFile {
  path: string;
  bytes: number;
  contentType: string | null;
  finalUrl: string;
  /** A safe base name suggested by Content-Disposition or the URL path; never a path. */
  filenameHint: string | null;
}

export const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export async function fetchToFile(url: string, destPath: string, opts: FetchToFileOptions): Promise<FetchedFile> {
  if (!Number.isFinite(opts.maxBytes) || opts.maxBytes <= 0) throw new TypeError('maxBytes must be positive');
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  const timedOut = () => deadline.aborted;

  let current = url;
  let wroteFile = false;
  try {
    for (let hop = 0; ; hop++) {
      const target = await raceAbort(assertPublicUrl(current, opts), signal);
      const agent = createPinnedAgent(target, {
        connectTimeoutMs: Math.min(opts.timeoutMs, 10_000),
        tls: opts.tls,
      });
      try {
        let res: Awaited<ReturnType<typeof request>>;
        try {
          res = await request(target.url, {
            method: 'GET',
            dispatcher: agent,
            signal,
            headers: {
              'user-agent': opts.userAgent ?? 'discern',
              accept: 'audio/*, video/*, image/*, application/zip, */*;q=0.5',
              // Never ask for compressed transfer: we store the bytes as sent and a
              // content-encoding bomb would dodge the byte cap.
              'accept-encoding': 'identity',
            },
            headersTimeout: opts.timeoutMs,
            bodyTimeout: opts.timeoutMs,
          });
        } catch (err) {
          throw toFetchError(err, timedOut(), opts.timeoutMs, target.url);
        }

        if (REDIRECT_STATUSES.has(res.statusCode)) {
          discard(res.body);
          const location = headerValue(res.headers['location']);
          if (!location) throw new FetchError(`The URL answered HTTP ${res.statusCode} without a Location header`, res.statusCode);
          if (hop >= maxRedirects) throw new FetchError(`Too many redirects (more than ${maxRedirects})`);
          let next: URL;
          try {
            next = new URL(location, target.url);
          } catch {
            throw new FetchError(`The URL redirected to an invalid location: ${location.slice(0, 200)}`);
          }
          current = next.href;
          continue;
        }
        if (res.statusCode < 200 || res.statusCode > 299) {
          discard(res.body);
          throw new FetchError(`The URL answered HTTP ${res.statusCode}; expected 200`, res.statusCode);
        }

        const declared = Number(headerValue(res.headers['content-length']));
        if (Number.isFinite(declared) && declared > opts.maxBytes) {
          discard(res.body);
          throw new FetchError(`The remote file is too large (${declared} bytes; the limit is ${opts.maxBytes} bytes)`);
        }

        let bytes = 0;
        const cap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            if (bytes > opts.maxBytes) {
              cb(new FetchError(`The remote file is too large (more than ${opts.maxBytes} bytes)`));
              return;
            }
            cb(null, chunk);
          },
        });
        wroteFile = true;
        try {
          await pipeline(res.body, cap, createWriteStream(destPath), { signal });
        } catch (err) {
          if (err instanceof FetchError) throw err;
          throw toFetchError(err, timedOut(), opts.timeoutMs, target.url);
        }
        return {
          path: destPath,
          bytes,
          contentType: headerValue(res.headers['content-type'])?.split(';')[0]?.trim().toLowerCase() || null,
          finalUrl: target.url.href,
          filenameHint: filenameHintFrom(headerValue(res.headers['content-disposition']), target.url),
        };
      } finally {
        agent.close().catch(() => {});
      }
    }
  } catch (err) {
    if (wroteFile) await unlink(destPath).catch(() => {});
    if (err instanceof FetchError || err instanceof UrlRefusedError) throw err;
    throw toFetchError(err, timedOut(), opts.timeoutMs, null);
  }
}

function toFetchError(err: unknown, timedOut: boolean, timeoutMs: number, url: URL | null): FetchError | UrlRefusedError {
  if (err instanceof FetchError || err instanceof UrlRefusedError) return err;
  if (timedOut) return new FetchError(`Fetching the URL timed out after ${Math.round(timeoutMs / 1000)} s`);
  const e = err as { code?: string; message?: string; name?: string };
  const where = url ? ` from ${url.host}` : '';
  if (e?.name === 'AbortError') return new FetchError(`Fetching the URL was cancelled`);
  const detail = e?.code ?? e?.message ?? String(err);
  return new FetchError(`Could not fetch the URL${where} (${detail})`);
}

async function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason;
  return await new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Drops a response body we will not read; the stream's abort error has nowhere to go. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Reduces any name to a harmless base name: no directories, no control characters, bounded. */
export function safeBaseName(name: string): string | null {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^\.+/, '')
    .trim()
    .slice(-200);
  return cleaned.length > 0 ? cleaned : null;
}

function filenameHintFrom(disposition: string | undefined, url: URL): string | null {
  if (disposition) {
    const star = /filename\*\s*=\s*(?:UTF-8|utf-8)?''([^;]+)/.exec(disposition);
    if (star) {
      try {
        const hint = safeBaseName(decodeURIComponent(star[1]!.trim()));
        if (hint) return hint;
      } catch {
        /* malformed percent-encoding: fall through */
      }
    }
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/.exec(disposition);
    const raw = plain?.[1] ?? plain?.[2];
    if (raw) {
      const hint = safeBaseName(raw.trim());
      if (hint) return hint;
    }
  }
  const last = url.pathname.split('/').filter(Boolean).pop();
  if (!last) return null;
  try {
    return safeBaseName(decodeURIComponent(last));
  } catch {
    return safeBaseName(last);
  }
}

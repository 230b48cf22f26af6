/**
 * Webhook (callback_url) delivery: one POST attempt per call, guarded by the same SSRF check
 * as URL intake and pinned to the checked address. Retrying is the job queue's business; this
 * module supplies the schedule (computeRetryDelayMs) and never throws for network or HTTP
 * failures, so a receiver's bad day cannot crash a worker.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { request } from 'undici';
import { assertPublicUrl, createPinnedAgent, UrlRefusedError, type UrlGuardOptions } from '../media/url-guard.js';

/** Attempts in total, the first included (matches DISCERN_CALLBACK_MAX_ATTEMPTS' default). */
export const CALLBACK_MAX_ATTEMPTS = 8;
export const CALLBACK_BASE_DELAY_MS = 5_000;
export const CALLBACK_MAX_DELAY_MS = 10 * 60_000;
/** How old a signature a receiver should accept by default. */
export const SIGNATURE_TOLERANCE_SEC = 300;

export const HEADER_EVENT_ID = 'x-discern-event-id';
export const HEADER_TIMESTAMP = 'x-discern-timestamp';
export const HEADER_SIGNATURE = 'x-discern-signature';

export interface DeliverCallbackInput {
  url: string;
  /** Serialised once with JSON.stringify; the signature covers exactly the bytes sent. */
  payload: unknown;
  /** Per-team secret; when set, X-Discern-Signature is added. */
  secret?: string;
  timeoutMs: number;
  /** SSRF guard settings (allow-list for trusted receivers on private networks). */
  guard?: UrlGuardOptions;
  /**
   * Stable id for this event so receivers can drop duplicates across retries. Defaults to a
   * hash of the payload's `item.uuid` and `item.status` when present, else a random UUID.
   */
  eventId?: string;
  /** Clock for the timestamp (tests). */
  now?: () => number;
  signal?: AbortSignal;
}

export interface DeliveryResult {
  /** True for any 2xx answer. */
  ok: boolean;
  /** HTTP status, or null when no answer arrived (refused URL, network error, timeout). */
  status: number | null;
  error?: string;
  /** True when retrying cannot help as things stand (the URL is refused by the guard). */
  permanent?: boolean;
  eventId: string;
}

/** Signs `<timestamp>.<raw body>` with HMAC-SHA256; returns the header value. */
export function signPayload(rawBody: string | Buffer, secret: string, timestampSec: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.`).update(rawBody).digest('hex');
  return `t=${timestampSec},v1=${mac}`;
}

export async function deliverCallback(input: DeliverCallbackInput): Promise<DeliveryResult> {
  const eventId = input.eventId ?? defaultEventId(input.payload);
  let body: string;
  try {
    body = JSON.stringify(input.payload) ?? 'null';
  } catch (err) {
    return { ok: false, status: null, error: `payload could not be serialised (${(err as Error).message})`, permanent: true, eventId };
  }
  const timestamp = Math.floor((input.now?.() ?? Date.now()) / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'discern',
    [HEADER_EVENT_ID]: eventId,
    [HEADER_TIMESTAMP]: String(timestamp),
  };
  if (input.secret) headers[HEADER_SIGNATURE] = signPayload(body, input.secret, timestamp);

  const deadline = AbortSignal.timeout(input.timeoutMs);
  const signal = input.signal ? AbortSignal.any([deadline, input.signal]) : deadline;

  let agent: ReturnType<typeof createPinnedAgent> | null = null;
  try {
    const target = await assertPublicUrl(input.url, input.guard);
    agent = createPinnedAgent(target, { connectTimeoutMs: Math.min(input.timeoutMs, 10_000) });
    const res = await request(target.url, {
      method: 'POST',
      dispatcher: agent,
      headers,
      body,
      signal,
      headersTimeout: input.timeoutMs,
      bodyTimeout: input.timeoutMs,
    });
    // Read a little of the answer so the connection ends cleanly; receivers' bodies are ignored.
    await drain(res.body, 64 * 1024);
    const status = res.statusCode;
    if (status >= 200 && status <= 299) return { ok: true, status, eventId };
    if (status >= 300 && status <= 399) {
      return { ok: false, status, error: `receiver answered HTTP ${status}; redirects are not followed for callbacks`, eventId };
    }
    return { ok: false, status, error: `receiver answered HTTP ${status}`, eventId };
  } catch (err) {
    if (err instanceof UrlRefusedError) return { ok: false, status: null, error: err.message, permanent: true, eventId };
    if (deadline.aborted) return { ok: false, status: null, error: `timed out after ${input.timeoutMs} ms`, eventId };
    const e = err as { code?: string; message?: string };
    return { ok: false, status: null, error: `delivery failed (${e?.code ?? e?.message ?? String(err)})`, eventId };
  } finally {
    agent?.close().catch(() => {});
  }
}

async function drain(body: AsyncIterable<Buffer> & { destroy(): void; on(ev: 'error', fn: () => void): unknown }, limit: number): Promise<void> {
  body.on('error', () => {});
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += chunk.length;
      if (seen > limit) break;
    }
  } catch {
    /* the status is what matters */
  } finally {
    body.destroy();
  }
}

function defaultEventId(payload: unknown): string {
  const item = (payload as { item?: { uuid?: unknown; status?: unknown } } | null)?.item;
  if (item && typeof item.uuid === 'string') {
    const digest = createHash('sha256').update(`${item.uuid}:${String(item.status ?? '')}`).digest('hex');
    // Shaped like a UUID so receivers can store it in a uuid column.
    return `${digest.slice(0, 8)}-${digest.slice(8, 12)}-${digest.slice(12, 16)}-${digest.slice(16, 20)}-${digest.slice(20, 32)}`;
  }
  return randomUUID();
}

/**
 * Delay before the next attempt after attempt number `attempt` (1-based) failed:
 * 5 s, 10 s, 20 s, 40 s … doubling, capped at 10 minutes, with ±20 % jitter so that a
 * receiver coming back from an outage is not hit by every queued callback at the same instant.
 */
export function computeRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const n = Number.isNaN(attempt) ? 1 : Math.max(1, Math.floor(attempt));
  const base = Math.min(CALLBACK_MAX_DELAY_MS, CALLBACK_BASE_DELAY_MS * 2 ** Math.min(n - 1, 30));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(CALLBACK_MAX_DELAY_MS, jittered));
}

/**
 * For receivers: checks an X-Discern-Signature header against the raw request body.
 * Accepts several `v1=` values (secret rotation), compares in constant time, and refuses
 * timestamps further than `toleranceSec` from now (replays).
 */
export function verifySignature(
  header: string | null | undefined,
  rawBody: string | Buffer,
  secret: string,
  toleranceSec: number = SIGNATURE_TOLERANCE_SEC,
  nowSec: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!header || !secret) return false;
  let timestamp: number | null = null;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (timestamp === null || candidates.length === 0) return false;
  if (Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex'), 'utf8');
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'utf8'), expected));
}

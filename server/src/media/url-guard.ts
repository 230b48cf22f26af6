/**
 * SSRF guard shared by URL intake (fetch-url.ts) and webhook delivery (webhooks/callback.ts).
 *
 * The guard resolves the host name itself, refuses every address that is not public unicast,
 * and hands back the checked address so the caller can connect to exactly that address
 * ("pinning"). Resolving once and connecting to the checked IP is what defeats DNS rebinding:
 * a second lookup at connect time could return a different, private address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';

export class UrlRefusedError extends Error {
  readonly code = 'URL_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'UrlRefusedError';
  }
}

/** Resolves a host name to every address it has (A and AAAA). Injectable for tests. */
export type HostResolver = (hostname: string) => Promise<string[]>;

export interface UrlGuardOptions {
  /**
   * Host names or IP literals that may be reached even though they are not public
   * (tests, trusted LANs). A name matches the URL's host; an IP matches the URL's host or
   * any address the host resolves to.
   */
  allowHosts?: string[];
  /** Turn the private-address check off entirely (trusted deployments only). */
  allowPrivate?: boolean;
  /** Defaults to http: and https:. */
  allowedProtocols?: string[];
  /** Defaults to the system resolver (getaddrinfo, honours /etc/hosts). */
  resolver?: HostResolver;
}

export interface CheckedTarget {
  url: URL;
  /** Host name as written in the URL (brackets removed from IPv6 literals). */
  hostname: string;
  /** The address that was checked and that the connection must use. */
  address: string;
  family: 4 | 6;
}

const defaultResolver: HostResolver = async (hostname) => {
  const results = await dnsLookup(hostname, { all: true, verbatim: true });
  return results.map((r) => r.address);
};

// ---------------------------------------------------------------------------------------------
// Address parsing and classification
// ---------------------------------------------------------------------------------------------

/** Parses a strict dotted-quad IPv4 address into 4 bytes. */
export function parseIPv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail and zone id) into 16 bytes. */
export function parseIPv6(text: string): number[] | null {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length === 0 || s.length > 45) return null;

  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    s = s.slice(0, lastColon + 1) + '0:0'; // placeholder groups, overwritten below
  }

  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !rest) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

const inV4 = (b: number[], net: [number, number, number, number], prefix: number): boolean => {
  for (let bit = 0; bit < prefix; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((b[i]! & mask) !== (net[i]! & mask)) return false;
  }
  return true;
};

const V4_RANGES: Array<{ net: [number, number, number, number]; prefix: number; kind: string }> = [
  { net: [0, 0, 0, 0], prefix: 8, kind: 'unspecified ("this network")' },
  { net: [10, 0, 0, 0], prefix: 8, kind: 'private' },
  { net: [100, 64, 0, 0], prefix: 10, kind: 'carrier-grade NAT' },
  { net: [127, 0, 0, 0], prefix: 8, kind: 'loopback' },
  { net: [169, 254, 0, 0], prefix: 16, kind: 'link-local' },
  { net: [172, 16, 0, 0], prefix: 12, kind: 'private' },
  { net: [192, 0, 0, 0], prefix: 24, kind: 'reserved (IETF protocol assignments)' },
  { net: [192, 0, 2, 0], prefix: 24, kind: 'documentation' },
  { net: [192, 88, 99, 0], prefix: 24, kind: 'reserved (6to4 relay)' },
  { net: [192, 168, 0, 0], prefix: 16, kind: 'private' },
  { net: [198, 18, 0, 0], prefix: 15, kind: 'reserved (benchmarking)' },
  { net: [198, 51, 100, 0], prefix: 24, kind: 'documentation' },
  { net: [203, 0, 113, 0], prefix: 24, kind: 'documentation' },
  { net: [224, 0, 0, 0], prefix: 4, kind: 'multicast' },
  { net: [240, 0, 0, 0], prefix: 4, kind: 'reserved' },
];

/** Returns why an IPv4 address is not public unicast, or null when it is. */
function classifyV4(b: number[]): string | null {
  for (const r of V4_RANGES) if (inV4(b, r.net, r.prefix)) return r.kind;
  return null;
}

const startsWith = (b: number[], prefix: number[]): boolean => prefix.every((v, i) => b[i] === v);

/** Returns why an IPv6 address is not public unicast, or null when it is. */
function classifyV6(b: number[]): string | null {
  const zero10 = b.slice(0, 10).every((x) => x === 0);
  const v4tail = b.slice(12, 16);
  if (b.every((x) => x === 0)) return 'unspecified';
  if (zero10 && b[10] === 0 && b[11] === 0 && b.slice(12, 15).every((x) => x === 0) && b[15] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d — judged by the IPv4 address it carries.
  if (zero10 && b[10] === 0xff && b[11] === 0xff) return classifyV4(v4tail) ?? null;
  // Deprecated IPv4-compatible ::a.b.c.d and the SIIT ::ffff:0:a.b.c.d form.
  if (zero10 && b[10] === 0 && b[11] === 0) return 'reserved (IPv4-compatible IPv6)';
  if (startsWith(b, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0])) return 'reserved (IPv4-translated IPv6)';
  // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) {
    const inner = classifyV4(v4tail);
    return inner ? `${inner} (via NAT64)` : null;
  }
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 1])) return 'private (local-use NAT64)';
  if ((b[0]! & 0xfe) === 0xfc) return 'private (unique local)';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'reserved (site-local)';
  if (b[0] === 0xff) return 'multicast';
  // 6to4 2002::/16 tunnels to the IPv4 address in bytes 2..5.
  if (b[0] === 0x20 && b[1] === 0x02) {
    const inner = classifyV4(b.slice(2, 6));
    return inner ? `${inner} (via 6to4)` : null;
  }
  // Teredo 2001:0::/32 can tunnel anywhere; documentation 2001:db8::/32; ORCHID 2001:10::/28.
  if (startsWith(b, [0x20, 0x01, 0, 0])) return 'reserved (Teredo)';
  if (startsWith(b, [0x20, 0x01, 0x0d, 0xb8])) return 'documentation';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && (b[3]! & 0xf0) === 0x10) return 'reserved (ORCHID)';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && (b[3]! & 0xf0) === 0x20) return 'reserved (ORCHIDv2)';
  // Only 2000::/3 is allocated as global unicast.
  if ((b[0]! & 0xe0) !== 0x20) return 'reserved';
  return null;
}

/**
 * Why `address` is not a public unicast address ("loopback", "private", …), or null if it is.
 * Unparseable input is treated as reserved so that the guard fails closed.
 */
export function classifyAddress(address: string): string | null {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) {
    const b = parseIPv4(address);
    return b ? classifyV4(b) : 'reserved';
  }
  if (family === 6) {
    const b = parseIPv6(address);
    return b ? classifyV6(b) : 'reserved';
  }
  return 'reserved (not an IP address)';
}

export const isPublicAddress = (address: string): boolean => classifyAddress(address) === null;

// ---------------------------------------------------------------------------------------------
// URL guard
// ---------------------------------------------------------------------------------------------

function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function sameAddress(a: string, b: string): boolean {
  if (isIP(a) === 4 && isIP(b) === 4) return a === b;
  const pa = isIP(a) === 6 ? parseIPv6(a) : null;
  const pb = isIP(b) === 6 ? parseIPv6(b) : null;
  if (pa && pb) return pa.every((x, i) => x === pb[i]);
  return a === b;
}

/**
 * Checks that `input` is an http(s) URL whose host resolves only to public addresses (or is
 * allow-listed) and returns the address to connect to. Throws UrlRefusedError otherwise.
 * Numeric host tricks (http://2130706433/, http://0x7f.1/, http://0177.0.0.1/) are normalised
 * by the WHATWG URL parser to dotted quads before the check, so they are judged as what they are.
 */
export async function assertPublicUrl(input: string | URL, opts: UrlGuardOptions = {}): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = input instanceof URL ? new URL(input.href) : new URL(String(input));
  } catch {
    throw new UrlRefusedError(`Not a valid URL: ${truncate(String(input))}`);
  }
  const protocols = opts.allowedProtocols ?? ['http:', 'https:'];
  if (!protocols.includes(url.protocol)) {
    throw new UrlRefusedError(
      `URL scheme "${url.protocol.replace(/:$/, '')}" is not allowed; use ${protocols.map((p) => p.replace(/:$/, '')).join(' or ')}`,
    );
  }
  if (url.username || url.password) {
    throw new UrlRefusedError('URLs with embedded credentials (user:password@) are not accepted');
  }
  const hostname = normaliseHost(url.hostname);
  if (!hostname) throw new UrlRefusedError('URL has no host');

  const allow = (opts.allowHosts ?? []).map(normaliseHost).filter(Boolean);
  const hostAllowed = allow.includes(hostname);

  let addresses: string[];
  if (isIP(hostname)) {
    addresses = [hostname];
  } else {
    try {
      addresses = await (opts.resolver ?? defaultResolver)(hostname);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      throw new UrlRefusedError(`Host name "${hostname}" could not be resolved${code ? ` (${code})` : ''}`);
    }
    if (addresses.length === 0) throw new UrlRefusedError(`Host name "${hostname}" could not be resolved`);
  }

  // Every address must pass: a host that resolves to one public and one private address is
  // refused, because we cannot know which one a later connection would have used.
  for (const address of addresses) {
    const family = isIP(address);
    if (family !== 4 && family !== 6) {
      throw new UrlRefusedError(`Host name "${hostname}" resolved to something that is not an IP address`);
    }
    if (opts.allowPrivate || hostAllowed || allow.some((a) => sameAddress(a, address))) continue;
    const why = classifyAddress(address);
    if (why) {
      const article = /^[aeiou]/i.test(why) ? 'an' : 'a';
      throw new UrlRefusedError(`URL resolves to ${article} ${why} address (${address}); refused`);
    }
  }
  const address = addresses[0]!;
  return { url, hostname, address, family: isIP(address) as 4 | 6 };
}

function truncate(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

export interface PinnedAgentOptions {
  connectTimeoutMs?: number;
  /** Extra TLS options (e.g. a test CA); certificate checks stay on. */
  tls?: { ca?: string | Buffer | Array<string | Buffer> };
}

/**
 * An undici Agent whose every connection goes to `target.address`, whatever host the request
 * names. TLS still verifies the certificate against the URL's host name (SNI uses it too), so
 * pinning the address does not weaken HTTPS. Use one agent per checked hop and close it after.
 */
export function createPinnedAgent(target: CheckedTarget, opts: PinnedAgentOptions = {}): Agent {
  const connector = buildConnector({ timeout: opts.connectTimeoutMs ?? 10_000, ...(opts.tls ?? {}) });
  const expectedHost = target.hostname;
  return new Agent({
    connections: 1,
    pipelining: 0,
    connect: (options, callback) => {
      // Defence in depth: this agent only ever speaks to the host it was checked for.
      if (normaliseHost(options.hostname) !== expectedHost) {
        callback(new UrlRefusedError(`Connection to unexpected host ${options.hostname} refused`), null);
        return;
      }
      const servername = isIP(expectedHost) ? undefined : expectedHost;
      connector({ ...options, hostname: target.address, servername }, callback);
    },
  });
}

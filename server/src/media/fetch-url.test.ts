import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchError, fetchToFile, UrlRefusedError } from './fetch-url.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let port: number;
const seen: Array<{ url: string; host: string | undefined; remote: string | undefined }> = [];
const routes = new Map<string, Handler>();
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'discern-fetch-'));
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host, remote: req.socket.remoteAddress });
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (route) return route(req, res);
    res.statusCode = 404;
    res.end('missing');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  const payload = Buffer.alloc(1000, 7);
  routes.set('/file.wav', (_req, res) => {
    res.setHeader('content-type', 'audio/wav; charset=binary');
    res.setHeader('content-length', String(payload.length));
    res.end(payload);
  });
  routes.set('/disposition', (_req, res) => {
    res.setHeader('content-disposition', 'attachment; filename="../../etc/evil name.mp3"');
    res.end(payload);
  });
  routes.set('/big-declared', (_req, res) => {
    res.setHeader('content-length', String(10_000));
    res.end(Buffer.alloc(10_000));
  });
  routes.set('/big-chunked', (_req, res) => {
    // No Content-Length: the cap must be enforced on the stream itself.
    let sent = 0;
    const push = () => {
      if (sent >= 20 * 65536 || res.destroyed) return res.end();
      sent += 65536;
      if (res.write(Buffer.alloc(65536, 1))) setImmediate(push);
      else res.once('drain', push);
    };
    push();
  });
  routes.set('/slow', (_req, res) => {
    res.write('x');
    // never ends: the overall timeout must fire
  });
  routes.set('/hang-headers', () => {
    /* never answers */
  });
  routes.set('/redirect-1', (_req, res) => {
    res.statusCode = 302;
    res.setHeader('location', '/redirect-2');
    res.end();
  });
  routes.set('/redirect-2', (_req, res) => {
    res.statusCode = 301;
    res.setHeader('location', `${base}/file.wav`);
    res.end();
  });
  routes.set('/loop', (_req, res) => {
    res.statusCode = 307;
    res.setHeader('location', '/loop');
    res.end();
  });
  routes.set('/to-metadata', (_req, res) => {
    res.statusCode = 302;
    res.setHeader('location', 'http://169.254.169.254/latest/meta-data/');
    res.end();
  });
  routes.set('/to-decimal-loopback', (_req, res) => {
    res.statusCode = 302;
    res.setHeader('location', `http://2130706433:${port}/file.wav`);
    res.end();
  });
  routes.set('/to-file-scheme', (_req, res) => {
    res.statusCode = 302;
    res.setHeader('location', 'file:///etc/passwd');
    res.end();
  });
  routes.set('/server-error', (_req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const allow = { allowHosts: ['127.0.0.1'], maxBytes: 5000, timeoutMs: 5000 };
let n = 0;
const dest = () => join(dir, `out-${n++}.bin`);

describe('fetchToFile', () => {
  it('downloads to disk and reports bytes, type, final URL and a file name hint', async () => {
    const out = dest();
    const r = await fetchToFile(`${base}/file.wav?x=1`, out, allow);
    expect(r).toEqual({
      path: out,
      bytes: 1000,
      contentType: 'audio/wav',
      finalUrl: `${base}/file.wav?x=1`,
      filenameHint: 'file.wav',
    });
    expect(readFileSync(out).equals(Buffer.alloc(1000, 7))).toBe(true);
  });

  it('reduces Content-Disposition names to a safe base name', async () => {
    const r = await fetchToFile(`${base}/disposition`, dest(), allow);
    expect(r.filenameHint).toBe('evil name.mp3');
  });

  it('refuses loopback without an allow-list, before connecting', async () => {
    const before = seen.length;
    const out = dest();
    const err = await fetchToFile(`${base}/file.wav`, out, { maxBytes: 5000, timeoutMs: 5000 }).catch((e) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect(err.message).toBe('URL resolves to a loopback address (127.0.0.1); refused');
    expect(seen.length).toBe(before);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a private address without any server there', async () => {
    await expect(fetchToFile('http://10.0.0.1/a.wav', dest(), { maxBytes: 10, timeoutMs: 2000 })).rejects.toThrow(
      'URL resolves to a private address (10.0.0.1); refused',
    );
    await expect(fetchToFile(`http://0x7f000001:${port}/file.wav`, dest(), { maxBytes: 10, timeoutMs: 2000 })).rejects.toThrow(
      UrlRefusedError,
    );
  });

  it('follows relative and absolute redirects and reports the final URL', async () => {
    const r = await fetchToFile(`${base}/redirect-1`, dest(), allow);
    expect(r.finalUrl).toBe(`${base}/file.wav`);
    expect(r.bytes).toBe(1000);
  });

  it('re-checks every redirect hop', async () => {
    const before = seen.length;
    const err = await fetchToFile(`${base}/to-metadata`, dest(), allow).catch((e) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect(err.message).toContain('link-local address (169.254.169.254)');
    expect(seen.length).toBe(before + 1); // only the first hop reached our server
    await expect(fetchToFile(`${base}/to-file-scheme`, dest(), allow)).rejects.toThrow('scheme "file" is not allowed');
  });

  it('a redirect to a numeric loopback form is judged by the address it means', async () => {
    // 2130706433 is 127.0.0.1; the allow-list names that IP, so it is allowed here…
    await expect(fetchToFile(`${base}/to-decimal-loopback`, dest(), allow)).resolves.toMatchObject({ bytes: 1000 });
    // …and refused for a deployment whose allow-list names a different host.
    const r = await fetchToFile(`${base}/to-decimal-loopback`, dest(), { ...allow, allowHosts: ['127.0.0.1:1', 'localhost'] }).catch(
      (e) => e,
    );
    expect(r).toBeInstanceOf(UrlRefusedError);
  });

  it('stops after 5 redirects', async () => {
    const err = await fetchToFile(`${base}/loop`, dest(), allow).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toBe('Too many redirects (more than 5)');
    await expect(fetchToFile(`${base}/loop`, dest(), { ...allow, maxRedirects: 0 })).rejects.toThrow('more than 0');
  });

  it('refuses a declared Content-Length over the cap without writing', async () => {
    const out = dest();
    await expect(fetchToFile(`${base}/big-declared`, out, allow)).rejects.toThrow(
      'The remote file is too large (10000 bytes; the limit is 5000 bytes)',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('aborts a chunked body past the cap and deletes the partial file', async () => {
    const out = dest();
    const err = await fetchToFile(`${base}/big-chunked`, out, { ...allow, maxBytes: 100_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toBe('The remote file is too large (more than 100000 bytes)');
    expect(existsSync(out)).toBe(false);
  });

  it('enforces the overall timeout on a slow body and on a silent server', async () => {
    const out = dest();
    const t0 = Date.now();
    const err = await fetchToFile(`${base}/slow`, out, { ...allow, timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toMatch(/timed out/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(existsSync(out)).toBe(false);
    await expect(fetchToFile(`${base}/hang-headers`, dest(), { ...allow, timeoutMs: 300 })).rejects.toThrow(/timed out/);
  });

  it('reports HTTP errors with their status', async () => {
    const err = await fetchToFile(`${base}/server-error`, dest(), allow).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.status).toBe(500);
    expect(err.message).toBe('The URL answered HTTP 500; expected 200');
  });

  it('reports a refused connection as a FetchError', async () => {
    // Port 1 on loopback has nothing listening.
    const err = await fetchToFile('http://127.0.0.1:1/x', dest(), allow).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('connects to the address it checked even if DNS would now answer differently (rebinding)', async () => {
    let calls = 0;
    const resolver = async () => (calls++ === 0 ? ['127.0.0.1'] : ['10.0.0.1']);
    const r = await fetchToFile(`http://rebind.test:${port}/file.wav`, dest(), { ...allow, resolver });
    expect(r.bytes).toBe(1000);
    expect(calls).toBe(1);
    const last = seen[seen.length - 1]!;
    expect(last.host).toBe(`rebind.test:${port}`); // the request still names the original host
    expect(last.remote).toBe('127.0.0.1');
  });

  it('pins IPv6 addresses too (allow-listed ::1)', async () => {
    const v6 = createServer((_req, res) => res.end(Buffer.alloc(10, 1)));
    await new Promise<void>((r) => v6.listen(0, '::1', r));
    try {
      const p = (v6.address() as AddressInfo).port;
      await expect(fetchToFile(`http://[::1]:${p}/a`, dest(), { maxBytes: 100, timeoutMs: 3000 })).rejects.toThrow(
        'URL resolves to a loopback address (::1); refused',
      );
      const r = await fetchToFile(`http://[::1]:${p}/a`, dest(), { maxBytes: 100, timeoutMs: 3000, allowHosts: ['::1'] });
      expect(r.bytes).toBe(10);
      const viaName = await fetchToFile(`http://v6.test:${p}/a`, dest(), {
        maxBytes: 100,
        timeoutMs: 3000,
        allowHosts: ['::1'],
        resolver: async () => ['::1'],
      });
      expect(viaName.bytes).toBe(10);
    } finally {
      v6.closeAllConnections();
      await new Promise<void>((r) => v6.close(() => r()));
    }
  });

  it('honours a caller abort signal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(fetchToFile(`${base}/slow`, dest(), { ...allow, signal: ac.signal })).rejects.toThrow(FetchError);
  });
});

describe('fetchToFile over HTTPS with a pinned address', () => {
  let tlsServer: ReturnType<typeof createHttpsServer>;
  let tlsPort: number;
  let cert: Buffer;

  beforeAll(async () => {
    const key = join(dir, 'key.pem');
    const crt = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=media.test', '-addext', 'subjectAltName=DNS:media.test',
    ], { stdio: 'ignore' });
    cert = readFileSync(crt);
    tlsServer = createHttpsServer({ key: readFileSync(key), cert }, (req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host, remote: req.socket.remoteAddress });
      res.end(Buffer.alloc(321, 5));
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    tlsServer.closeAllConnections();
    await new Promise<void>((r) => tlsServer.close(() => r()));
  });

  it('verifies the certificate against the URL host name while connecting to the checked IP', async () => {
    const resolver = async () => ['127.0.0.1'];
    const r = await fetchToFile(`https://media.test:${tlsPort}/x.png`, dest(), {
      ...allow,
      allowHosts: ['media.test'],
      resolver,
      tls: { ca: cert },
    });
    expect(r.bytes).toBe(321);
    expect(r.finalUrl).toBe(`https://media.test:${tlsPort}/x.png`);
  });

  it('still fails on a certificate for another name (pinning does not switch verification off)', async () => {
    const resolver = async () => ['127.0.0.1'];
    const err = await fetchToFile(`https://wrong.test:${tlsPort}/x.png`, dest(), {
      ...allow,
      allowHosts: ['wrong.test'],
      resolver,
      tls: { ca: cert },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|altname|does not match/i);
  });

  it('refuses an untrusted certificate', async () => {
    const resolver = async () => ['127.0.0.1'];
    await expect(
      fetchToFile(`https://media.test:${tlsPort}/x.png`, dest(), { ...allow, allowHosts: ['media.test'], resolver }),
    ).rejects.toThrow(/SELF_SIGNED|certificate/i);
  });
});

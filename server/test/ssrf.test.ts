import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer, waitForDetect } from './helpers/server.js';

/**
 * URL intake and callbacks refuse private, loopback, link-local and metadata addresses,
 * before connecting and again on every redirect. No request ever leaves 127.0.0.1 here:
 * refused addresses are refused without a connection attempt.
 */
let strict: TestServer; // no allow-list at all
let lenient: TestServer; // 127.0.0.1 allow-listed, as a test needs to serve media
let redirector: Server;
let redirectorUrl: string;

beforeAll(async () => {
  strict = await startTestServer({ DISCERN_URL_ALLOW_HOSTS: '' });
  lenient = await startTestServer({ DISCERN_URL_ALLOW_HOSTS: '127.0.0.1' });
  redirector = createServer((req, res) => {
    const target = req.url?.includes('metadata') ? 'http://169.254.169.254/latest/meta-data/' : 'http://10.0.0.1/clip.wav';
    res.writeHead(302, { location: target });
    res.end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  const address = redirector.address();
  redirectorUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => redirector?.close(resolve));
  await strict?.close();
  await lenient?.close();
});

describe('SSRF guard', () => {
  const refused = [
    'http://127.0.0.1/a.wav',
    'http://localhost:8080/a.wav',
    'http://10.0.0.1/a.wav',
    'http://192.168.1.10/a.wav',
    'http://172.16.5.4/a.wav',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/a.wav',
    'http://[::ffff:127.0.0.1]/a.wav',
    'http://2130706433/a.wav',
    'http://0x7f000001/a.wav',
    'http://0.0.0.0/a.wav',
  ];
  for (const url of refused) {
    it(`refuses url ${url} with a 400`, async () => {
      const res = await api(strict, 'POST', '/api/v2/detect', { body: { url } });
      expect(res.status).toBe(400);
      expect(res.json.success).toBe(false);
      expect(res.json.message).toMatch(/refused|private|loopback|link-local|not allowed|invalid|reserved/i);
    });
  }

  it('refuses non-http schemes', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/a.wav', 'gopher://127.0.0.1/']) {
      const res = await api(strict, 'POST', '/api/v2/detect', { body: { url } });
      expect(res.status, url).toBe(400);
    }
  });

  it('refuses private callback URLs', async () => {
    const res = await api(strict, 'POST', '/api/v2/detect', { body: { url: 'http://10.0.0.1/a.wav', callback_url: 'http://169.254.169.254/hook' } });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/callback_url|url/);
  });

  it('fails the job when an allowed URL redirects into a private address', async () => {
    const res = await api(lenient, 'POST', '/api/v2/detect', { body: { url: `${redirectorUrl}/clip.wav` } });
    expect(res.status).toBe(200);
    const done = await waitForDetect(lenient, res.json.item.uuid);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/10\.0\.0\.1|private|refused/i);
  });

  it('fails the job when a redirect points at the cloud metadata address', async () => {
    const res = await api(lenient, 'POST', '/api/v2/detect', { body: { url: `${redirectorUrl}/metadata` } });
    const done = await waitForDetect(lenient, res.json.item.uuid);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/169\.254\.169\.254|link-local|refused/i);
  });
});

/**
 * Test harness: a real discern server on 127.0.0.1 with its own temporary data folder,
 * real SQLite, real blob folder and real workers. Nothing is mocked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createContext, type AppContext } from '../../src/context.js';
import { generateApiKey, hashApiKey } from '../../src/security/api-keys.js';

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  ctx: AppContext;
  app: FastifyInstance;
  /** API key of team "default". */
  key: string;
  createKey(teamName: string): Promise<string>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'discern-test-'));
  const port = await freePort();
  const key = generateApiKey();
  const config = loadConfig({
    DISCERN_DATA_DIR: dataDir,
    DISCERN_PORT: String(port),
    DISCERN_HOST: '127.0.0.1',
    DISCERN_LOG_LEVEL: 'silent',
    DISCERN_BOOTSTRAP_KEY: key,
    DISCERN_URL_ALLOW_HOSTS: '127.0.0.1',
    DISCERN_WORKERS: '2',
    ...env,
  });
  const ctx = await createContext(config);
  const app = await buildApp(ctx);
  ctx.startWorkers();
  await app.listen({ host: '127.0.0.1', port });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    ctx,
    app,
    key,
    async createKey(teamName: string) {
      const team = (await ctx.teams.findByName(teamName)) ?? (await ctx.teams.create(teamName));
      const k = generateApiKey();
      await ctx.teams.addKey(team.id, hashApiKey(k), k.slice(0, 8));
      return k;
    },
    async close() {
      await app.close();
      await ctx.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** fetch with the API key; returns status, headers and parsed JSON. */
export async function api(server: { url: string; key: string }, method: string, route: string, init: { body?: unknown; form?: FormData; headers?: Record<string, string>; key?: string | null } = {}) {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const key = init.key === undefined ? server.key : init.key;
  if (key) headers.authorization = `Bearer ${key}`;
  let body: BodyInit | undefined;
  if (init.form) body = init.form;
  else if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  const response = await fetch(`${server.url}${route}`, { method, headers, body });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { _raw: text };
  }
  return { status: response.status, headers: response.headers, json };
}

/** Polls GET /detect/{uuid} until the detect is terminal. */
export async function waitForDetect(server: { url: string; key: string }, uuid: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(server, 'GET', `/api/v2/detect/${uuid}`);
    if (res.json.item?.status !== 'processing' || Date.now() > deadline) return res.json.item;
    await new Promise((r) => setTimeout(r, 200));
  }
}

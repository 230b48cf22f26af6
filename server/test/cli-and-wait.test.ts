import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer } from './helpers/server.js';
import { fileForm, makeWav } from './helpers/media.js';

const run = promisify(execFile);
const MAIN = path.resolve('dist/server/src/main.js');

describe('discern CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'discern-cli-'));
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it('migrate, then keys create prints a key once that the server accepts', async () => {
    expect(existsSync(MAIN)).toBe(true);
    const env = { ...process.env, DISCERN_DATA_DIR: dataDir };
    const migrated = await run(process.execPath, [MAIN, 'migrate'], { env });
    expect(migrated.stdout).toMatch(/applied: 001-initial|up to date/);
    const created = await run(process.execPath, [MAIN, 'keys', 'create', '--team', 'newsroom'], { env });
    const key = created.stdout.trim();
    expect(key).toMatch(/^dsk_[A-Za-z0-9_-]{32}$/);
    expect(created.stderr).toMatch(/shown only this once/);
    const server = await startTestServer({ DISCERN_DATA_DIR: dataDir });
    try {
      const res = await api({ url: server.url, key }, 'GET', '/api/v2/detect?page=1');
      expect(res.status).toBe(200);
      const team = await server.ctx.teams.findByName('newsroom');
      const row = await server.ctx.database.db.selectFrom('api_keys').selectAll().where('team_id', '=', team!.id).executeTakeFirstOrThrow();
      expect(row.key_hash).not.toContain(key); // stored hashed
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await server.app.close();
      await server.ctx.close();
    }
  });
});

describe('Prefer: wait bound', () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    // No workers: the job can never finish, so the wait must end at its limit.
    server = await startTestServer({ DISCERN_WORKERS: '0', DISCERN_WAIT_TIMEOUT_SECONDS: '1' });
    dir = await mkdtemp(path.join(tmpdir(), 'discern-wait-'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the current (processing) item when the limit passes', async () => {
    const wav = await makeWav(path.join(dir, 'a.wav'));
    const started = Date.now();
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', wav, 'a.wav'), headers: { prefer: 'wait' } });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.json.item.status).toBe('processing');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
  });
});

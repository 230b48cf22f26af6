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
const MODEL_SHIPPED = existsSync(path.resolve('models/audio-deepfake/model.json'));
let server: TestServer;
let dir: string;
let speech: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'discern-audio-api-'));
  speech = await makeWav(path.join(dir, 'speech.wav'), {
    speech: 'Good morning. This is a short announcement about the schedule for the next three days, please listen carefully.',
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('audio detection through the API', () => {
  it(MODEL_SHIPPED ? 'scores every chunk with the shipped model and serves the heatmap' : 'fails with a clear error when no audio model is installed', async () => {
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', speech, 'speech.wav', { visualize: 'true', frame_length: '2' }), headers: { prefer: 'wait' } });
    const item = res.json.item;
    if (!MODEL_SHIPPED) {
      expect(item.status).toBe('failed');
      expect(item.error_message).toMatch(/model/i);
      return;
    }
    expect(item.status, item.error_message).toBe('completed');
    const m = item.metrics;
    expect(['fake', 'real']).toContain(m.label);
    expect(Array.isArray(m.score)).toBe(true);
    expect(m.score.length).toBeGreaterThanOrEqual(Math.floor(item.duration / 2));
    for (const s of m.score) expect(typeof s).toBe('string');
    expect(typeof m.aggregated_score).toBe('string');
    expect(typeof m.consistency).toBe('string');
    expect(m.model_version).toMatch(/@/);
    expect(typeof m.threshold).toBe('number');
    expect(typeof m.false_positive_rate).toBe('number');
    expect(Number(m.aggregated_score) >= m.threshold).toBe(m.label === 'fake');
    const png = await fetch(m.image);
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
  }, 120_000);

  it('gives a video with a sound track audio metrics too', async () => {
    const video = path.join(dir, 'talk.mp4');
    await run('ffmpeg', ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', speech, '-shortest', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', video]);
    const res = await api(server, 'POST', '/api/v2/detect', { form: await fileForm('file', video, 'talk.mp4'), headers: { prefer: 'wait' } });
    const item = res.json.item;
    expect(item.media_type).toBe('video');
    if (MODEL_SHIPPED) {
      expect(item.status, item.error_message).toBe('completed');
      expect(['fake', 'real', 'unknown']).toContain(item.metrics.label);
    } else {
      expect(item.status).toBe('failed');
    }
  }, 120_000);
});

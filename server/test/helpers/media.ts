import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A short WAV made by ffmpeg: a tone (no speech) unless `speech` is given to espeak-ng. */
export async function makeWav(file: string, opts: { seconds?: number; speech?: string; frequency?: number } = {}): Promise<string> {
  if (opts.speech) {
    await run('espeak-ng', ['-w', file, opts.speech]);
    return file;
  }
  await run('ffmpeg', ['-y', '-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${opts.frequency ?? 440}:duration=${opts.seconds ?? 1}:sample_rate=16000`, '-ac', '1', file]);
  return file;
}

export async function makePng(file: string, size = '64x48'): Promise<string> {
  await run('ffmpeg', ['-y', '-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=1:duration=1`, '-frames:v', '1', file]);
  return file;
}

export async function fileForm(field: string, file: string, name: string, fields: Record<string, string> = {}): Promise<FormData> {
  const { readFile } = await import('node:fs/promises');
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append(field, new Blob([await readFile(file)]), name);
  return form;
}

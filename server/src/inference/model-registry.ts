import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Ort from 'onnxruntime-node';
import { ModelManifestSchema, type ModelManifest } from './manifest.js';

export interface LoadedModel {
  manifest: ModelManifest;
  directory: string;
  session: Ort.InferenceSession;
  ort: typeof Ort;
}

/** The repository's own `models/` folder, found relative to this file (src or dist). */
export function shippedModelsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'models');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('models');
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Finds models by task in the user's DISCERN_MODELS_DIR first, then the shipped folder.
 * Sessions are created once and shared: onnxruntime sessions are safe to run concurrently.
 * A model whose file does not match its manifest's sha256 is refused, never loaded.
 */
export class ModelRegistry {
  private readonly sessions = new Map<string, Promise<LoadedModel>>();

  constructor(private readonly searchDirs: string[], private readonly intraOpThreads = 1) {}

  /** Every readable manifest, user models first. Invalid manifests are reported, not thrown. */
  listManifests(): { directory: string; manifest?: ModelManifest; error?: string }[] {
    const found: { directory: string; manifest?: ModelManifest; error?: string }[] = [];
    for (const root of this.searchDirs) {
      if (!root || !existsSync(root)) continue;
      for (const entry of readdirSync(root, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const directory = path.join(root, entry.name);
        const manifestPath = path.join(directory, 'model.json');
        if (!existsSync(manifestPath)) continue;
        try {
          const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
          found.push({ directory, manifest });
        } catch (error) {
          found.push({ directory, error: `invalid model.json: ${(error as Error).message}` });
        }
      }
    }
    return found;
  }

  /** The first model for `task`, or null when none is installed. */
  findByTask(task: string): { directory: string; manifest: ModelManifest } | null {
    for (const item of this.listManifests()) {
      if (item.manifest && item.manifest.task === task) return { directory: item.directory, manifest: item.manifest };
    }
    return null;
  }

  async load(task: string): Promise<LoadedModel | null> {
    const found = this.findByTask(task);
    if (!found) return null;
    const key = found.directory;
    let pending = this.sessions.get(key);
    if (!pending) {
      pending = this.open(found.directory, found.manifest);
      this.sessions.set(key, pending);
      pending.catch(() => this.sessions.delete(key));
    }
    return pending;
  }

  private async open(directory: string, manifest: ModelManifest): Promise<LoadedModel> {
    const file = path.join(directory, manifest.file);
    const actual = await sha256OfFile(file);
    if (actual !== manifest.sha256) {
      throw new Error(`model ${manifest.name}: sha256 of ${manifest.file} is ${actual}, manifest says ${manifest.sha256}`);
    }
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: this.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return { manifest, directory, session, ort };
  }
}

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ModelRegistry } from '../inference/model-registry.js';
import { AnalyserRegistry } from './registry.js';

/**
 * Registers every analyser this build has. A media type with no analyser makes its jobs fail
 * with an explicit "no analyser installed" error rather than an invented verdict.
 */
export function buildAnalyserRegistry(deps: { models: ModelRegistry; database: Kysely<Database> }): AnalyserRegistry {
  const registry = new AnalyserRegistry();
  void deps;
  return registry;
}

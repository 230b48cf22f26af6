import type { ModelRegistry } from '../inference/model-registry.js';
import { createAudioDeepfakeAnalyser } from './audio/index.js';
import { createImageAnalyser } from './image/index.js';
import type { ReverseSearchStore } from './image/reverse-search.js';
import { AnalyserRegistry } from './registry.js';

/**
 * Registers every analyser this build has. A media type with no analyser makes its jobs fail
 * with an explicit "no analyser installed" error rather than an invented verdict.
 */
export function buildAnalyserRegistry(deps: { models: ModelRegistry; reverseSearch: ReverseSearchStore }): AnalyserRegistry {
  const registry = new AnalyserRegistry();
  // Audio and the audio track of videos.
  registry.register(createAudioDeepfakeAnalyser({ models: deps.models }));
  registry.register(createImageAnalyser({ models: deps.models, reverseSearch: deps.reverseSearch }));
  return registry;
}

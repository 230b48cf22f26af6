import type { Analyser, MediaType } from './types.js';

/** Which analysers run for which media type. Built once in context.ts. */
export class AnalyserRegistry {
  private readonly analysers: Analyser[] = [];

  register(analyser: Analyser): this {
    this.analysers.push(analyser);
    return this;
  }

  forMediaType(mediaType: MediaType): Analyser[] {
    return this.analysers.filter((a) => a.mediaTypes.includes(mediaType));
  }

  names(): string[] {
    return this.analysers.map((a) => a.name);
  }
}

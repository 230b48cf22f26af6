/**
 * Rules that recognise AI generators from the text they leave in files: generation-parameter
 * chunks, software/creator tags and IPTC digital-source-type codes. Each rule names the tool and
 * quotes (shortened) what it matched, so the evidence can be checked by a person.
 */
import type { TextEntry } from './containers.js';

export interface GeneratorHit {
  tool: string;
  where: string;
  excerpt: string;
}

const clip = (text: string, n = 160) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n)}…` : flat;
};

function tryJson(text: string): unknown {
  if (text.length > 4 * 1024 * 1024) return undefined;
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return undefined;
  try { return JSON.parse(t); } catch { return undefined; }
}

/** A1111-style parameter block: prompt text followed by a "Steps: N, Sampler: …" line. */
export function looksLikeA1111Parameters(text: string): boolean {
  return /\bSteps:\s*\d+/.test(text) && /\b(Sampler|CFG scale|Seed|Model hash|Size):/.test(text);
}

function isComfyPrompt(value: unknown): boolean {
  if (!value || typeof value !== 'object') return false;
  let nodes = 0;
  for (const node of Object.values(value as Record<string, unknown>).slice(0, 2000)) {
    if (node && typeof node === 'object' && typeof (node as Record<string, unknown>).class_type === 'string') nodes++;
  }
  return nodes > 0;
}

function isComfyWorkflow(value: unknown): boolean {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return Array.isArray(v.nodes) && (Array.isArray(v.links) || 'last_node_id' in v || 'version' in v);
}

const GENERATION_KEYS = /"(steps|sampler|sampler_name|cfg_scale|seed|negative_prompt|num_inference_steps|guidance_scale|scheduler|uc)"\s*:/g;

/** Parameter chunks written by generation front-ends (PNG text, JPEG COM, EXIF UserComment). */
export function matchGeneratorText(entry: TextEntry): GeneratorHit | null {
  const key = entry.keyword.trim();
  const lower = key.toLowerCase();
  const text = entry.text;
  const where = `${entry.source} "${key}"`;
  const json = tryJson(text);
  const jsonKeys = (text.slice(0, 65536).match(GENERATION_KEYS) ?? []).length;

  if (lower === 'parameters' || lower === 'comment' || lower === 'usercomment' || lower === 'description') {
    if (json && typeof json === 'object' && 'sui_image_params' in (json as object)) return { tool: 'SwarmUI', where, excerpt: clip(text) };
    if (/Fooocus/i.test(text) && (json || looksLikeA1111Parameters(text))) return { tool: 'Fooocus', where, excerpt: clip(text) };
    if (looksLikeA1111Parameters(text)) {
      const tool = /Version:\s*f\d|Forge/i.test(text) ? 'Stable Diffusion WebUI Forge' : /SD\.Next|Version:\s*\w+-sdnext/i.test(text) ? 'SD.Next' : 'AUTOMATIC1111 Stable Diffusion WebUI (or compatible)';
      return { tool, where, excerpt: clip(text) };
    }
  }
  if (lower === 'parameters' && json && jsonKeys >= 2) return { tool: 'Stable Diffusion front-end (JSON parameters)', where, excerpt: clip(text) };
  if (lower === 'prompt' && isComfyPrompt(json)) return { tool: 'ComfyUI', where, excerpt: clip(text) };
  if (lower === 'workflow' && isComfyWorkflow(json)) return { tool: 'ComfyUI', where, excerpt: clip(text) };
  if (lower === 'comment' || lower === 'usercomment') {
    // Draw Things stores a JSON object with short keys (c = prompt, uc = negative, sampler, steps, seed).
    if (json && typeof json === 'object' && 'c' in (json as object) && jsonKeys >= 2) return { tool: 'Draw Things', where, excerpt: clip(text) };
  }
  if (lower === 'comment' && json && jsonKeys >= 2) return { tool: 'NovelAI (or compatible)', where, excerpt: clip(text) };
  if (lower === 'software' && /novelai/i.test(text)) return { tool: 'NovelAI', where, excerpt: clip(text) };
  if (lower === 'source' && /stable diffusion|novelai|midjourney|dall.?e|flux/i.test(text)) return { tool: clip(text, 60), where, excerpt: clip(text) };
  if (lower === 'title' && /^AI generated image$/i.test(text.trim())) return { tool: 'NovelAI', where, excerpt: clip(text) };
  if (lower === 'invokeai_metadata' || lower === 'invokeai_graph' || lower === 'sd-metadata' || lower === 'dream') {
    if (json || lower === 'dream') return { tool: 'InvokeAI', where, excerpt: clip(text) };
  }
  if (lower === 'fooocus_scheme') return { tool: 'Fooocus', where, excerpt: clip(text) };
  if ((lower === 'negative_prompt' || lower === 'num_inference_steps' || lower === 'sampler_name' || lower === 'use_stable_diffusion_model')) {
    return { tool: 'Easy Diffusion (or compatible)', where, excerpt: clip(text) };
  }
  if ((lower === 'description' || lower === 'comment') && /\bJob ID:\s*[0-9a-f-]{16,}/i.test(text)) return { tool: 'Midjourney', where, excerpt: clip(text) };
  return null;
}

/** Software / CreatorTool / softwareAgent values naming generative tools. */
const SOFTWARE_RULES: [RegExp, string][] = [
  [/midjourney/i, 'Midjourney'],
  [/dall[\s·.\-_]?e|openai|chatgpt|gpt-image/i, 'OpenAI DALL·E / GPT image'],
  [/adobe\s*firefly|firefly/i, 'Adobe Firefly'],
  [/stable[\s-]?diffusion|sdxl|stability\s*ai|dreamstudio/i, 'Stable Diffusion'],
  [/\bimagen\b|gemini|made with google ai|synthid|nano banana/i, 'Google Imagen / Gemini'],
  [/novelai/i, 'NovelAI'],
  [/comfyui/i, 'ComfyUI'],
  [/automatic1111|stable diffusion web ?ui/i, 'AUTOMATIC1111'],
  [/invokeai/i, 'InvokeAI'],
  [/fooocus/i, 'Fooocus'],
  [/draw\s*things/i, 'Draw Things'],
  [/leonardo\.?ai/i, 'Leonardo.Ai'],
  [/ideogram/i, 'Ideogram'],
  [/\bflux(\.1)?\b.*(black forest|dev|schnell|pro)|black forest labs/i, 'FLUX (Black Forest Labs)'],
  [/bing image creator|microsoft designer|copilot designer/i, 'Microsoft Designer / Bing Image Creator'],
  [/\bgrok\b|aurora.*xai|xai.*aurora/i, 'xAI Grok / Aurora'],
  [/runway(ml)?\b/i, 'Runway'],
  [/krea\.?ai/i, 'Krea'],
  [/playground\s*(ai|v\d)/i, 'Playground AI'],
  [/craiyon|dream by wombo|nightcafe|artbreeder|starryai|deepai/i, 'online AI image generator'],
];

export function matchGeneratorSoftware(value: string): string | null {
  const v = value.slice(0, 4096);
  for (const [pattern, tool] of SOFTWARE_RULES) if (pattern.test(v)) return tool;
  return null;
}

export type SourceTypeClass = 'ai' | 'synthetic' | 'capture' | 'human_made' | 'other';

const SOURCE_TYPE_CLASSES: Record<string, SourceTypeClass> = {
  trainedalgorithmicmedia: 'ai',
  compositewithtrainedalgorithmicmedia: 'ai',
  algorithmicmedia: 'ai',
  'c2pa.trainedalgorithmicdata': 'ai',
  compositesynthetic: 'synthetic',
  digitalcapture: 'capture',
  negativefilm: 'capture',
  positivefilm: 'capture',
  print: 'capture',
  minorhumanedits: 'capture',
  compositecapture: 'capture',
  algorithmicallyenhanced: 'capture',
  screencapture: 'capture',
  digitalart: 'human_made',
  softwareimage: 'human_made',
  virtualrecording: 'other',
  datadrivenmedia: 'other',
};

/** Classifies an IPTC digital-source-type code (full URI or bare term). */
export function classifySourceType(value: string): SourceTypeClass {
  const term = value.trim().replace(/\/+$/, '').split('/').pop()!.toLowerCase();
  return SOURCE_TYPE_CLASSES[term] ?? 'other';
}

/**
 * Provenance: what the file says about its own origin. C2PA manifests, IPTC digital-source-type
 * codes, generator parameter chunks, generator software tags, the Stable Diffusion DWT-DCT
 * watermark, and camera metadata (reported, never proof of authenticity).
 *
 * A declaration of AI origin decides the verdict: nobody has a reason to forge one onto a real
 * photograph, and such a forgery would be the uploader's own statement. The absence of any
 * declaration proves nothing, because metadata is stripped by most platforms.
 */
import type { ImageFinding } from '../types.js';
import { inspectC2pa, type C2paReport } from './c2pa.js';
import { readContainerMetadata, type ContainerMetadata, type TextEntry } from './containers.js';
import { detectDwtDctWatermark } from './dwt-dct-watermark.js';
import { readExif, type ExifFields } from './exif.js';
import { classifySourceType, matchGeneratorSoftware, matchGeneratorText } from './generators.js';
import { readXmp } from './xmp.js';

export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface ProvenanceReport {
  format: string;
  findings: ImageFinding[];
  animated: boolean;
  c2pa: C2paReport | null;
  warnings: string[];
  /** Best agreement of the DWT-DCT reading with a known payload (null when not run). */
  watermarkAgreement: number | null;
}

const shortType = (uri: string) => uri.replace(/\/+$/, '').split('/').pop() ?? uri;

export async function analyseProvenance(bytes: Buffer, pixels?: RawPixels | null): Promise<ProvenanceReport> {
  let meta: ContainerMetadata;
  try {
    meta = readContainerMetadata(bytes);
  } catch (error) {
    // The readers are bounds-checked; this is a last line of defence, not an expected path.
    meta = { format: 'unknown', texts: [], xmp: [], exif: [], jumbf: [], warnings: [`metadata walk failed: ${(error as Error).message}`], animated: false };
  }
  const findings: ImageFinding[] = [];
  const warnings = [...meta.warnings];

  // --- C2PA ---
  let c2pa: C2paReport | null = null;
  try {
    c2pa = await inspectC2pa(bytes, meta.jumbf[0]);
  } catch (error) {
    warnings.push(`c2pa: ${(error as Error).message}`);
  }
  if (c2pa) findings.push(c2paFinding(c2pa));

  // --- EXIF ---
  const exifs: ExifFields[] = meta.exif.map((tiff) => {
    try { return readExif(tiff); } catch (error) { return { warnings: [`exif: ${(error as Error).message}`] }; }
  });
  for (const e of exifs) warnings.push(...e.warnings);
  const texts: TextEntry[] = [...meta.texts];
  for (const e of exifs) {
    if (e.userComment) texts.push({ source: 'exif', keyword: 'UserComment', text: e.userComment });
    if (e.imageDescription) texts.push({ source: 'exif', keyword: 'Description', text: e.imageDescription });
    if (e.xpComment) texts.push({ source: 'exif', keyword: 'Comment', text: e.xpComment });
  }

  // --- XMP ---
  const xmp = readXmp(meta.xmp);
  for (const value of xmp.digitalSourceTypes) {
    const kind = classifySourceType(value);
    if (kind === 'ai' || kind === 'synthetic') {
      findings.push({
        type: 'IPTCDigitalSourceType', label: 'Fake', score: 1, decisive: true,
        evidence: `XMP declares IPTC DigitalSourceType "${shortType(value)}" (${kind === 'ai' ? 'made with generative AI' : 'synthetic composite'}); unsigned metadata, so it states the origin but cannot prove it`,
        details: { value },
      });
    } else if (kind === 'capture') {
      findings.push({
        type: 'IPTCDigitalSourceType', label: 'Unknown', score: 0.5,
        evidence: `XMP declares IPTC DigitalSourceType "${shortType(value)}"; unsigned metadata can be written by anyone, so this is not proof of a camera capture`,
        details: { value },
      });
    } else {
      findings.push({ type: 'IPTCDigitalSourceType', label: 'Unknown', score: 0.5, evidence: `XMP declares IPTC DigitalSourceType "${shortType(value)}" (not an AI source type)`, details: { value } });
    }
  }
  if (xmp.mentionsC2pa && !c2pa) {
    findings.push({ type: 'C2PA', label: 'Unknown', score: 0.5, evidence: 'XMP refers to C2PA provenance but no embedded manifest was found (remote or stripped manifest); nothing could be validated' });
  }

  // --- generator parameter chunks ---
  const seenTools = new Set<string>();
  for (const entry of texts) {
    const hit = matchGeneratorText(entry);
    if (!hit) continue;
    const key = `${hit.tool}|${hit.where}`;
    if (seenTools.has(key)) continue;
    seenTools.add(key);
    findings.push({
      type: 'GeneratorParameters', label: 'Fake', score: 1, decisive: true,
      evidence: `${hit.where} holds generation parameters written by ${hit.tool}: "${hit.excerpt}"`,
      details: { tool: hit.tool, where: hit.where },
    });
  }

  // --- software / creator tags ---
  const softwareValues: { where: string; value: string }[] = [];
  for (const e of exifs) if (e.software) softwareValues.push({ where: 'EXIF Software', value: e.software });
  for (const e of exifs) if (e.artist) softwareValues.push({ where: 'EXIF Artist', value: e.artist });
  for (const v of xmp.creatorTools) softwareValues.push({ where: 'XMP CreatorTool', value: v });
  for (const v of xmp.softwareAgents) softwareValues.push({ where: 'XMP softwareAgent', value: v });
  for (const v of xmp.credits) softwareValues.push({ where: 'XMP Credit', value: v });
  for (const t of meta.texts) if (/^(software|author|source|generator)$/i.test(t.keyword)) softwareValues.push({ where: `${t.source} "${t.keyword}"`, value: t.text });
  const softwareSeen = new Set<string>();
  for (const { where, value } of softwareValues) {
    const tool = matchGeneratorSoftware(value);
    if (!tool || softwareSeen.has(`${tool}|${where}`)) continue;
    softwareSeen.add(`${tool}|${where}`);
    findings.push({
      type: 'GeneratorSoftwareTag', label: 'Fake', score: 1, decisive: true,
      evidence: `${where} names a generative tool (${tool}): "${value.slice(0, 120)}"`,
      details: { tool, where },
    });
  }

  // --- camera metadata: reported, never proof ---
  const camera = exifs.find((e) => e.make || e.model);
  if (camera) {
    findings.push({
      type: 'CameraMetadata', label: 'Unknown', score: 0.5,
      evidence: `EXIF names a camera (${[camera.make, camera.model].filter(Boolean).join(' ')}${camera.dateTimeOriginal ? `, taken ${camera.dateTimeOriginal}` : ''}); EXIF is trivially copied or forged, so this is not evidence of authenticity`,
      details: { make: camera.make, model: camera.model },
    });
  }

  // --- DWT-DCT watermark ---
  let watermarkAgreement: number | null = null;
  if (pixels) {
    const { match, best } = detectDwtDctWatermark(pixels.data, pixels.width, pixels.height, pixels.channels);
    if (match) {
      findings.push({
        type: 'InvisibleWatermark', label: 'Fake', score: 1, decisive: true,
        evidence: `DWT-DCT invisible watermark of the ${match.payload} found (${(match.bitAccuracy * 100).toFixed(1)}% of ${match.bits} payload bits agree; chance agreement at this level is below 1e-7)`,
        details: { payload: match.payload, bit_accuracy: match.bitAccuracy },
      });
    }
    watermarkAgreement = best?.bitAccuracy ?? null;
  }

  return { format: meta.format, findings, animated: meta.animated, c2pa, warnings, watermarkAgreement };
}

function c2paFinding(report: C2paReport): ImageFinding {
  const aiTypes = report.digitalSourceTypes.filter((t) => classifySourceType(t) === 'ai' || classifySourceType(t) === 'synthetic');
  const generatorTool = report.claimGenerator ? matchGeneratorSoftware(report.claimGenerator) : null;
  const agentTools = report.actions.map((a) => (a.softwareAgent ? matchGeneratorSoftware(a.softwareAgent) : null)).filter(Boolean);
  const describe = [
    report.claimGenerator ? `claim generator "${report.claimGenerator}"` : 'no claim generator',
    report.actions.length ? `actions ${report.actions.map((a) => a.action + (a.digitalSourceType ? ` (${shortType(a.digitalSourceType)})` : '')).join(', ')}` : 'no actions',
  ].join('; ');
  const state = report.validation === 'valid'
    ? 'signature and hash bindings valid (signer trust list not checked)'
    : report.validation === 'invalid' ? `validation FAILED (${report.errors.slice(0, 3).join('; ')})`
      : report.validation === 'not_validated' ? 'not validated (format not supported for binding checks)'
        : `unreadable (${report.errors[0] ?? ''})`;
  const details = { validation: report.validation, claim_generator: report.claimGenerator, actions: report.actions, digital_source_types: report.digitalSourceTypes, errors: report.errors };
  if (aiTypes.length > 0 || generatorTool || agentTools.length > 0) {
    const why = aiTypes.length > 0 ? `digital source type ${aiTypes.map(shortType).join(', ')}` : `generative tool ${generatorTool ?? agentTools[0]}`;
    return {
      type: 'C2PA', label: 'Fake', score: report.validation === 'valid' ? 1 : 0.95, decisive: report.validation !== 'unreadable',
      evidence: `C2PA manifest declares ${why}; ${describe}; ${state}`,
      details,
    };
  }
  if (report.validation === 'valid') {
    return {
      type: 'C2PA', label: 'Real', score: 0.5,
      evidence: `C2PA manifest without any AI assertion; ${describe}; ${state}. Without a trust-list check a valid signature shows integrity, not who signed, so this is not counted as proof of authenticity`,
      details,
    };
  }
  return { type: 'C2PA', label: 'Unknown', score: 0.5, evidence: `C2PA manifest present; ${describe}; ${state}`, details };
}

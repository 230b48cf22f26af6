import { describe, expect, it, beforeAll } from 'vitest';
import { buildProvenanceFixtures, baseImage, encode, insertPngChunks, iTXt, signWithC2pa, xmpPacket, IPTC_DST, type ProvenanceFixture } from '../fixtures.js';
import { decodeImage } from '../decode.js';
import { analyseProvenance } from './index.js';
import { readContainerMetadata } from './containers.js';
import { detectDwtDctWatermark, embedDwtDctWatermark, KNOWN_PAYLOADS } from './dwt-dct-watermark.js';
import { readXmp } from './xmp.js';
import { matchGeneratorText, classifySourceType } from './generators.js';

let fixtures: ProvenanceFixture[];
beforeAll(async () => { fixtures = await buildProvenanceFixtures(); });

describe('provenance fixtures', () => {
  it('finds every signal type and stays quiet on negative controls', async () => {
    const failures: string[] = [];
    for (const f of fixtures) {
      const decoded = await decodeImage(f.bytes);
      const report = await analyseProvenance(f.bytes, decoded);
      const fakeTypes = report.findings.filter((x) => x.label === 'Fake' && x.decisive).map((x) => x.type);
      const ok = f.expectFakeType ? fakeTypes.includes(f.expectFakeType) : fakeTypes.length === 0;
      if (!ok) failures.push(`${f.name}: got ${JSON.stringify(report.findings.map((x) => [x.type, x.label]))}`);
    }
    expect(failures).toEqual([]);
    expect(fixtures.filter((f) => f.expectFakeType).length).toBeGreaterThanOrEqual(20);
    expect(fixtures.filter((f) => !f.expectFakeType).length).toBeGreaterThanOrEqual(6);
  });

  it('validates a signed C2PA manifest and reports claim generator and actions', async () => {
    const f = fixtures.find((x) => x.name.startsWith('JPEG C2PA signed, trained'))!;
    const report = await analyseProvenance(f.bytes);
    expect(report.c2pa?.validation).toBe('valid');
    expect(report.c2pa?.claimGenerator).toContain('test-generator/1.0');
    expect(report.c2pa?.actions[0]).toMatchObject({ action: 'c2pa.created' });
    const finding = report.findings.find((x) => x.type === 'C2PA')!;
    expect(finding.score).toBe(1);
    expect(finding.evidence).toMatch(/trainedAlgorithmicMedia/);
  });

  it('reports a C2PA manifest whose image was altered after signing as invalid', async () => {
    const img = await baseImage(160, 120, 3);
    const signed = await signWithC2pa(await encode(img, 'png'), { claimGenerator: 'tamper-test', digitalSourceType: `${IPTC_DST}trainedAlgorithmicMedia` });
    // Flip bytes inside the last IDAT chunk (pixel data is covered by the hard binding).
    const tampered = Buffer.from(signed);
    const idat = tampered.lastIndexOf(Buffer.from('IDAT'));
    tampered[idat + 20] ^= 0xff;
    const report = await analyseProvenance(tampered);
    expect(report.c2pa?.validation).toBe('invalid');
    expect(report.c2pa?.errors.join(' ')).toMatch(/mismatch|hash/i);
    const finding = report.findings.find((x) => x.type === 'C2PA')!;
    expect(finding.evidence).toMatch(/validation FAILED/);
    expect(finding.score).toBeLessThan(1);
  });
});

describe('DWT-DCT watermark', () => {
  it('reads each known payload after a lossless round trip and rejects unmarked images', async () => {
    const img = await baseImage(512, 384, 11);
    for (const payload of KNOWN_PAYLOADS) {
      const marked = embedDwtDctWatermark(img.data, img.width, img.height, 3, payload.bits);
      const decoded = await decodeImage(await encode({ ...img, data: marked }, 'png'));
      const { match } = detectDwtDctWatermark(decoded.data, decoded.width, decoded.height, 3);
      expect(match?.payload).toBe(payload.name);
    }
    for (let seed = 20; seed < 25; seed++) {
      const other = await baseImage(512, 384, seed);
      expect(detectDwtDctWatermark(other.data, other.width, other.height, 3).match).toBeNull();
    }
  });
});

describe('metadata readers', () => {
  it('reads XMP in attribute, element, rdf:Alt and rdf:resource forms', () => {
    const xmp = readXmp([
      xmpPacket(`xmp:CreatorTool="Tool &amp; Co"><Iptc4xmpExt:DigitalSourceType rdf:resource="${IPTC_DST}trainedAlgorithmicMedia"/><photoshop:Credit><rdf:Alt><rdf:li xml:lang="x-default">Made with Google AI</rdf:li></rdf:Alt></photoshop:Credit></rdf:Description>`),
    ]);
    expect(xmp.creatorTools).toEqual(['Tool & Co']);
    expect(xmp.digitalSourceTypes).toEqual([`${IPTC_DST}trainedAlgorithmicMedia`]);
    expect(xmp.credits).toEqual(['Made with Google AI']);
  });

  it('classifies IPTC source types', () => {
    expect(classifySourceType(`${IPTC_DST}trainedAlgorithmicMedia`)).toBe('ai');
    expect(classifySourceType('compositeWithTrainedAlgorithmicMedia')).toBe('ai');
    expect(classifySourceType(`${IPTC_DST}digitalCapture/`)).toBe('capture');
    expect(classifySourceType(`${IPTC_DST}digitalArt`)).toBe('human_made');
  });

  it('does not treat ordinary text as generator parameters', () => {
    expect(matchGeneratorText({ source: 'png:tEXt', keyword: 'parameters', text: 'Steps: 3 to reproduce the bug' })).toBeNull();
    expect(matchGeneratorText({ source: 'png:tEXt', keyword: 'Comment', text: '{"title": "holiday"}' })).toBeNull();
    expect(matchGeneratorText({ source: 'png:tEXt', keyword: 'Description', text: 'Midjourney style moodboard' })).toBeNull();
  });

  it('keeps iTXt XMP apart from text chunks and caps zTXt inflation', async () => {
    const png = await encode(await baseImage(64, 64), 'png');
    const meta = readContainerMetadata(insertPngChunks(png, [iTXt('XML:com.adobe.xmp', xmpPacket('xmp:CreatorTool="x"/>'))]));
    expect(meta.xmp).toHaveLength(1);
    expect(meta.texts).toHaveLength(0);
  });
});

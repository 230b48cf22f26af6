/**
 * Crafted provenance fixtures: our own PNG/JPEG chunk writers plus C2PA signing through
 * @trustnxt/c2pa-ts with a throwaway CA. Used by the unit tests and by `npm run eval:image`
 * (provenance detection on every signal type, with negative controls). Nothing here is used
 * when analysing user media.
 */
import { deflateSync } from 'node:zlib';
import { webcrypto, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import * as x509 from '@peculiar/x509';
import { JPEG, PNG } from '@trustnxt/c2pa-ts/asset';
import { LocalSigner } from '@trustnxt/c2pa-ts/cose';
import { ActionAssertion, DataHashAssertion, ManifestStore } from '@trustnxt/c2pa-ts/manifest';
import { embedDwtDctWatermark, KNOWN_PAYLOADS } from './provenance/dwt-dct-watermark.js';

// ---------- PNG ----------
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export const tEXt = (keyword: string, text: string) => pngChunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
export const zTXt = (keyword: string, text: string) => pngChunk('zTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0]), deflateSync(Buffer.from(text, 'latin1'))]));
export function iTXt(keyword: string, text: string, compressed = false): Buffer {
  const body = compressed ? deflateSync(Buffer.from(text, 'utf8')) : Buffer.from(text, 'utf8');
  return pngChunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, compressed ? 1 : 0, 0, 0, 0]), body]));
}

/** Inserts chunks right after IHDR. */
export function insertPngChunks(png: Buffer, chunks: Buffer[]): Buffer {
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

// ---------- JPEG ----------
export function jpegSegment(marker: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0xff; head[1] = marker;
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/** Inserts segments right after SOI. */
export function insertJpegSegments(jpeg: Buffer, segments: Buffer[]): Buffer {
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

export const jpegComment = (text: string) => jpegSegment(0xfe, Buffer.from(text, 'utf8'));
export const jpegXmp = (xmp: string) => jpegSegment(0xe1, Buffer.concat([Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1'), Buffer.from(xmp, 'utf8')]));
export const jpegExif = (tiff: Buffer) => jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));

// ---------- EXIF (little-endian TIFF) ----------
export interface ExifSpec { make?: string; model?: string; software?: string; userComment?: string }

export function buildExif(spec: ExifSpec): Buffer {
  const ifd0: [number, number, Buffer][] = [];
  const ascii = (s: string) => Buffer.from(`${s}\0`, 'latin1');
  if (spec.make) ifd0.push([0x010f, 2, ascii(spec.make)]);
  if (spec.model) ifd0.push([0x0110, 2, ascii(spec.model)]);
  if (spec.software) ifd0.push([0x0131, 2, ascii(spec.software)]);
  const exifIfd: [number, number, Buffer][] = [];
  if (spec.userComment) {
    exifIfd.push([0x9286, 7, Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), Buffer.from(spec.userComment, 'utf16le')])]);
  }
  const ifd0Count = ifd0.length + (exifIfd.length ? 1 : 0);
  const ifd0Size = 2 + ifd0Count * 12 + 4;
  const exifIfdSize = exifIfd.length ? 2 + exifIfd.length * 12 + 4 : 0;
  let dataOffset = 8 + ifd0Size + exifIfdSize;
  const header = Buffer.from([0x49, 0x49, 42, 0, 8, 0, 0, 0]);
  const blobs: Buffer[] = [];
  const writeIfd = (entries: [number, number, Buffer][], extra: [number, number, number][]) => {
    const all = [...entries.map((e) => ({ tag: e[0], type: e[1], data: e[2] as Buffer | null, value: 0 })), ...extra.map((e) => ({ tag: e[0], type: e[1], data: null, value: e[2] }))].sort((a, b) => a.tag - b.tag);
    const b = Buffer.alloc(2 + all.length * 12 + 4);
    b.writeUInt16LE(all.length, 0);
    all.forEach((e, i) => {
      const o = 2 + i * 12;
      b.writeUInt16LE(e.tag, o); b.writeUInt16LE(e.type, o + 2);
      if (e.data) {
        b.writeUInt32LE(e.data.length, o + 4);
        if (e.data.length <= 4) e.data.copy(b, o + 8);
        else { b.writeUInt32LE(dataOffset, o + 8); blobs.push(e.data); dataOffset += e.data.length; }
      } else { b.writeUInt32LE(1, o + 4); b.writeUInt32LE(e.value, o + 8); }
    });
    return b;
  };
  const first = writeIfd(ifd0, exifIfd.length ? [[0x8769, 4, 8 + ifd0Size]] : []);
  const second = exifIfd.length ? writeIfd(exifIfd, []) : Buffer.alloc(0);
  return Buffer.concat([header, first, second, ...blobs]);
}

export function xmpPacket(inner: string): string {
  return `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" ${inner}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>`;
}
export const IPTC_DST = 'http://cv.iptc.org/newscodes/digitalsourcetype/';

// ---------- base images ----------
/** A textured, photo-like test image (smooth gradients + noise), deterministic. */
export async function baseImage(width = 320, height = 240, seed = 1): Promise<{ data: Uint8Array; width: number; height: number }> {
  let s = seed >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >> 17; s ^= s << 5; s >>>= 0; return s / 0xffffffff; };
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = (y * width + x) * 3;
    const base = 128 + 60 * Math.sin(x / 23 + seed) * Math.cos(y / 31) + 30 * Math.sin((x + y) / 9);
    data[i] = clamp(base + 25 * Math.sin(x / 7) + (rand() - 0.5) * 24);
    data[i + 1] = clamp(base * 0.8 + 20 + (rand() - 0.5) * 24);
    data[i + 2] = clamp(255 - base * 0.7 + (rand() - 0.5) * 24);
  }
  return { data, width, height };
}
const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

export async function encode(img: { data: Uint8Array; width: number; height: number }, format: 'png' | 'jpeg' | 'webp', quality = 92): Promise<Buffer> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
  if (format === 'png') return s.png().toBuffer();
  if (format === 'jpeg') return s.jpeg({ quality }).toBuffer();
  return s.webp({ quality }).toBuffer();
}

// ---------- C2PA ----------
interface TestCredentials { signer: LocalSigner }
let credentials: Promise<TestCredentials> | null = null;

/** A throwaway CA and an ES256 leaf certificate with the key usages C2PA requires. */
export function testCredentials(): Promise<TestCredentials> {
  credentials ??= (async () => {
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
    const now = Date.now();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=discern test CA', notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000),
      keys: caKeys, signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    const leafKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '02', subject: 'CN=discern test signer', issuer: ca.subject, notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000),
      signingKey: caKeys.privateKey, publicKey: leafKeys.publicKey, signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.emailProtection]),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      ],
    });
    const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey));
    return { signer: new LocalSigner(pkcs8, -7 as never, leaf, [ca]) };
  })();
  return credentials;
}

/** Signs a JPEG or PNG with a C2PA manifest whose single action carries `digitalSourceType`. */
export async function signWithC2pa(image: Buffer, options: { digitalSourceType?: string; claimGenerator: string; action?: string }): Promise<Buffer> {
  const { signer } = await testCredentials();
  const data = new Uint8Array(image);
  const asset = JPEG.canRead(data) ? new JPEG(data) : new PNG(data);
  const format = asset instanceof JPEG ? 'image/jpeg' : 'image/png';
  const store = new ManifestStore();
  const manifest = store.createManifest({ assetFormat: format, instanceID: `xmp:iid:${randomUUID()}`, defaultHashAlgorithm: 'SHA-256' as never, signer });
  manifest.claim!.claimGeneratorName = options.claimGenerator;
  const dataHash = DataHashAssertion.create('SHA-256' as never);
  manifest.addAssertion(dataHash);
  const actions = new ActionAssertion();
  actions.actions = [{ action: (options.action ?? 'c2pa.created') as never, ...(options.digitalSourceType ? { digitalSourceType: options.digitalSourceType as never } : {}) }];
  manifest.addAssertion(actions);
  await asset.ensureManifestSpace(store.measureSize());
  await dataHash.updateWithAsset(asset);
  await manifest.sign(signer);
  await asset.writeManifestJUMBF(store.getBytes());
  return Buffer.from(await asset.getDataRange());
}

// ---------- fixture set ----------
export interface ProvenanceFixture {
  name: string;
  bytes: Buffer;
  /** Finding type that must be reported with label Fake, or null for a negative control. */
  expectFakeType: string | null;
}

const A1111 = 'a photo of a lighthouse at dusk, highly detailed\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned';
const COMFY_PROMPT = JSON.stringify({ 3: { class_type: 'KSampler', inputs: { seed: 5, steps: 20, cfg: 7 } }, 4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } } });
const COMFY_WORKFLOW = JSON.stringify({ last_node_id: 9, nodes: [{ id: 3, type: 'KSampler' }], links: [] });
const NOVELAI_COMMENT = JSON.stringify({ prompt: 'a cat', steps: 28, sampler: 'k_euler_ancestral', seed: 42, scale: 5, uc: 'lowres' });

export async function buildProvenanceFixtures(): Promise<ProvenanceFixture[]> {
  const img = await baseImage(320, 240, 7);
  const png = await encode(img, 'png');
  const jpeg = await encode(img, 'jpeg', 92);
  const xmpDst = (term: string, attr = true) => xmpPacket(attr
    ? `Iptc4xmpExt:DigitalSourceType="${IPTC_DST}${term}"/>`
    : `><Iptc4xmpExt:DigitalSourceType>${IPTC_DST}${term}</Iptc4xmpExt:DigitalSourceType></rdf:Description>`);
  const f: ProvenanceFixture[] = [
    { name: 'PNG tEXt parameters (AUTOMATIC1111)', bytes: insertPngChunks(png, [tEXt('parameters', A1111)]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG iTXt parameters, compressed', bytes: insertPngChunks(png, [iTXt('parameters', A1111, true)]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG tEXt prompt + workflow (ComfyUI)', bytes: insertPngChunks(png, [tEXt('prompt', COMFY_PROMPT), tEXt('workflow', COMFY_WORKFLOW)]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG zTXt workflow only (ComfyUI)', bytes: insertPngChunks(png, [zTXt('workflow', COMFY_WORKFLOW)]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG NovelAI Software + Comment', bytes: insertPngChunks(png, [tEXt('Software', 'NovelAI'), tEXt('Comment', NOVELAI_COMMENT)]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG invokeai_metadata', bytes: insertPngChunks(png, [tEXt('invokeai_metadata', JSON.stringify({ positive_prompt: 'x', steps: 30, cfg_scale: 7.5, seed: 1, model: { name: 'sd-1.5' } }))]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG sd-metadata (InvokeAI 2)', bytes: insertPngChunks(png, [tEXt('sd-metadata', JSON.stringify({ model: 'stable diffusion', image: { prompt: 'x', steps: 50 } }))]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG fooocus_scheme + parameters (Fooocus)', bytes: insertPngChunks(png, [tEXt('parameters', JSON.stringify({ prompt: 'x', steps: 30, sampler: 'dpmpp_2m_sde_gpu', seed: 3, version: 'Fooocus v2.5.0' })), tEXt('fooocus_scheme', 'fooocus')]), expectFakeType: 'GeneratorParameters' },
    { name: 'JPEG EXIF UserComment JSON (Draw Things)', bytes: insertJpegSegments(jpeg, [jpegExif(buildExif({ userComment: JSON.stringify({ c: 'a red fox', uc: '', sampler: 'DPM++ 2M Karras', steps: 20, seed: 9, scale: 5 }) }))]), expectFakeType: 'GeneratorParameters' },
    { name: 'PNG Easy Diffusion keys', bytes: insertPngChunks(png, [tEXt('prompt', 'a castle'), tEXt('negative_prompt', 'ugly'), tEXt('num_inference_steps', '25')]), expectFakeType: 'GeneratorParameters' },
    { name: 'JPEG COM parameters (A1111 JPEG)', bytes: insertJpegSegments(jpeg, [jpegComment(A1111)]), expectFakeType: 'GeneratorParameters' },
    { name: 'JPEG EXIF UserComment parameters (A1111)', bytes: insertJpegSegments(jpeg, [jpegExif(buildExif({ userComment: A1111 }))]), expectFakeType: 'GeneratorParameters' },
    { name: 'JPEG EXIF Software Midjourney', bytes: insertJpegSegments(jpeg, [jpegExif(buildExif({ software: 'Midjourney v6' }))]), expectFakeType: 'GeneratorSoftwareTag' },
    { name: 'JPEG XMP CreatorTool Adobe Firefly', bytes: insertJpegSegments(jpeg, [jpegXmp(xmpPacket('xmp:CreatorTool="Adobe Firefly"/>'))]), expectFakeType: 'GeneratorSoftwareTag' },
    { name: 'PNG tEXt Software DALL-E', bytes: insertPngChunks(png, [tEXt('Software', 'DALL·E 3'.replace('·', '-'))]), expectFakeType: 'GeneratorSoftwareTag' },
    { name: 'JPEG XMP DigitalSourceType trainedAlgorithmicMedia (attribute)', bytes: insertJpegSegments(jpeg, [jpegXmp(xmpDst('trainedAlgorithmicMedia'))]), expectFakeType: 'IPTCDigitalSourceType' },
    { name: 'PNG iTXt XMP compositeWithTrainedAlgorithmicMedia (element)', bytes: insertPngChunks(png, [iTXt('XML:com.adobe.xmp', xmpDst('compositeWithTrainedAlgorithmicMedia', false))]), expectFakeType: 'IPTCDigitalSourceType' },
    { name: 'WebP XMP algorithmicMedia', bytes: await sharp(png).webp({ quality: 90 }).withXmp(xmpDst('algorithmicMedia')).toBuffer(), expectFakeType: 'IPTCDigitalSourceType' },
    { name: 'WebP EXIF Software Stable Diffusion', bytes: await sharp(png).webp({ quality: 90 }).withExif({ IFD0: { Software: 'Stable Diffusion XL' } }).toBuffer(), expectFakeType: 'GeneratorSoftwareTag' },
    { name: 'PNG Stable Diffusion DWT-DCT watermark', bytes: await encode({ ...img, data: embedDwtDctWatermark(img.data, img.width, img.height, 3, KNOWN_PAYLOADS[0].bits) }, 'png'), expectFakeType: 'InvisibleWatermark' },
    { name: 'JPEG C2PA signed, trainedAlgorithmicMedia', bytes: await signWithC2pa(jpeg, { claimGenerator: 'test-generator/1.0', digitalSourceType: `${IPTC_DST}trainedAlgorithmicMedia` }), expectFakeType: 'C2PA' },
    { name: 'PNG C2PA signed, compositeWithTrainedAlgorithmicMedia', bytes: await signWithC2pa(png, { claimGenerator: 'test-editor/2.0', action: 'c2pa.edited', digitalSourceType: `${IPTC_DST}compositeWithTrainedAlgorithmicMedia` }), expectFakeType: 'C2PA' },
    // Negative controls.
    { name: 'plain PNG', bytes: png, expectFakeType: null },
    { name: 'plain JPEG', bytes: jpeg, expectFakeType: null },
    { name: 'JPEG camera EXIF + Lightroom', bytes: insertJpegSegments(jpeg, [jpegExif(buildExif({ make: 'Canon', model: 'Canon EOS R5', software: 'Adobe Photoshop Lightroom Classic 13.0' }))]), expectFakeType: null },
    { name: 'PNG Software GIMP + free-text Comment', bytes: insertPngChunks(png, [tEXt('Software', 'GIMP 2.10.34'), tEXt('Comment', 'Steps to the beach, taken in May'), tEXt('parameters', 'exposure +0.3')]), expectFakeType: null },
    { name: 'JPEG XMP DigitalSourceType digitalCapture', bytes: insertJpegSegments(jpeg, [jpegXmp(xmpDst('digitalCapture'))]), expectFakeType: null },
    { name: 'JPEG COM Created with GIMP', bytes: insertJpegSegments(jpeg, [jpegComment('Created with GIMP')]), expectFakeType: null },
    { name: 'PNG tEXt prompt that is not a node graph', bytes: insertPngChunks(png, [tEXt('prompt', 'Enter a caption'), tEXt('workflow', '{"step": 1}')]), expectFakeType: null },
    { name: 'JPEG C2PA signed, digitalCapture', bytes: await signWithC2pa(jpeg, { claimGenerator: 'test-camera/1.0', digitalSourceType: `${IPTC_DST}digitalCapture` }), expectFakeType: null },
  ];
  return f;
}

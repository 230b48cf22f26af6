/**
 * XMP packet reading without an XML parser: the fields provenance needs are looked up by
 * qualified name in both RDF forms (attribute `ns:Name="v"` and element `<ns:Name>v</ns:Name>`,
 * optionally wrapped in rdf:Alt/Seq/Bag). Input size is capped so hostile packets stay cheap.
 */

const MAX_XMP_CHARS = 2 * 1024 * 1024;

export interface XmpFields {
  digitalSourceTypes: string[];
  creatorTools: string[];
  softwareAgents: string[];
  /** Free-text fields that generators are known to fill (credit line, description). */
  credits: string[];
  descriptions: string[];
  /** True when the packet mentions a C2PA manifest (dcterms:provenance or c2pa namespace). */
  mentionsC2pa: boolean;
}

function unescapeXml(value: string): string {
  return value
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-fA-F]{1,6});/g, (_, h) => safeCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]{1,7});/g, (_, d) => safeCodePoint(parseInt(d, 10)))
    .replace(/&amp;/g, '&');
}

function safeCodePoint(cp: number): string {
  return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
}

/** All values of a property given by local name (any prefix), in attribute or element form. */
export function xmpValues(xmp: string, localName: string): string[] {
  const text = xmp.length > MAX_XMP_CHARS ? xmp.slice(0, MAX_XMP_CHARS) : xmp;
  const out: string[] = [];
  const attr = new RegExp(`[\\s<][A-Za-z0-9_-]+:${localName}\\s*=\\s*("([^"]{0,4096})"|'([^']{0,4096})')`, 'g');
  for (const m of text.matchAll(attr)) out.push(unescapeXml(m[2] ?? m[3] ?? ''));
  // Element form, found with indexOf so a packet of many unclosed tags stays linear.
  const open = new RegExp(`<([A-Za-z0-9_-]+:${localName})(\\s[^>]{0,2048})?>`, 'g');
  let m: RegExpExecArray | null;
  let found = 0;
  while ((m = open.exec(text)) !== null && found++ < 256) {
    if ((m[2] ?? '').trimEnd().endsWith('/')) continue; // self-closing: handled below
    const close = text.indexOf(`</${m[1]}>`, open.lastIndex);
    if (close < 0) break;
    const inner = text.slice(open.lastIndex, Math.min(close, open.lastIndex + 65536));
    open.lastIndex = close;
    const resource = /rdf:resource\s*=\s*"([^"]{0,4096})"/.exec(m[2] ?? '');
    if (resource) { out.push(unescapeXml(resource[1])); continue; }
    const items = [...inner.matchAll(/<rdf:li(?:\s[^>]{0,1024})?>([^<]{0,65536})<\/rdf:li>/g)].map((li) => li[1]);
    for (const v of items.length > 0 ? items : [inner]) {
      const clean = unescapeXml(v.replace(/<[^>]{0,1024}>/g, '')).trim();
      if (clean) out.push(clean);
    }
  }
  // Self-closing element with rdf:resource, e.g. <Iptc4xmpExt:DigitalSourceType rdf:resource="…"/>
  const selfClosing = new RegExp(`<[A-Za-z0-9_-]+:${localName}\\s[^>]{0,2048}?rdf:resource\\s*=\\s*"([^"]{0,4096})"[^>]{0,1024}/>`, 'g');
  for (const m of text.matchAll(selfClosing)) out.push(unescapeXml(m[1]));
  return [...new Set(out.map((v) => v.trim()).filter(Boolean))];
}

export function readXmp(packets: string[]): XmpFields {
  const fields: XmpFields = { digitalSourceTypes: [], creatorTools: [], softwareAgents: [], credits: [], descriptions: [], mentionsC2pa: false };
  for (const packet of packets) {
    fields.digitalSourceTypes.push(...xmpValues(packet, 'DigitalSourceType'), ...xmpValues(packet, 'DigitalSourceFileType'));
    fields.creatorTools.push(...xmpValues(packet, 'CreatorTool'));
    fields.softwareAgents.push(...xmpValues(packet, 'softwareAgent'));
    fields.credits.push(...xmpValues(packet, 'Credit'));
    fields.descriptions.push(...xmpValues(packet, 'description'));
    if (/c2pa|dcterms:provenance/i.test(packet.slice(0, MAX_XMP_CHARS))) fields.mentionsC2pa = true;
  }
  for (const key of ['digitalSourceTypes', 'creatorTools', 'softwareAgents', 'credits', 'descriptions'] as const) {
    fields[key] = [...new Set(fields[key])];
  }
  return fields;
}

import { writeFileSync } from 'node:fs';
import { buildOpenApiDocument } from './document.js';

/** `npm run openapi`: writes openapi.json at the repository root. */
const target = process.argv[2] ?? 'openapi.json';
writeFileSync(target, `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
console.log(`wrote ${target}`);

// `npm run openapi`: regenerates openapi.yaml from the route schemas, and the TypeScript
// client types (src/api/openapi-types.ts) from openapi.yaml. A test fails when either drifts.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openapiClientTypes, openapiYaml } from '../src/api/openapi.ts';

const root = path.resolve(import.meta.dirname, '..');
const yaml = await openapiYaml();
await writeFile(path.join(root, 'openapi.yaml'), yaml);
await writeFile(path.join(root, 'src', 'api', 'openapi-types.ts'), await openapiClientTypes(yaml));
process.exit(0);

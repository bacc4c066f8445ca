// `npm run openapi`: regenerates openapi.yaml from the route schemas (a test fails when it drifts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openapiYaml } from '../src/api/openapi.ts';

await writeFile(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), await openapiYaml());
process.exit(0);

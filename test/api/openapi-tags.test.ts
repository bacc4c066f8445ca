// The OpenAPI document a new user reads in Swagger (#25, item 14): routes grouped by tag, not
// all under "default", and examples for the error shape and a proof request.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';

type Operation = { tags?: string[]; requestBody?: { content: Record<string, { example?: unknown }> }; responses: Record<string, unknown> };

describe('OpenAPI document', () => {
  it('every route has one tag of its group, the tags are described, and there are examples', async () => {
    const config: Config = { ...loadConfig({}), dbDir: 'memory://', queuePrefix: `test-${randomUUID()}` };
    const app = await buildApp({ config, background: false });
    await app.ready();
    // Served as JSON at the documentation route, as Swagger UI reads it.
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      tags: { name: string; description: string }[];
      paths: Record<string, Record<string, Operation>>;
    };
    await app.close();
    expect(doc.tags.map((t) => t.name)).toEqual(['health', 'models', 'artifacts', 'proofs', 'verify', 'chain', 'ceremony', 'page']);
    expect(doc.tags.every((t) => t.description.length > 0)).toBe(true);
    const tagOf = (p: string, m: string) => doc.paths[p][m].tags;
    for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) expect(tagOf(p, m), `${m} ${p}`).toHaveLength(1);
    expect(tagOf('/healthz', 'get')).toEqual(['health']);
    expect(tagOf('/v1/models/{id}/proofs', 'post')).toEqual(['proofs']);
    expect(tagOf('/v1/verify', 'post')).toEqual(['verify']);
    expect(tagOf('/v1/models/{id}/ceremony/contributions', 'post')).toEqual(['ceremony']);
    expect(tagOf('/v1/models/{id}/artifacts/{kind}', 'get')).toEqual(['artifacts']);
    const proofRequest = doc.paths['/v1/models/{id}/proofs'].post.requestBody!.content['application/json'].example;
    expect(proofRequest).toMatchObject({ input: { age: 40, credit_score: 674 }, nonce: '42' });
    expect(JSON.stringify(doc.paths['/v1/verify'].post.responses['400'])).toContain("body must have required property 'input'");
  });
});

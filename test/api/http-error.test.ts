import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/api/http-error.ts';

// The validation branch of the one error handler, through a real Fastify with the app's
// Ajv options, on a route shaped like POST /v1/models/:id/proofs.
describe('errorHandler: request validation', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } } });
    app.setErrorHandler(errorHandler);
    app.post(
      '/proofs/:id',
      {
        schema: {
          params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{4}$' } }, required: ['id'] },
          body: {
            type: 'object',
            required: ['input'],
            additionalProperties: false,
            properties: {
              input: { type: 'object' },
              options: { type: 'object', properties: { nonce: { type: 'string', pattern: '^[0-9]+$' } } },
            },
          },
        },
      },
      async () => ({ ok: true }),
    );
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  const post = async (url: string, payload: unknown) => {
    const r = await app.inject({ method: 'POST', url, payload: payload as object });
    return { status: r.statusCode, body: r.json() };
  };

  it('a missing property: the message is about the body, the field names the property', async () => {
    expect(await post('/proofs/abcd', {})).toEqual({
      status: 400,
      body: { code: 'VALIDATION', message: "body must have required property 'input'", field: 'body.input' },
    });
  });

  it('an extra property is named in the message and the field', async () => {
    expect(await post('/proofs/abcd', { input: {}, colour: 'red' })).toEqual({
      status: 400,
      body: { code: 'VALIDATION', message: "body must NOT have additional properties: 'colour'", field: 'body.colour' },
    });
  });

  it('a nested bad value and a bad path parameter say where they are', async () => {
    const nested = await post('/proofs/abcd', { input: {}, options: { nonce: 'x' } });
    expect(nested.status).toBe(400);
    expect(nested.body).toMatchObject({ code: 'VALIDATION', field: 'body.options.nonce' });
    expect(nested.body.message).toMatch(/^body\.options\.nonce must match pattern/);
    const param = await post('/proofs/zzzz', { input: {} });
    expect(param.body).toMatchObject({ code: 'VALIDATION', field: 'params.id' });
    expect(param.body.message).toMatch(/^params\.id must match pattern/);
    expect(await post('/proofs/abcd', { input: {} })).toEqual({ status: 200, body: { ok: true } });
  });
});

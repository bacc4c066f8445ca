import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isZkinferError, type ErrorCode } from '../core/errors.ts';
import { type Dependency, infrastructureOf } from '../core/infra-errors.ts';
import { CursorError } from '../store/rows.ts';

/** An error with its HTTP status, a stable code and the bad field. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  MODEL_UNSUPPORTED_OP: 422,
  MODEL_UNSUPPORTED_GRAPH: 422,
  MODEL_TOO_LARGE: 422,
  FIELD_OVERFLOW: 422,
  ARTIFACT_CORRUPT: 500,
  CIRCUIT_COMPILE: 500,
  CONTRACT_COMPILE: 500,
  CHAIN: 502,
};

const UNAVAILABLE: Record<Dependency, string> = {
  disk: 'the artifact store',
  database: 'a backend (job queue or database)',
  redis: 'a backend (job queue or database)',
  'child process': 'a backend',
};

/** The part of the request each of Fastify's own request errors is about. */
const FASTIFY_FIELD: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'content-type',
  FST_ERR_CTP_INVALID_TYPE: 'content-type',
  FST_ERR_CTP_EMPTY_TYPE: 'content-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'content-length',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'content-type',
  FST_REQ_FILE_TOO_LARGE: 'body',
  FST_PARTS_LIMIT: 'body',
  FST_FILES_LIMIT: 'body',
  FST_FIELDS_LIMIT: 'body',
};

export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
}

/** One handler for every error: 4xx say what was wrong and where; 5xx hide internals. */
export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  let status = 500;
  let body: ErrorBody = { code: 'INTERNAL', message: 'internal error' };
  const fe = err as FastifyError & { validation?: { instancePath?: string; params?: Record<string, unknown>; message?: string }[] };
  if (err instanceof CursorError) {
    status = 400;
    body = { code: 'VALIDATION', message: err.message, field: 'querystring.cursor' };
  } else if (err instanceof HttpError) {
    status = err.statusCode;
    body = { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
  } else if (isZkinferError(err)) {
    status = STATUS[err.code] ?? 400;
    body = status >= 500 ? body : { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
  } else if (fe.validation) {
    // Of a union's branches, the error that got deepest into the body names the problem
    // (not "must have required property 'bundle'" for a bad public signal).
    const v = fe.validation.reduce((a, b) => ((b.instancePath?.length ?? 0) > (a.instancePath?.length ?? 0) ? b : a), fe.validation[0]);
    const extra = v?.params?.additionalProperty ?? v?.params?.missingProperty;
    // The message is about the object that failed (`body must have required property
    // 'input'`); the field names the property itself (`body.input`).
    const where = [fe.validationContext, v?.instancePath?.slice(1).replaceAll('/', '.')].filter(Boolean).join('.');
    const field = [where, extra].filter(Boolean).join('.');
    const named = v?.params?.additionalProperty !== undefined ? `: '${String(v.params.additionalProperty)}'` : '';
    status = 400;
    body = { code: 'VALIDATION', message: `${where || 'request'} ${v?.message ?? 'is invalid'}${named}`, field: field || undefined };
  } else if (infrastructureOf(err)) {
    // Redis (queue, rate limits), the database or the artifacts disk is down: say so at
    // once, do not hang; the client retries after Retry-After (with its Idempotency-Key).
    const dep = infrastructureOf(err)!;
    status = 503;
    body = {
      code: 'BACKEND_UNAVAILABLE',
      message: `${UNAVAILABLE[dep]} is unavailable; try again later`,
    };
  } else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    status = fe.statusCode;
    const field = fe.code ? FASTIFY_FIELD[fe.code] : undefined;
    body = { code: fe.code ?? 'BAD_REQUEST', message: fe.message, ...(field ? { field } : {}) };
  }
  // An outage answers every request with a 503: one warning line each, no stack traces.
  if (status === 503 && body.code === 'BACKEND_UNAVAILABLE') req.log.warn({ code: (err as NodeJS.ErrnoException).code }, `backend unavailable: ${err.message}`);
  else if (status >= 500) req.log.error({ err }, 'request failed');
  if (status === 503) reply.header('retry-after', '5');
  reply.status(status).send(body);
}

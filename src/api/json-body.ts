import type { FastifyInstance } from 'fastify';
import { HttpError } from './http-error.ts';

/** Deepest JSON nesting any request body may have (a proof bundle needs 5, an input at most 20). */
export const MAX_JSON_DEPTH = 64;

/**
 * True when the JSON text nests arrays and objects deeper than `max`. A linear scan of the
 * text before it is parsed: a 100,000-deep body is refused without building it (and without
 * anything recursing over it later: JSON.stringify overflows the stack on such a value).
 */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

/** The JSON body parser: Fastify's own (prototype poisoning refused), after the depth check. */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonTooDeep(body as string, MAX_JSON_DEPTH)) {
      done(new HttpError(400, 'JSON_TOO_DEEP', `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, 'body'), undefined);
      return;
    }
    parse(req, body as string, done);
  });
}

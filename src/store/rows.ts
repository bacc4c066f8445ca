/** Helpers every record store shares: timestamps and JSON parameters, and keyset page cursors. */

export const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
export const json = (v: unknown): string => JSON.stringify(v);

export interface Page<T> {
  items: T[];
  /** Opaque: pass it back as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** Keyset cursors: the sort key of the last row of a page, opaque to callers. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export class CursorError extends Error {}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TENANT = /^[A-Za-z0-9_-]{1,200}$/;
const MODEL_ID = /^[0-9a-f]{64}$/;
/** What each part of a cursor must look like before the database sees it (a bad one is a 400, not a cast error). */
export const CURSOR_PARTS = {
  /** (created_at, id) of a proof. */
  proof: [(v: string) => ISO_TIME.test(v) && Number.isFinite(Date.parse(v)), (v: string) => UUID.test(v)],
  /** (tenant, id) of a model. */
  model: [(v: string) => TENANT.test(v), (v: string) => MODEL_ID.test(v)],
} as const;

export function decodeCursor(cursor: string, parts: readonly ((v: string) => boolean)[]): string[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === parts.length && v.every((x, i) => typeof x === 'string' && parts[i](x))) return v;
  } catch {
    // fall through
  }
  throw new CursorError('cursor is not one this service handed out');
}

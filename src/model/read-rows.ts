import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { ZkinferError } from '../core/errors.ts';
import { type InputLayout, parseInput, parseInputRows } from './parse-input.ts';

/**
 * Rows of real inputs from a file, for calibration and test sets: CSV with a header
 * (columns named after the model's inputs; extra columns such as a label are kept aside
 * by name), or JSON (`{"input_data": [[...], ...]}`, an array of rows, or an array of
 * named-feature objects). Errors name the row and the column, never a value.
 */
export async function readInputRows(
  file: string,
  layout: InputLayout,
  opts: { keep?: string[] } = {},
): Promise<{ rows: Float64Array[]; extra: Record<string, string>[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'calibration');
  }
  if (/\.csv$/i.test(file) || !/^\s*[[{]/.test(text)) return csvRows(text, layout, opts.keep ?? []);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `${file} is neither CSV nor valid JSON: ${(e as Error).message}`, 'calibration');
  }
  if (Array.isArray(doc) && doc.length > 0 && (Array.isArray(doc[0]) || (doc[0] && typeof doc[0] === 'object'))) {
    return { rows: doc.map((r, i) => withRow(i, () => parseInput(r, layout))), extra: doc.map(() => ({})) };
  }
  const rows = parseInputRows(doc, layout);
  return { rows, extra: rows.map(() => ({})) };
}

function withRow<T>(i: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ZkinferError) throw new ZkinferError(e.code, `row ${i + 1}: ${e.message}`, e.field);
    throw e;
  }
}

function csvRows(text: string, layout: InputLayout, keep: string[]): { rows: Float64Array[]; extra: Record<string, string>[] } {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `not a CSV file with a header: ${(e as Error).message}`, 'calibration');
  }
  // A categorical input's cell is its category (a string); an empty cell is a missing value.
  const categorical = new Set(layout.inputs.filter((i) => i.categories).map((i) => i.name));
  const rows = records.map((rec, i) =>
    withRow(i, () => {
      const obj: Record<string, number | string | null> = {};
      for (const [k, v] of Object.entries(rec)) {
        if (keep.includes(k)) continue;
        if (categorical.has(k)) {
          obj[k] = v;
          continue;
        }
        if (v === '') {
          obj[k] = null;
          continue;
        }
        const n = Number(v);
        if (!Number.isFinite(n)) throw new ZkinferError('INPUT_VALUE', `column "${k}" is not a finite number`, k);
        obj[k] = n;
      }
      return parseInput(obj, layout);
    }),
  );
  const extra = records.map((rec) => Object.fromEntries(keep.filter((k) => k in rec).map((k) => [k, rec[k]])));
  return { rows, extra };
}

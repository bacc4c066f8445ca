import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { ZkinferError } from '../core/errors.ts';
import { type InputLayout, parseInput, parseInputRows } from './parse-input.ts';

/** Options of a CSV or JSON rows reader: a label column set aside, and how to tell the reader to name one. */
export interface RowsOptions {
  /** A column (CSV) or key (named JSON rows) that is not an input: its cells are returned in `labels`. */
  labelColumn?: string;
  /** How the caller names a label column, for the message refusing an unknown column (e.g. `--label-column`). */
  labelHint?: string;
  /** The error field for file-level errors (`calibration`, `test-set`). */
  field?: string;
}

/** Rows read from a file: the flat input vectors, each as given (named features), and the label cells when a label column is named. */
export interface InputRows {
  rows: Float64Array[];
  given: unknown[];
  labels: unknown[] | null;
}

function withRow<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ZkinferError) throw new ZkinferError(e.code, `${where}: ${e.message}`, e.field);
    throw e;
  }
}

/**
 * A CSV table of inputs: a header naming the model's inputs (`name`, or `name[i]` for each
 * element of a vector input or categorical column) and optionally the label column; one
 * row per example. A categorical cell is its category, an empty cell a missing value.
 * Errors name the line and the column, never a value.
 */
export function csvInputRows(text: string, layout: InputLayout, opts: RowsOptions = {}): InputRows {
  const field = opts.field ?? 'calibration';
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `not a CSV file with a header: ${(e as Error).message}`, field);
  }
  if (records.length === 0) throw new ZkinferError('INPUT_SHAPE', 'the CSV file has no header line', field);
  const header = records[0];
  const { labelColumn } = opts;
  const labelAt = labelColumn === undefined ? -1 : header.indexOf(labelColumn);
  if (labelColumn !== undefined && labelAt < 0)
    throw new ZkinferError('INPUT_SHAPE', `the CSV file has no column "${labelColumn}" (columns: ${header.join(', ')})`, 'labelColumn');
  // Where each given value is read from: one column per feature, or per categorical column.
  const at: number[] = [];
  const categorical: boolean[] = [];
  for (const inp of layout.inputs) {
    const n = inp.categories ? inp.categories.length : inp.size;
    for (let i = 0; i < n; i++) {
      const name = n === 1 ? inp.name : `${inp.name}[${i}]`;
      const col = header.indexOf(name);
      if (col < 0)
        throw new ZkinferError(
          'INPUT_SHAPE',
          `the CSV file has no column "${name}" (the model's inputs: ${layout.inputs.map((x) => x.name).join(', ')}; ` +
            'a vector input is one column per element, name[0], name[1], ...)',
          name,
        );
      at.push(col);
      categorical.push(Boolean(inp.categories?.[i]));
    }
  }
  const used = new Set([...at, labelAt]);
  const extra = header.filter((_, c) => !used.has(c));
  if (extra.length) {
    const hint = labelColumn ? ` and the label "${labelColumn}"` : opts.labelHint ? ` (name a label column with ${opts.labelHint})` : '';
    throw new ZkinferError('INPUT_SHAPE', `unknown column "${extra[0]}": the columns are the model's inputs${hint}`, extra[0]);
  }
  const rows: Float64Array[] = [];
  const given: unknown[] = [];
  const labels: unknown[] = [];
  records.slice(1).forEach((f, r) => {
    const where = `line ${r + 2}`;
    if (f.length !== header.length) throw new ZkinferError('INPUT_SHAPE', `${where} has ${f.length} fields, the header ${header.length}`, field);
    const values = at.map((c, k) => {
      if (categorical[k]) return f[c];
      if (f[c] === '') return null;
      const v = Number(f[c]);
      if (!Number.isFinite(v)) throw new ZkinferError('INPUT_VALUE', `${where}, column "${header[c]}": not a finite number`, header[c]);
      return v;
    });
    // By input name, so that an error names the column.
    const named: Record<string, unknown> = {};
    let k = 0;
    for (const inp of layout.inputs) {
      const n = inp.categories ? inp.categories.length : inp.size;
      named[inp.name] = n === 1 ? values[k] : values.slice(k, k + n);
      k += n;
    }
    rows.push(withRow(where, () => parseInput(named, layout)));
    given.push(named);
    if (labelAt >= 0) labels.push(f[labelAt]);
  });
  return { rows, given, labels: labelAt >= 0 ? labels : null };
}

/**
 * JSON rows: an array of named-feature objects (the label as one more key) or of flat
 * arrays, or `{"input_data": [...]}`.
 */
export function jsonInputRows(doc: unknown, layout: InputLayout, opts: RowsOptions = {}): InputRows {
  const { labelColumn } = opts;
  const list =
    Array.isArray(doc) && doc.length > 0 && (Array.isArray(doc[0]) || (doc[0] && typeof doc[0] === 'object'))
      ? doc
      : doc && typeof doc === 'object' && Array.isArray((doc as { input_data?: unknown }).input_data)
        ? (doc as { input_data: unknown[] }).input_data
        : null;
  if (!list || list.length === 0) {
    if (labelColumn !== undefined)
      throw new ZkinferError('INPUT_SHAPE', 'JSON rows are a non-empty array of rows, or {"input_data": [[...], ...]}', opts.field ?? 'calibration');
    const rows = parseInputRows(doc, layout);
    return { rows, given: rows.map((r) => Array.from(r)), labels: null };
  }
  const rows: Float64Array[] = [];
  const given: unknown[] = [];
  const labels: unknown[] = [];
  list.forEach((row, i) => {
    let features = row;
    if (labelColumn !== undefined) {
      if (!row || typeof row !== 'object' || Array.isArray(row) || !(labelColumn in row))
        throw new ZkinferError('INPUT_SHAPE', `row ${i + 1}: no label "${labelColumn}" (labels need rows of named features)`, 'labelColumn');
      const { [labelColumn]: label, ...rest } = row as Record<string, unknown>;
      labels.push(label);
      features = rest;
    }
    rows.push(withRow(`row ${i + 1}`, () => parseInput(features, layout)));
    given.push(features);
  });
  return { rows, given, labels: labelColumn !== undefined ? labels : null };
}

/**
 * Rows of real inputs from a file, for calibration and test sets: CSV with a header
 * (`csvInputRows`), or JSON (`{"input_data": [[...], ...]}`, an array of rows, or an array
 * of named-feature objects). A file named `.csv`, or not starting like JSON, is CSV.
 */
export async function readInputRows(file: string, layout: InputLayout, opts: RowsOptions = {}): Promise<InputRows> {
  const field = opts.field ?? 'calibration';
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
  if (/\.csv$/i.test(file) || !/^\s*[[{]/.test(text)) return csvInputRows(text, layout, opts);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `${file} is neither CSV nor valid JSON: ${(e as Error).message}`, field);
  }
  return jsonInputRows(doc, layout, opts);
}

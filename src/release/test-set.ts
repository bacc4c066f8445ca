import { readFile } from 'node:fs/promises';
import { ZkinferError } from '../core/errors.ts';
import { type InputLayout, parseInput } from '../model/parse-input.ts';

/** A release's test set: one input vector per row, and the label of each when a label column is named. */
export interface TestSet {
  rows: Float64Array[];
  labels: number[] | null;
  /** Row i's features as given (named), for proving with the CLI's own input format. */
  given: unknown[];
}

function labelValue(v: unknown, where: string): number {
  if (v === true || v === 'true') return 1;
  if (v === false || v === 'false') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0)
    throw new ZkinferError('INPUT_VALUE', `${where}: a label is a class index (0/1 for a yes/no model), got ${JSON.stringify(v)}`, 'labels');
  return n;
}

/** Splits one CSV line (commas, optional double quotes; enough for numeric tables). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/**
 * A CSV test set: a header naming the model's inputs (`name`, or `name[i]` for each
 * element of a vector input) and optionally the label column; one row per example.
 */
function parseCsv(text: string, ir: InputLayout, labelColumn?: string): TestSet {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new ZkinferError('INPUT_SHAPE', 'the test set needs a header line and at least one row', 'test-set');
  const header = csvFields(lines[0]);
  const labelAt = labelColumn === undefined ? -1 : header.indexOf(labelColumn);
  if (labelColumn !== undefined && labelAt < 0)
    throw new ZkinferError('INPUT_SHAPE', `the test set has no column "${labelColumn}" (columns: ${header.join(', ')})`, 'labels');
  // Where each given value is read from: one column per feature, or per categorical column.
  const at: number[] = [];
  const categorical: boolean[] = [];
  for (const inp of ir.inputs) {
    const n = inp.categories ? inp.categories.length : inp.size;
    for (let i = 0; i < n; i++) {
      const names = n === 1 ? [inp.name] : [`${inp.name}[${i}]`];
      const col = header.findIndex((h) => names.includes(h));
      if (col < 0)
        throw new ZkinferError(
          'INPUT_SHAPE',
          `the test set has no column "${names[0]}" (the model's inputs: ${ir.inputs.map((x) => x.name).join(', ')})`,
          names[0],
        );
      at.push(col);
      categorical.push(Boolean(inp.categories?.[i]));
    }
  }
  const used = new Set([...at, labelAt]);
  const extra = header.filter((_, c) => !used.has(c));
  if (extra.length)
    throw new ZkinferError(
      'INPUT_SHAPE',
      `unknown column "${extra[0]}": the columns are the model's ` +
        `inputs${labelColumn ? ` and the label "${labelColumn}"` : ' (name the label column with --labels)'}`,
      extra[0],
    );
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  const given: unknown[] = [];
  lines.slice(1).forEach((line, r) => {
    const f = csvFields(line);
    if (f.length !== header.length)
      throw new ZkinferError('INPUT_SHAPE', `test set line ${r + 2} has ${f.length} fields, the header ${header.length}`, 'test-set');
    // A categorical column is its category; an empty cell is a missing value (imputed or refused by parseInput).
    const values = at.map((c, k) => {
      if (categorical[k]) return f[c];
      if (f[c] === '') return null;
      const v = Number(f[c]);
      if (!Number.isFinite(v)) throw new ZkinferError('INPUT_VALUE', `test set line ${r + 2}, column "${header[c]}": not a number`, header[c]);
      return v;
    });
    // By input name, so that an error names the column.
    const named: Record<string, unknown> = {};
    let k = 0;
    for (const inp of ir.inputs) {
      const n = inp.categories ? inp.categories.length : inp.size;
      named[inp.name] = n === 1 ? values[k] : values.slice(k, k + n);
      k += n;
    }
    let x: Float64Array;
    try {
      x = parseInput(named, ir);
    } catch (e) {
      if (e instanceof ZkinferError) throw new ZkinferError(e.code, `test set line ${r + 2}: ${e.message}`, e.field);
      throw e;
    }
    rows.push(x);
    given.push(named);
    if (labelAt >= 0) labels.push(labelValue(f[labelAt], `test set line ${r + 2}`));
  });
  return { rows, labels: labelAt >= 0 ? labels : null, given };
}

/** JSON rows: an array of named-feature objects (the label as one more key) or of flat arrays, or `{"input_data": [...]}`. */
function parseJsonRows(doc: unknown, ir: InputLayout, labelColumn?: string): TestSet {
  const list = Array.isArray(doc)
    ? doc
    : doc && typeof doc === 'object' && Array.isArray((doc as { input_data?: unknown }).input_data)
      ? (doc as { input_data: unknown[] }).input_data
      : null;
  if (!list || list.length === 0)
    throw new ZkinferError('INPUT_SHAPE', 'a JSON test set is a non-empty array of rows, or {"input_data": [[...], ...]}', 'test-set');
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  const given: unknown[] = [];
  list.forEach((row, i) => {
    let features = row;
    if (labelColumn !== undefined) {
      if (!row || typeof row !== 'object' || Array.isArray(row) || !(labelColumn in row)) {
        throw new ZkinferError('INPUT_SHAPE', `test set row ${i}: no label "${labelColumn}" (labels need rows of named features)`, 'labels');
      }
      const { [labelColumn]: label, ...rest } = row as Record<string, unknown>;
      labels.push(labelValue(label, `test set row ${i}`));
      features = rest;
    }
    try {
      rows.push(parseInput(features, ir));
    } catch (e) {
      if (e instanceof ZkinferError) throw new ZkinferError(e.code, `test set row ${i}: ${e.message}`, e.field);
      throw e;
    }
    given.push(features);
  });
  return { rows, labels: labelColumn !== undefined ? labels : null, given };
}

/** Reads a test set file: `.csv` by its header, anything else as JSON rows. */
export async function readTestSet(file: string, ir: InputLayout, labelColumn?: string): Promise<TestSet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'test-set');
  }
  if (file.toLowerCase().endsWith('.csv')) return parseCsv(text, ir, labelColumn);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `${file} is neither CSV (by its name) nor valid JSON: ${(e as Error).message}`, 'test-set');
  }
  return parseJsonRows(doc, ir, labelColumn);
}

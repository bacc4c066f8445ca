import { ZkinferError } from '../core/errors.ts';
import type { ModelIR } from './ir.ts';

/**
 * What parsing needs of a model: its inputs' names and sizes (flat features) in order,
 * and for inputs with categorical or imputable columns, their categories and missing-value
 * rules (`IrInput`).
 */
export type InputLayout = { inputs: Pick<ModelIR['inputs'][number], 'name' | 'size' | 'categories' | 'missing'>[]; inputSize: number };

/** A value as given: a number, a category (string), or null for a missing value. */
type Given = number | string | null;

/** Columns the caller gives for an input: one per categorical column (its category), else one per feature. */
function givenWidth(inp: InputLayout['inputs'][number]): number {
  return inp.categories ? inp.categories.length : inp.size;
}

/**
 * Arrays an input value may be nested in (a feature tensor's rank, plus the batch row
 * and `input_data`'s list of rows). Deeper input is refused without recursing, so a
 * 100,000-deep array is an INPUT_SHAPE error rather than a stack overflow.
 */
export const MAX_INPUT_DEPTH = 16;

/** Rows `parseInputRows` reads at most (a report's inputs, not a proof's). */
export const MAX_INPUT_ROWS = 100_000;

/** A short, printable form of a name the caller chose (a JSON key), for messages. */
function shown(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}...` : name;
}

/**
 * The numbers in `v` (a number or arrays nested at most MAX_INPUT_DEPTH deep), in order,
 * refusing more than `max` of them before collecting them. Iterative: the depth of the
 * input never becomes the depth of the stack. Errors name the field and position,
 * never the value found there.
 */
function flatList(v: unknown, field: string, max: number): Given[] {
  const out: Given[] = [];
  const push = (e: unknown) => {
    if (out.length >= max) throw new ZkinferError('INPUT_SHAPE', `${field} has more than ${max} value(s); expected ${max}`, field);
    // Strings (categories) and null (missing) are judged per column by `encode`.
    if (typeof e === 'string' || e === null) {
      out.push(e);
      return;
    }
    if (typeof e !== 'number' || !Number.isFinite(e)) {
      const at = Array.isArray(v) ? `${field}[${out.length}]` : field;
      const what = typeof e === 'number' ? 'a non-finite number' : Array.isArray(e) ? 'an array' : `a ${typeof e}`;
      throw new ZkinferError('INPUT_VALUE', `${at} must be a finite number, got ${what}`, at);
    }
    out.push(e);
  };
  if (!Array.isArray(v)) {
    push(v);
    return out;
  }
  const stack: { a: unknown[]; i: number }[] = [{ a: v, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.i >= top.a.length) {
      stack.pop();
      continue;
    }
    const e = top.a[top.i++];
    if (Array.isArray(e)) {
      if (stack.length >= MAX_INPUT_DEPTH) {
        throw new ZkinferError('INPUT_SHAPE', `${field} is nested more than ${MAX_INPUT_DEPTH} arrays deep`, field);
      }
      stack.push({ a: e, i: 0 });
    } else push(e);
  }
  return out;
}

/**
 * Reads one input vector for the model from JSON: `{"input_data": [[...]]}` (one row,
 * flattened, as the EZKL fixtures carry it), a flat array, or named features keyed by
 * the graph input names (each a number or an array of the input's size). Shape errors
 * are INPUT_SHAPE, non-numbers INPUT_VALUE; no message repeats a value.
 */
export function parseInput(json: unknown, ir: InputLayout): Float64Array {
  const total = ir.inputs.reduce((a, i) => a + givenWidth(i), 0);
  const out: number[] = [];
  if (Array.isArray(json) || (json && typeof json === 'object' && 'input_data' in json)) {
    let values: Given[];
    let field = 'input';
    if (Array.isArray(json)) values = flatList(json, 'input', total);
    else {
      const rows = (json as { input_data: unknown }).input_data;
      if (!Array.isArray(rows) || rows.length === 0) throw new ZkinferError('INPUT_SHAPE', 'input_data must be a non-empty array of rows', 'input_data');
      if (rows.length > 1) throw new ZkinferError('INPUT_SHAPE', `input_data has ${rows.length} rows; a proof covers one inference (batch 1)`, 'input_data');
      field = 'input_data[0]';
      values = flatList(rows[0], field, total);
    }
    if (values.length !== total) throw new ZkinferError('INPUT_SHAPE', `expected ${total} input values, got ${values.length}`, 'input');
    let k = 0;
    for (const inp of ir.inputs) {
      const n = givenWidth(inp);
      encode(inp, values.slice(k, k + n), (j) => `${field}[${k + j}]`, out);
      k += n;
    }
  } else if (json && typeof json === 'object') {
    const obj = json as Record<string, unknown>;
    const names = new Set(ir.inputs.map((i) => i.name));
    for (const k of Object.keys(obj)) {
      if (!names.has(k)) throw new ZkinferError('INPUT_SHAPE', `unknown feature "${shown(k)}"; expected ${[...names].join(', ')}`, shown(k));
    }
    for (const inp of ir.inputs) {
      if (!Object.hasOwn(obj, inp.name) || obj[inp.name] === undefined) throw new ZkinferError('INPUT_SHAPE', `missing feature "${inp.name}"`, inp.name);
      const n = givenWidth(inp);
      const v = flatList(obj[inp.name], inp.name, n);
      if (v.length !== n) throw new ZkinferError('INPUT_SHAPE', `feature "${inp.name}" needs ${n} value(s), got ${v.length}`, inp.name);
      encode(inp, v, (j) => (n === 1 ? inp.name : `${inp.name}[${j}]`), out);
    }
  } else {
    throw new ZkinferError('INPUT_SHAPE', 'input must be {"input_data": [[...]]}, an array of numbers, or an object of named features', 'input');
  }
  if (out.length !== ir.inputSize) {
    throw new ZkinferError('INPUT_SHAPE', `expected ${ir.inputSize} input values, got ${out.length}`, 'input');
  }
  return Float64Array.from(out);
}

/**
 * One input's given values as flat features: a category becomes its one-hot vector (in
 * the order of the column's categories), a missing value (null) of an imputed column its
 * imputed value. An unknown category or a missing value the model does not impute is an
 * INPUT_VALUE error naming the column, never the value.
 */
function encode(inp: InputLayout['inputs'][number], values: Given[], at: (j: number) => string, out: number[]): void {
  values.forEach((v, j) => {
    const cats = inp.categories?.[j];
    if (cats) {
      // A category is matched exactly; an integer category may also be given as a number
      // equal to it (36, or "36.0" as a CSV writes a float column).
      const key = typeof v === 'string' ? v : typeof v === 'number' && Number.isInteger(v) ? String(v) : null;
      let idx = key === null ? -1 : cats.indexOf(key);
      if (idx < 0 && typeof v === 'string' && v.trim() !== '' && Number.isInteger(Number(v))) idx = cats.indexOf(String(Number(v)));
      if (v === null) throw new ZkinferError('INPUT_VALUE', `${at(j)} is missing (null); it is a categorical column, which the model does not impute`, at(j));
      if (idx < 0)
        throw new ZkinferError(
          'INPUT_VALUE',
          `${at(j)} is not one of the ${cats.length} categories of this column (listed in the model descriptor); an unknown category is refused`,
          at(j),
        );
      for (let c = 0; c < cats.length; c++) out.push(c === idx ? 1 : 0);
      return;
    }
    if (v === null) {
      const m = inp.missing?.[j];
      if (m === null || m === undefined) throw new ZkinferError('INPUT_VALUE', `${at(j)} is missing (null), and the model imputes no value for it`, at(j));
      out.push(m);
      return;
    }
    if (typeof v !== 'number') throw new ZkinferError('INPUT_VALUE', `${at(j)} must be a finite number, got a string`, at(j));
    out.push(v);
  });
}

/** Several inputs for reports: each row of `{"input_data": [...]}`, or one input of any accepted form. */
export function parseInputRows(json: unknown, ir: InputLayout): Float64Array[] {
  if (json && typeof json === 'object' && !Array.isArray(json) && 'input_data' in json) {
    const rows = (json as { input_data: unknown }).input_data;
    if (Array.isArray(rows) && rows.length > MAX_INPUT_ROWS)
      throw new ZkinferError('INPUT_SHAPE', `input_data has ${rows.length} rows; at most ${MAX_INPUT_ROWS} are read`, 'input_data');
    if (Array.isArray(rows) && rows.length > 1) return rows.map((r) => parseInput({ input_data: [r] }, ir));
  }
  return [parseInput(json, ir)];
}

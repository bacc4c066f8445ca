import { ZkinferError } from '../errors.ts';
import type { ModelIR } from './ir.ts';

/** What parsing needs of a model: its inputs' names and sizes, in order. */
export type InputLayout = { inputs: Pick<ModelIR['inputs'][number], 'name' | 'size'>[]; inputSize: number };

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
function flatList(v: unknown, field: string, max: number): number[] {
  const out: number[] = [];
  const push = (e: unknown) => {
    if (out.length >= max) throw new ZkinferError('INPUT_SHAPE', `${field} has more than ${max} value(s); expected ${max}`, field);
    if (typeof e !== 'number' || !Number.isFinite(e)) {
      const at = Array.isArray(v) ? `${field}[${out.length}]` : field;
      const what = typeof e === 'number' ? 'a non-finite number' : e === null ? 'null' : Array.isArray(e) ? 'an array' : `a ${typeof e}`;
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
  let values: number[];
  if (Array.isArray(json)) values = flatList(json, 'input', ir.inputSize);
  else if (json && typeof json === 'object' && 'input_data' in json) {
    const rows = (json as { input_data: unknown }).input_data;
    if (!Array.isArray(rows) || rows.length === 0) throw new ZkinferError('INPUT_SHAPE', 'input_data must be a non-empty array of rows', 'input_data');
    if (rows.length > 1) throw new ZkinferError('INPUT_SHAPE', `input_data has ${rows.length} rows; a proof covers one inference (batch 1)`, 'input_data');
    values = flatList(rows[0], 'input_data[0]', ir.inputSize);
  } else if (json && typeof json === 'object') {
    const obj = json as Record<string, unknown>;
    const names = new Set(ir.inputs.map((i) => i.name));
    for (const k of Object.keys(obj)) {
      if (!names.has(k)) throw new ZkinferError('INPUT_SHAPE', `unknown feature "${shown(k)}"; expected ${[...names].join(', ')}`, shown(k));
    }
    values = [];
    for (const inp of ir.inputs) {
      if (!Object.hasOwn(obj, inp.name) || obj[inp.name] === undefined) throw new ZkinferError('INPUT_SHAPE', `missing feature "${inp.name}"`, inp.name);
      const v = flatList(obj[inp.name], inp.name, inp.size);
      if (v.length !== inp.size) throw new ZkinferError('INPUT_SHAPE', `feature "${inp.name}" needs ${inp.size} value(s), got ${v.length}`, inp.name);
      for (const e of v) values.push(e);
    }
  } else {
    throw new ZkinferError('INPUT_SHAPE', 'input must be {"input_data": [[...]]}, an array of numbers, or an object of named features', 'input');
  }
  if (values.length !== ir.inputSize) {
    throw new ZkinferError('INPUT_SHAPE', `expected ${ir.inputSize} input values, got ${values.length}`, 'input');
  }
  return Float64Array.from(values);
}

/** Several inputs for reports: each row of `{"input_data": [...]}`, or one input of any accepted form. */
export function parseInputRows(json: unknown, ir: InputLayout): Float64Array[] {
  if (json && typeof json === 'object' && !Array.isArray(json) && 'input_data' in json) {
    const rows = (json as { input_data: unknown }).input_data;
    if (Array.isArray(rows) && rows.length > MAX_INPUT_ROWS) throw new ZkinferError('INPUT_SHAPE', `input_data has ${rows.length} rows; at most ${MAX_INPUT_ROWS} are read`, 'input_data');
    if (Array.isArray(rows) && rows.length > 1) return rows.map((r) => parseInput({ input_data: [r] }, ir));
  }
  return [parseInput(json, ir)];
}

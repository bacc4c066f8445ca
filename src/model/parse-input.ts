import { ZkinferError } from '../errors.ts';
import type { ModelIR } from './ir.ts';

/** What parsing needs of a model: its inputs' names and sizes, in order. */
export type InputLayout = { inputs: Pick<ModelIR['inputs'][number], 'name' | 'size'>[]; inputSize: number };

function numberAt(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ZkinferError('INPUT_VALUE', `${field} must be a finite number, got ${JSON.stringify(v) ?? String(v)}`, field);
  }
  return v;
}

function flatList(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) return [numberAt(v, field)];
  return v.flat(Infinity).map((e, i) => numberAt(e, `${field}[${i}]`));
}

/**
 * Reads one input vector for the model from JSON: `{"input_data": [[...]]}` (one row,
 * flattened, as the EZKL fixtures carry it), a flat array, or named features keyed by
 * the graph input names (each a number or an array of the input's size).
 */
export function parseInput(json: unknown, ir: InputLayout): Float64Array {
  let values: number[];
  if (Array.isArray(json)) values = flatList(json, 'input');
  else if (json && typeof json === 'object' && 'input_data' in json) {
    const rows = (json as { input_data: unknown }).input_data;
    if (!Array.isArray(rows) || rows.length === 0) throw new ZkinferError('INPUT_SHAPE', 'input_data must be a non-empty array of rows', 'input_data');
    if (rows.length > 1) throw new ZkinferError('INPUT_SHAPE', `input_data has ${rows.length} rows; a proof covers one inference (batch 1)`, 'input_data');
    values = flatList(rows[0], 'input_data[0]');
  } else if (json && typeof json === 'object') {
    const obj = json as Record<string, unknown>;
    const names = new Set(ir.inputs.map((i) => i.name));
    for (const k of Object.keys(obj)) {
      if (!names.has(k)) throw new ZkinferError('INPUT_SHAPE', `unknown feature "${k}"; expected ${[...names].join(', ')}`, k);
    }
    values = [];
    for (const inp of ir.inputs) {
      if (!(inp.name in obj) || obj[inp.name] === undefined) throw new ZkinferError('INPUT_SHAPE', `missing feature "${inp.name}"`, inp.name);
      const v = flatList(obj[inp.name], inp.name);
      if (v.length !== inp.size) throw new ZkinferError('INPUT_SHAPE', `feature "${inp.name}" needs ${inp.size} value(s), got ${v.length}`, inp.name);
      values.push(...v);
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
    if (Array.isArray(rows) && rows.length > 1) return rows.map((r) => parseInput({ input_data: [r] }, ir));
  }
  return [parseInput(json, ir)];
}

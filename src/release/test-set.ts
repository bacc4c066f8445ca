import { ZkinferError } from '../core/errors.ts';
import type { InputLayout } from '../model/parse-input.ts';
import { readInputRows } from '../model/read-rows.ts';

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

/**
 * Reads a test set file with the calibration reader (`readInputRows`): CSV with a header of
 * the model's inputs (`name`, or `name[i]` per element) and the label column, or JSON rows
 * (named features with the label as one more key, flat arrays, or `{"input_data": [...]}`).
 */
export async function readTestSet(file: string, ir: InputLayout, labelColumn?: string): Promise<TestSet> {
  const read = await readInputRows(file, ir, { labelColumn, labelHint: '--label-column', field: 'test-set' });
  if (read.rows.length === 0) throw new ZkinferError('INPUT_SHAPE', 'the test set has no rows', 'test-set');
  const labels = read.labels === null ? null : read.labels.map((v, i) => labelValue(v, `test set row ${i + 1}`));
  return { rows: read.rows, labels, given: read.given };
}

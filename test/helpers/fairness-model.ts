// A tiny ONNX model whose decision depends on a protected attribute on some applicants only,
// for tests of proven fairness (issue #22): three named inputs `x0`, `x1` and `group`
// (0 or 1), concatenated, one dense layer and a sigmoid head:
//
//   score = x0 + 0.25 * x1 - 0.5 + 1.0 * group
//
// With x1 = 0, changing `group` flips the decision for x0 in [0, 0.5) and not for x0 > 1.5.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildOnnx } from '../../src/model/build-onnx.ts';

export const GROUP_FEATURES = ['x0', 'x1', 'group'] as const;
export const GROUP_WEIGHTS = [1, 0.25, 1] as const;
export const GROUP_BIAS = -0.5;

/** An applicant whose decision flips with `group` (score -0.3 at group 0, 0.7 at group 1). */
export const FLIPPING = { x0: 0.2, x1: 0, group: 0 };
/** An applicant whose decision does not (score 1.5 or 2.5: approved either way). */
export const STEADY = { x0: 2, x1: 0, group: 1 };

/** The model's float score (its logit). */
export const groupScore = (a: { x0: number; x1: number; group: number }) =>
  a.x0 * GROUP_WEIGHTS[0] + a.x1 * GROUP_WEIGHTS[1] + a.group * GROUP_WEIGHTS[2] + GROUP_BIAS;

/** The model's ONNX bytes. */
export function groupModelBytes(): Uint8Array {
  return buildOnnx({
    inputs: GROUP_FEATURES.map((name) => ({ name, dims: [1, 1] })),
    output: { name: 'approval_probability', dims: [1, 1] },
    initializers: [
      { name: 'W', dims: [3, 1], data: [...GROUP_WEIGHTS] },
      { name: 'B', dims: [1], data: [GROUP_BIAS] },
    ],
    nodes: [
      { op: 'Concat', name: 'features', inputs: [...GROUP_FEATURES], outputs: ['x'], attrs: { axis: 1 } },
      { op: 'MatMul', name: 'dense', inputs: ['x', 'W'], outputs: ['h'] },
      { op: 'Add', name: 'bias', inputs: ['h', 'B'], outputs: ['logit'] },
      { op: 'Sigmoid', name: 'probability', inputs: ['logit'], outputs: ['approval_probability'] },
    ],
  });
}

/** Writes the model to `dir/group-model.onnx` and returns its path. */
export async function writeGroupModel(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'group-model.onnx');
  await writeFile(file, groupModelBytes());
  return file;
}

/** Reasons (2, against the baseline x0 = 1, x1 = 0, group = 1: the flipping applicant's reasons are then x0 and group) and fairness over `group` = 0, 1: the compile option. */
export const GROUP_EXPLAIN = { reasons: 2, baseline: [1, 0, 1], protected: [{ name: 'group', values: [0, 1] }] };

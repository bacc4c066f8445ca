/**
 * The golden record of what every fixture becomes: its layer IR, the constraint estimate,
 * the generated proof circuit (byte for byte, as a sha256), the integer reference's and the
 * float evaluation's outputs on a seeded input, or the refusal (code and message). A change
 * of structure must leave every line of `circuits.json` as it is; a change of behaviour
 * updates it on purpose: `UPDATE_GOLDEN=1 npx vitest run test/golden/circuits.test.ts`, and
 * the diff shows which fixtures it moved.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateProofCircuit } from '../../src/circuit/index.ts';
import { isZkinferError } from '../../src/core/errors.ts';
import { buildOnnx, type GraphSpec, loadModel, type ModelIR, parseInputRows } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { inputQuantOf } from '../../src/pipeline/compile-model.ts';
import { DEFAULT_SETTINGS, estimateConstraints, quantizeModel, runReference } from '../../src/quant/index.ts';
import * as dag from '../helpers/dag.ts';
import { lenet5Onnx, lenetLimits } from '../helpers/lenet.ts';
import { HAVE_SHARED, REPO, SHARED_FIXTURES } from '../helpers/paths.ts';

const GOLDEN = path.join(import.meta.dirname, 'circuits.json');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const sha = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

/** Typed arrays as plain arrays, so the IR's JSON is the same whatever array type holds it. */
function irDigest(ir: ModelIR): string {
  return sha(
    JSON.stringify(ir, (_k, v) =>
      ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v === Infinity ? 'Inf' : v === -Infinity ? '-Inf' : v,
    ),
  );
}

/** A seeded input in each feature's calibration range, or in [-1, 1]. */
function seededInput(size: number, rows: Float64Array[] | null): Float64Array {
  if (rows && rows.length > 0) return rows[0];
  let s = 12345;
  return Float64Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

type Record = { ir: string; constraints: number; circuit: string; reference: string; float: string } | { refused: string };

async function record(file: string, opts: { limits?: object; calibrate?: string; publicInput?: boolean } = {}): Promise<Record> {
  try {
    const { ir } = await loadModel(file, { limits: opts.limits });
    let rows: Float64Array[] | null = null;
    if (opts.calibrate) {
      const json = JSON.parse(await readFile(opts.calibrate, 'utf8')) as { rows?: unknown; input_data?: unknown };
      rows = parseInputRows(json.rows ? { input_data: json.rows } : json, ir);
    }
    const st = DEFAULT_SETTINGS;
    const iq = rows ? inputQuantOf(ir, st, { calibration: rows }) : null;
    const constraints = estimateConstraints(ir, st, iq ?? undefined).total;
    const q = quantizeModel(ir, st, iq ?? undefined);
    const circuit = generateProofCircuit(q, 0n, { publicInput: opts.publicInput === true });
    const x = seededInput(ir.inputSize, rows);
    let refText: string;
    try {
      const ref = runReference(q, x);
      refText = JSON.stringify({
        input: ref.input.map(String),
        layers: ref.layers.map((l) => l.map(String)),
        output: ref.output.map(String),
        decision: ref.decision.map(String),
      });
    } catch (e) {
      if (!isZkinferError(e)) throw e;
      refText = `${e.code}: ${e.message}`;
    }
    const float = JSON.stringify(Array.from(evalFloat(ir, x).output, (v) => v.toPrecision(12)));
    return { ir: irDigest(ir), constraints, circuit: sha(circuit.source), reference: sha(refText), float: sha(float) };
  } catch (e) {
    if (!isZkinferError(e)) throw e;
    return { refused: `${e.code}: ${e.message}` };
  }
}

async function onnxFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.onnx')) out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-golden-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const golden: { [k: string]: Record } = existsSync(GOLDEN) ? JSON.parse(await readFile(GOLDEN, 'utf8')) : {};
const seen: { [k: string]: Record } = {};

async function check(name: string, rec: () => Promise<Record>): Promise<void> {
  const got = await rec();
  seen[name] = got;
  if (!UPDATE) expect(got, `${name}: generated differently from test/golden/circuits.json`).toEqual(golden[name]);
}

describe('every fixture generates the circuit it generated before', () => {
  const local = [path.join(REPO, 'examples'), path.join(REPO, 'test', 'fixtures')];
  it('the repo fixtures (default settings, and calibrated from their inputs)', async () => {
    for (const dir of local) {
      for (const f of await onnxFiles(dir)) {
        const key = path.relative(REPO, f);
        await check(key, () => record(f));
        const inputs = f.replace(/\.onnx$/, '.inputs.json');
        if (existsSync(inputs)) await check(`${key} calibrated`, () => record(f, { calibrate: inputs }));
      }
    }
    const loan = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
    await check('examples/loan calibrated public-input', () =>
      record(loan, { calibrate: path.join(REPO, 'examples', 'loan', 'applicants.json'), publicInput: true }),
    );
  });

  it('the graphs the tests build (DAGs, LeNet-5)', async () => {
    const graphs: [string, () => GraphSpec][] = [
      ['residualMlp', dag.residualMlp],
      ['polynomial', dag.polynomial],
      ['wideDeep', dag.wideDeep],
      ['residualConv', dag.residualConv],
      ['channelGate Relu', () => dag.channelGate('Relu')],
      ['channelGate Sigmoid', () => dag.channelGate('Sigmoid')],
      ['threeReads', dag.threeReads],
      ['twoInputs', dag.twoInputs],
      ['variadic', dag.variadic],
      ['columnsBinarized', dag.columnsBinarized],
      ['normalizedBranch', dag.normalizedBranch],
      ['nhwcConv', dag.nhwcConv],
      ['selections', dag.selections],
    ];
    for (const [name, g] of graphs) {
      const file = path.join(tmp, `${name.replace(/ /g, '-')}.onnx`);
      await writeFile(file, buildOnnx(g()));
      await check(`dag ${name}`, () => record(file));
    }
    for (const pool of ['avg', 'max'] as const) {
      const file = path.join(tmp, `lenet-${pool}.onnx`);
      await writeFile(file, lenet5Onnx(pool));
      await check(`lenet5 ${pool}`, () => record(file, { limits: lenetLimits(pool) }));
    }
  });

  it.skipIf(!HAVE_SHARED)('the third-party fixtures read in place', async () => {
    for (const f of await onnxFiles(SHARED_FIXTURES)) {
      const key = `shared/${path.relative(SHARED_FIXTURES, f)}`;
      await check(key, () => record(f));
      const input = path.join(path.dirname(f), 'input.json');
      if (existsSync(input)) await check(`${key} calibrated`, () => record(f, { calibrate: input }));
    }
  });

  it('writes the record when asked (UPDATE_GOLDEN=1)', async () => {
    if (!HAVE_SHARED) console.log('golden: ../shared/fixtures is absent, its entries were not checked');
    if (!UPDATE) return;
    const merged = { ...golden, ...seen };
    const sorted = Object.fromEntries(
      Object.keys(merged)
        .sort()
        .map((k) => [k, merged[k]]),
    );
    await writeFile(GOLDEN, `${JSON.stringify(sorted, null, 1)}\n`);
  });
});

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstViolated, loadWitnessCalculator, readR1csConstraints } from '../../src/circuit/index.ts';
import { loadModel, parseInput } from '../../src/model/index.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { activationBits, fromField, runReference } from '../../src/quant/index.ts';
import { packedCount, unpackValues } from '../../src/fixed/pack.ts';
import { inputCommitment } from '../../src/bundle/input-commitment.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { HAVE_SHARED, SHARED_FIXTURES } from '../helpers/paths.ts';

/**
 * Third-party models, read in place from ../shared/fixtures. Each compiles to a proof
 * circuit whose witness equals the integer reference bit for bit and satisfies every
 * constraint; the integer model stays close to onnxruntime on the fixture's input; and
 * those that fit the bundled 2^13 development ptau are proved and verified end to end.
 */
interface Fixture {
  name: string;
  file: string;
  input?: string;
  settings?: { scaleBits: number; bits: number };
  /** true, or why the fixture is not proved here (printed when the test is skipped). */
  prove: true | string;
  /** Max abs error allowed against onnxruntime, in the output's own space. */
  tolerance: number;
}

const ezkl = (n: string, prove: true | string = true, tolerance = 0.02): Fixture => ({
  name: `ezkl/${n}`,
  file: path.join(SHARED_FIXTURES, 'ezkl', n, 'network.onnx'),
  input: path.join(SHARED_FIXTURES, 'ezkl', n, 'input.json'),
  prove,
  tolerance,
});

const FIXTURES: Fixture[] = [
  ...['1l_linear', '1l_mlp', '2l_relu_fc', '1l_relu', '1l_flatten', '1l_reshape', '1l_sigmoid', '1l_softmax', '1l_batch_norm', 'clip'].map((n) => ezkl(n)),
  ezkl('sklearn_mlp'),
  // Conv with padding on a 3x1x1 input; two strided 5x5 Convs with Relu, then Gemms.
  ezkl('1l_conv'),
  ezkl('4l_relu_conv_fc', 'about 28k constraints need a 2^15 setup (minutes on 2 cores): compiled and checked here against the reference and onnxruntime'),
  ezkl('large_mlp', '34k constraints need a 2^16 setup (minutes on 2 cores): compiled and checked here, proved in `npm run bench`', 0.05),
  {
    name: 'credit/cybersuraksha',
    file: path.join(SHARED_FIXTURES, 'credit', 'cybersuraksha-loan-eligibility', 'loan_eligibility.onnx'),
    prove: true,
    tolerance: 0.02,
  },
  {
    name: 'credit/fedos94',
    file: path.join(SHARED_FIXTURES, 'credit', 'fedos94-credit-scoring', 'credit_model.onnx'),
    // 24-bit accumulators keep it inside the bundled 2^13 development ptau.
    settings: { scaleBits: 8, bits: 24 },
    prove: true,
    tolerance: 0.05,
  },
];

async function fixtureInput(f: Fixture, size: number): Promise<unknown> {
  if (f.input) {
    const doc = JSON.parse(await readFile(f.input, 'utf8')) as { input_data: number[][] };
    // Some fixtures carry a batch of rows; the proof is about one inference.
    return { input_data: [doc.input_data[0].slice(0, size)] };
  }
  return Array.from({ length: size }, (_, i) => ((i * 37) % 11) / 10 - 0.5);
}

describe.skipIf(!HAVE_SHARED)('third-party fixtures (../shared/fixtures)', () => {
  describe.each(FIXTURES)('$name', (f) => {
    it('compiles; the witness equals the integer reference and satisfies every constraint', async () => {
      const m = await compileModel(f.file, { settings: f.settings, fidelity: false });
      const input = await fixtureInput(f, m.ir.inputSize);
      const x = parseInput(input, m.ir);
      const ref = runReference(m.quantized, x);
      const calc = await loadWitnessCalculator(m.compiled.wasm);
      const w = await calc.witness({ nonce: 7n, x: ref.input, salt: 11n });
      const at = (i: number) => fromField(w[1 + i]);
      expect(at(0)).toBe(m.modelCommitment);
      expect(w[2]).toBe(await inputCommitment(ref.input, 11n, activationBits(m.settings)));
      // The outputs, then the decision, packed into the public signals after the commitment.
      const width = activationBits(m.settings);
      const n = m.ir.outputSize + m.circuit.decisionSize;
      const packed = Array.from({ length: packedCount(n, width) }, (_, i) => w[3 + i]);
      const values = unpackValues(packed, n, width);
      expect(values.slice(0, m.ir.outputSize)).toEqual(ref.output);
      expect(values.slice(m.ir.outputSize)).toEqual(ref.decision);
      expect(firstViolated(await readR1csConstraints(m.compiled.r1cs), w)).toBe(-1);
      expect(m.compiled.constraints).toBeGreaterThanOrEqual(m.circuit.constraints);
    });

    it('stays close to onnxruntime on the fixture input', async () => {
      const ir = (await loadModel(f.file)).ir;
      const m = await compileModel(f.file, { settings: f.settings, inputs: [parseInput(await fixtureInput(f, ir.inputSize), ir)] });
      expect(m.fidelity!.outOfRange).toBe(0);
      expect(m.fidelity!.maxAbsError).toBeLessThan(f.tolerance);
    });

    it('proves and verifies end to end', async (ctx) => {
      if (f.prove !== true) {
        // The reason in the test output, not only in this file: a console line for the
        // default reporter, the skip note for verbose and JSON reports.
        console.info(`skipped: ${f.name} proves and verifies end to end: ${f.prove}`);
        ctx.skip(f.prove);
      }
      const m = await compileModel(f.file, { settings: f.settings, fidelity: false });
      const setup = await setupModel(m);
      const { bundle } = await proveModel(m, setup, await fixtureInput(f, m.ir.inputSize));
      const v = await verifyBundle(bundle);
      expect(v.valid).toBe(true);
      const ref = runReference(m.quantized, parseInput(await fixtureInput(f, m.ir.inputSize), m.ir));
      expect(v.outputs!.integers).toEqual(ref.output.map(String));
    });
  });
});

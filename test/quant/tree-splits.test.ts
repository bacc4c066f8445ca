// Tree splits on rounded inputs: an applicant on or within 1e-6 of a split threshold is
// rounded to its feature's grid before the integer comparison, which can then go the other
// way than onnxruntime's float32 one. The fidelity report states per feature the distance
// beyond which splits are decided as in float; the prover warns about every applicant
// closer than that, and about every split actually decided otherwise.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer } from '../../src/model/ir.ts';
import { loadModel, runOnnxRuntime } from '../../src/model/index.ts';
import { treeTest } from '../../src/layers/tree-ensemble.ts';
import { compileModel, inputQuantOf, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, dequantizeOutput, floatDecision, quantizeModel, runReference } from '../../src/quant/index.ts';
import { integerSplit, splitMargins, splitWarnings, splitZone } from '../../src/quant/tree-splits.ts';
import { formatCompileReport } from '../../src/cli/format.ts';
import { REPO } from '../helpers/paths.ts';

const DIR = path.join(REPO, 'test', 'fixtures', 'models', 'trees');
const file = (name: string) => path.join(DIR, `${name}.onnx`);
const rowsOf = (name: string): number[][] => JSON.parse(readFileSync(path.join(DIR, `${name}.inputs.json`), 'utf8')).rows;

/** Each feature's distinct thresholds in the first tree ensemble. */
function thresholds(trees: TreeEnsembleLayer): Map<number, number[]> {
  const m = new Map<number, Set<number>>();
  for (let i = 0; i < trees.feature.length; i++) {
    if (trees.mode[i] === TREE_LEAF) continue;
    const s = m.get(trees.feature[i]) ?? new Set<number>();
    s.add(trees.threshold[i]);
    m.set(trees.feature[i], s);
  }
  return new Map([...m].map(([f, s]) => [f, [...s].sort((a, b) => a - b)]));
}

describe('tree splits near thresholds', () => {
  it('beyond the stated margin, every integer split is the float32 split (each mode, scales -4 to 10)', () => {
    let checked = 0;
    for (const mode of TREE_MODES) {
      for (const k of [-4, 0, 3, 10]) {
        for (const t of [0.5, 52345.5, 52345.55859375, -17.3, 1234567, 0.1, 3]) {
          const tf = Math.fround(t);
          const d = splitZone(mode, tf, k);
          for (const dx of [1.0001, 1.01, 1.5, 3, -1.0001, -1.01, -1.5, -3]) {
            const x = tf + dx * d;
            const X = Math.round(x * 2 ** k);
            expect(integerSplit(mode, X, tf, k), `${mode} t=${tf} k=${k} x=${x}`).toBe(treeTest(TREE_MODES.indexOf(mode), Math.fround(x), tf));
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(6 * 4 * 7 * 8);
  });

  it.each(['xgb_credit', 'lgbm_credit', 'gb_credit', 'dt_binary', 'rf_limit'])(
    '%s: applicants exactly on and within 1e-6 of split values: every one decided otherwise than onnxruntime is warned about',
    async (name) => {
      const { ir } = await loadModel(file(name));
      const rows = rowsOf(name);
      const q = quantizeModel(ir, DEFAULT_SETTINGS, inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows }) ?? undefined);
      const trees = ir.layers[0] as TreeEnsembleLayer;
      expect(trees.kind).toBe('tree_ensemble');
      const margins = new Map(splitMargins(ir, q).map((m) => [m.index, m]));
      let applicants = 0;
      let warned = 0;
      let differs = 0;
      let splitDiffers = 0;
      let unwarnedErr = 0;
      for (const row of rows.slice(0, 3)) {
        for (const [f, ts] of thresholds(trees)) {
          // At most 8 thresholds per feature, spread over its range.
          const picked = ts.filter((_, j) => j % Math.ceil(ts.length / 8) === 0);
          for (const t of picked) {
            for (const dx of [0, 1e-6, -1e-6, 1e-7, -1e-7]) {
              const x = [...row];
              x[f] = t + dx;
              const want = await runOnnxRuntime(file(name), Float64Array.from(x), ir);
              const ref = runReference(q, x);
              const warnings = splitWarnings(ir, q, x, ref.input);
              const fd = floatDecision(q.head, want);
              const otherDecision = fd !== null && fd.join() !== ref.decision.join();
              // A split decided otherwise, on any node of the first ensemble.
              let anySplit = false;
              for (let i = 0; i < trees.feature.length; i++) {
                if (trees.mode[i] === TREE_LEAF) continue;
                const g = trees.feature[i];
                const k = q.inputQuant?.scaleBits[g] ?? q.settings.scaleBits;
                if (
                  treeTest(trees.mode[i], Math.fround(x[g]), trees.threshold[i]) !==
                  integerSplit(TREE_MODES[trees.mode[i]], Number(ref.input[g]), trees.threshold[i], k)
                )
                  anySplit = true;
              }
              applicants++;
              if (warnings.length) warned++;
              if (otherDecision) differs++;
              if (anySplit) splitDiffers++;
              // Every decision that differs, and every split decided otherwise, is warned about, as "the other branch".
              if (otherDecision || anySplit) expect(warnings.join('\n'), `${name} x[${f}] = ${t} + ${dx}`).toMatch(/other branch than float/);
              // Within the feature's margin of a threshold: warned, even where it happens to be decided as in float.
              if (Math.abs(x[f] - t) <= margins.get(f)!.margin && warnings.length === 0) unwarnedErr++;
              expect(warnings.every((w) => w.startsWith('prover-side, not proven: '))).toBe(true);
              // The quantized output stays a faithful reading of the float one where nothing is warned.
              if (!warnings.length) {
                const got = dequantizeOutput(q, ref.output);
                for (let j = 0; j < got.length; j++) expect(Math.abs(got[j] - want[j])).toBeLessThan(q.head === 'none' ? 0.01 : 0.005);
              }
            }
          }
        }
      }
      console.info(
        `${name}: ${applicants} applicants on or within 1e-6 of splits: ${splitDiffers} with a split decided otherwise than float, ` +
          `${differs} with another decision than onnxruntime, ${warned} warned; margins ${[...margins.values()].map((m) => `${m.feature} ${m.margin.toPrecision(2)} (2^-${m.scaleBits})`).join(', ')}`,
      );
      expect(unwarnedErr).toBe(0);
      // Placed on split values, some applicants are close enough to be warned about: the check above had something to check.
      expect(warned).toBeGreaterThan(0);
    },
    120_000,
  );

  it('the fidelity report states the margin per feature, and a proof warns (prover-side, outside the bundle) about an applicant on a split', async () => {
    // scikit-learn gradient boosting, 40 trees of depth 3 (proved in test/model/trees.test.ts too).
    const name = 'gb_credit';
    const rows = rowsOf(name);
    const m = await compileModel(file(name), { calibration: rows });
    const margins = m.fidelity!.splitMargins!;
    expect(margins.length).toBeGreaterThan(0);
    expect(formatCompileReport(m)).toMatch(
      /tree splits: an input farther than this from every threshold .*\n {4}\S+: \d+ threshold\(s\), grid 2\^-?\d+, decided as in float beyond/,
    );
    const trees = m.ir.layers[0] as TreeEnsembleLayer;
    // An applicant exactly on the first split whose integer test differs from the float one.
    let on: number[] | null = null;
    for (let i = 0; i < trees.feature.length && !on; i++) {
      if (trees.mode[i] === TREE_LEAF) continue;
      for (const dx of [0, 1e-6, -1e-6]) {
        const x = [...rows[0]];
        x[trees.feature[i]] = trees.threshold[i] + dx;
        const ref = runReference(m.quantized, x);
        if (splitWarnings(m.ir, m.quantized, x, ref.input).some((w) => /other branch/.test(w))) {
          on = x;
          break;
        }
      }
    }
    expect(on).not.toBeNull();
    const setup = await setupModel(m);
    const near = await proveModel(m, setup, on!);
    expect(near.warnings.join()).toMatch(/^prover-side, not proven: .* the proof takes the other branch than float/);
    // Not part of what a verifier reads.
    expect(JSON.stringify(near.bundle)).not.toMatch(/prover-side/);
    const far = await proveModel(m, setup, rows[1]);
    expect(far.warnings).toEqual([]);
  }, 300_000);
});

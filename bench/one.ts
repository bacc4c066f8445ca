// Measures one model in a fresh process (so cold timings and peak memory are its own).
// Usage: node --import tsx bench/one.ts <compile|prove> <index>
import { readFile, writeFile } from 'node:fs/promises';
import { constraintsPerNeuron } from '../src/cli/format.ts';
import { loadModel, parseInput, parseInputRows } from '../src/model/index.ts';
import { BrowserProvider } from 'ethers';
import type { VerificationKey } from 'snarkjs';
import { compileContracts, deployContracts, encodeCalls, solidityProof, startDevChain } from '../src/chain/index.ts';
import { bundleModel, compileLoaded, compileModel, type CompiledModel, proveModel, randomInputs, setupModel } from '../src/pipeline/index.ts';
import type { ProofBundle } from '../src/bundle/format.ts';
import { verifyBundle } from '../src/verifier/index.ts';
import { COMPILE_SET, PROVE_SET, pixelRows, syntheticModel } from './models.ts';

const [mode, idx] = process.argv.slice(2);
const spec = (mode === 'compile' ? COMPILE_SET : PROVE_SET)[Number(idx)];
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function compile(): Promise<{ m: CompiledModel; input: unknown }> {
  if (spec.kind === 'synthetic' && spec.calibration === 'pixels') {
    const loaded = syntheticModel(spec.sizes, spec.head);
    const rows = pixelRows(spec.sizes[0]);
    return { m: await compileLoaded(loaded, { calibration: rows }), input: Array.from(pixelRows(spec.sizes[0], 1, 5)[0]) };
  }
  if (spec.kind === 'synthetic') {
    const loaded = syntheticModel(spec.sizes, spec.head);
    return { m: await compileLoaded(loaded), input: Array.from(randomInputs(spec.sizes[0], 1, 5)[0]) };
  }
  if (spec.build) await writeFile(spec.file, spec.build());
  const { ir } = await loadModel(spec.file, { limits: spec.limits });
  const fidelityDoc = spec.fidelityInput ? JSON.parse(await readFile(spec.fidelityInput, 'utf8')) : undefined;
  const rows = spec.rows?.();
  const m = await compileModel(spec.file, { samples: 16, limits: spec.limits, inputs: rows ?? (fidelityDoc ? parseInputRows(fidelityDoc, ir) : undefined) });
  let input: unknown = rows ? rows[1] : Array.from(randomInputs(m.ir.inputSize, 1, 5)[0]);
  if (spec.input) {
    const doc = JSON.parse(await readFile(spec.input, 'utf8'));
    // Fixture files may hold a batch flattened into one row: prove its first row.
    input = 'input_data' in doc ? { input_data: [doc.input_data[0].slice(0, m.ir.inputSize)] } : doc;
  }
  parseInput(input, m.ir);
  return { m, input };
}

const t0 = performance.now();
const { m, input } = await compile();
const compileS = m.compiled.cached ? null : (performance.now() - t0) / 1000;
const out: Record<string, unknown> = {
  name: spec.name,
  inputs: m.ir.inputSize,
  neurons: m.quantized.layers.reduce((a, l) => a + (l.kind === 'dense' || l.kind === 'sparse' ? l.outSize : 0), 0),
  modelConstraints: m.circuit.constraints,
  constraints: m.compiled.constraints,
  inputChecks: m.circuit.plan[0]?.formula,
  layerPlan: m.circuit.plan.map((p) => `${p.name} ${p.constraints}`).join(', '),
  perNeuron: constraintsPerNeuron(m),
  compileS: m.compiled.cached ? 'cached' : compileS,
  fidelityInputs: m.fidelity ? `${m.fidelity.samples} ${m.fidelity.inputs}` : null,
  maxAbsError: m.fidelity?.maxAbsError ?? null,
  flipRate: m.fidelity?.flipRate ?? null,
};
if (mode === 'prove') {
  const s0 = performance.now();
  const setup = await setupModel(m, {
    log: (x) => process.stderr.write(`${x}\n`),
    ...(spec.kind === 'onnx' && spec.maxPtauPower ? { maxPtauPower: spec.maxPtauPower } : {}),
  });
  out.setupS = setup.cached ? 'cached' : (performance.now() - s0) / 1000;
  out.ptau = `2^${setup.provenance.ptau.power}`;
  const c0 = performance.now();
  const first = await proveModel(m, setup, input);
  out.proveColdMs = performance.now() - c0;
  const warm: number[] = [];
  const wit: number[] = [];
  const ver: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await proveModel(m, setup, input);
    warm.push(r.timings.witnessMs + r.timings.proveMs);
    wit.push(r.timings.witnessMs);
    const v0 = performance.now();
    const v = await verifyBundle(r.bundle);
    ver.push(performance.now() - v0);
    if (!v.valid) throw new Error('bench proof did not verify');
  }
  out.witnessMs = median(wit);
  out.proveWarmMs = median(warm);
  out.verifyMs = median(ver);
  out.proofBytes = JSON.stringify(first.bundle.proof).length;
  out.bundleBytes = JSON.stringify(first.bundle).length;
  Object.assign(out, await gas(m, setup.vkey, first.bundle));
}

/**
 * Gas on an in-process EVM (EDR, latest hardfork): a transaction calling the verifier's
 * verifyProof (estimateGas: 21k intrinsic and calldata included), and a first attest.
 */
async function gas(m: CompiledModel, vkey: VerificationKey, bundle: ProofBundle) {
  const set = await compileContracts(bundleModel(m), vkey);
  const provider = new BrowserProvider((await startDevChain()).provider);
  const signer = await provider.getSigner(0);
  const d = await deployContracts(signer, set);
  const data = encodeCalls(solidityProof(bundle.proof, bundle.publicSignals));
  const verifyGas = await provider.estimateGas({ to: d.verifier.address, data: data.verifyProof });
  const attest = await (await signer.sendTransaction({ to: d.registry.address, data: data.attest })).wait();
  return {
    verifyGas: Number(verifyGas),
    attestGas: Number(attest?.gasUsed ?? 0),
    verifierDeployGas: Number(d.verifier.gasUsed),
    publicSignals: bundle.publicSignals.length,
  };
}
out.peakRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);

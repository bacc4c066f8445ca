import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ceremonySetup } from '../ceremony/index.ts';
import { compileContracts } from '../chain/index.ts';
import { ZkinferError } from '../core/errors.ts';
import { loadModel, readOnnx, runOnnxRuntime } from '../model/index.ts';
import { bundleModel, compileModel, type CompileOptions, type CompiledModel, pickPtau, proveModel } from '../pipeline/index.ts';
import type { ModelDescriptor } from '../bundle/descriptor.ts';
import type { identifyPtau } from '../prover/ptau.ts';
import type { TrustPolicy } from '../verifier/trust.ts';
import { type CircuitSetup, setupCircuit } from '../prover/setup.ts';
import { toolVersions } from '../prover/tool-versions.ts';
import { fidelityReport, type FidelityReport, floatDecision, runReference } from '../quant/index.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import { type AuditReport, type Contribution } from '../verifier/audit.ts';
import { auditKey } from '../pipeline/audit-model.ts';
import { verifyBundle } from '../verifier/index.ts';
import { INTOTO_PAYLOAD_TYPE, loadSigningKey, signEnvelope } from './dsse.ts';
import { RELEASE_PREDICATE_TYPE, type Statement, STATEMENT_TYPE, type Subject } from './statement.ts';
import { readTestSet } from './test-set.ts';
import { sha256Bytes } from '../core/hash.ts';

/** File names inside a release directory. */
export const RELEASE_FILES = { envelope: 'attestation.dsse.json', report: 'release-report.json', vkey: 'keys/vkey.json' } as const;

export interface ReleaseOptions {
  model: string;
  testSet: string;
  /** The label column (CSV) or key (JSON rows): enables float and quantized accuracy. */
  labelColumn?: string;
  /** PEM file, or `env:NAME`. */
  signKey: string;
  outDir: string;
  /** The model's compile options (settings, public input, calibration, input ranges, decision names): part of its id. */
  compile?: Pick<CompileOptions, 'settings' | 'publicInput' | 'calibration' | 'inputRanges' | 'labels' | 'limits'>;
  /** A finished ceremony key (with `ptau`): used instead of the service's own setup. */
  zkey?: string;
  ptau?: string;
  ptauSha256?: string;
  /** Largest development ptau generated or used without `ptau` (DEFAULT_MAX_PTAU_POWER otherwise). */
  maxPtauPower?: number;
  /** Hashes of ptau files the releaser trusts besides the published ceremony files (a pinned --ptau-sha256 counts as one). */
  trustPtau?: string[];
  /** Contribution hashes the releaser knows were made independently of the model's owner. */
  independentContributions?: string[];
  /** What the release demands of the setup: a refusal stops the release before anything is proven or signed. */
  policy?: TrustPolicy;
  /** How many test rows to prove (each proof verified). */
  prove: number;
  maxFlipRate?: number;
  minAccuracy?: number;
  log?: (m: string) => void;
}

export interface ReleaseFidelity extends FidelityReport {
  /** Rows with a label, when a label column was given. */
  labelled: number | null;
  /** Share of labelled rows the float model (onnxruntime) decides right. */
  floatAccuracy: number | null;
  /** Share the quantized model (what the circuit proves) decides right; rows it cannot represent count as wrong. */
  quantizedAccuracy: number | null;
}

export interface Gate {
  name: 'max-flip-rate' | 'min-accuracy';
  threshold: number;
  value: number | null;
  ok: boolean;
}

export interface ReleasePredicate {
  /**
   * `file`: the ONNX file's name in the release (null for a private model, whose file is not
   * released: its subject is then `parameterCommitment`, bound by `commitment`).
   */
  model: { id: string; commitment: string; descriptor: ModelDescriptor; file: string | null; parameterCommitment?: string };
  settings: QuantSettings & { publicInput: boolean };
  testSet: { file: string; sha256: string; rows: number; labelColumn: string | null };
  fidelity: ReleaseFidelity;
  gates: Gate[];
  circuit: { hash: string; constraints: number; r1csSha256: string };
  setup: {
    source: 'zkinfer-setup' | 'ceremony';
    insecure: boolean;
    ptau: Awaited<ReturnType<typeof identifyPtau>>;
    phase1: AuditReport['phase1'];
    /** The releaser's audit's judgement of the setup. */
    trust: { level: AuditReport['trust']['level']; summary: string };
    /** The zkey's phase-2 contributions, verified by the key audit run in this release. */
    phase2: Contribution[];
    audit: { ok: boolean; links: AuditReport['links'] };
  };
  vkeySha256: string;
  contracts: { compiler: unknown };
  proofs: { file: string; row: number; decision: number[] | null; verified: boolean }[];
  tools: Record<string, string>;
  createdAt: string;
}

export interface ReleaseResult {
  /** False when a gate failed (nothing proven or signed then). */
  ok: boolean;
  gates: Gate[];
  fidelity: ReleaseFidelity;
  reportFile: string;
  envelopeFile: string | null;
  statement: Statement<ReleasePredicate> | null;
}

async function measure(m: CompiledModel, modelPath: string, rows: Float64Array[], labels: number[] | null): Promise<ReleaseFidelity> {
  const floatModel = (x: ArrayLike<number>) => runOnnxRuntime(modelPath, Float64Array.from(x), m.ir);
  const base = await fidelityReport(m.quantized, rows, floatModel);
  if (!labels) return { ...base, labelled: null, floatAccuracy: null, quantizedAccuracy: null };
  if (m.ir.head === 'none' || (m.ir.outputSize !== 1 && m.ir.head === 'sigmoid')) {
    throw new ZkinferError('INPUT_SHAPE', 'labels need a model with one decision (a single sigmoid output, or a softmax)', 'labels');
  }
  let floatRight = 0;
  let quantRight = 0;
  for (let i = 0; i < rows.length; i++) {
    const fd = floatDecision(m.ir.head, await floatModel(rows[i]));
    if (fd?.[0] === labels[i]) floatRight++;
    try {
      if (Number(runReference(m.quantized, rows[i]).decision[0]) === labels[i]) quantRight++;
    } catch {
      // A row the integer model cannot represent cannot be proven: it counts as wrong.
    }
  }
  return { ...base, labelled: rows.length, floatAccuracy: floatRight / rows.length, quantizedAccuracy: quantRight / rows.length };
}

function gatesOf(f: ReleaseFidelity, o: ReleaseOptions): Gate[] {
  const gates: Gate[] = [];
  if (o.maxFlipRate !== undefined) {
    // A model without a decision has no flip rate: the gate cannot pass. A row the integer
    // model cannot represent cannot be proven: for the gate it counts as a flip.
    const rate = f.decisionFlips === null || f.samples === 0 ? null : (f.decisionFlips + f.outOfRange) / f.samples;
    gates.push({ name: 'max-flip-rate', threshold: o.maxFlipRate, value: rate, ok: rate !== null && rate <= o.maxFlipRate });
  }
  if (o.minAccuracy !== undefined) {
    gates.push({
      name: 'min-accuracy',
      threshold: o.minAccuracy,
      value: f.quantizedAccuracy,
      ok: f.quantizedAccuracy !== null && f.quantizedAccuracy >= o.minAccuracy,
    });
  }
  return gates;
}

/** External data files the ONNX names (relative to it), in first-use order. */
async function externalFiles(modelPath: string): Promise<string[]> {
  const { model } = await readOnnx(modelPath);
  const g = model.graph!;
  const tensors = [...(g.initializer ?? []), ...(g.node ?? []).flatMap((n) => (n.attribute ?? []).map((a) => a.t).filter((t) => !!t))];
  const names = tensors.map((t) => (t!.externalData ?? []).find((e) => e.key === 'location')?.value).filter((v): v is string => !!v);
  return [...new Set(names)];
}

/** Evenly spread rows to prove (first, ..., towards the last), among rows the circuit can represent. */
function sampleRows(m: CompiledModel, rows: Float64Array[], n: number): number[] {
  const ok = rows
    .map((_, i) => i)
    .filter((i) => {
      try {
        runReference(m.quantized, rows[i]);
        return true;
      } catch {
        return false;
      }
    });
  const k = Math.min(n, ok.length);
  return Array.from({ length: k }, (_, j) => ok[Math.floor((j * ok.length) / k)]);
}

/**
 * A model release for CI: measures the quantized model against the float one on a test
 * set and stops (ok: false, report written) when a gate fails; otherwise sets up (or takes
 * a finished ceremony key), audits the key against the model, exports the contracts,
 * proves and verifies sample rows, writes every artifact to `outDir` and signs an in-toto
 * statement over their hashes as a DSSE envelope.
 */
export async function runRelease(o: ReleaseOptions): Promise<ReleaseResult> {
  const log = o.log ?? (() => {});
  if (!Number.isInteger(o.prove) || o.prove < 0) throw new ZkinferError('SETTINGS', '--prove is a whole number of rows', 'prove');
  if (o.zkey && !o.ptau) throw new ZkinferError('SETTINGS', 'a ceremony key (--zkey) needs the ptau it was made on (--ptau)', 'ptau');
  // Fail on an unusable key before minutes of work.
  const key = await loadSigningKey(o.signKey);
  const loaded = await loadModel(o.model, { limits: o.compile?.limits });
  const testSet = await readTestSet(o.testSet, loaded.ir, o.labelColumn);
  await mkdir(o.outDir, { recursive: true });
  const reportFile = path.join(o.outDir, RELEASE_FILES.report);

  log(`[1/6] compiling ${o.model} ...`);
  const m = await compileModel(o.model, { ...o.compile, fidelity: false });
  log(`[2/6] fidelity on ${testSet.rows.length} test rows ...`);
  const fidelity = await measure(m, o.model, testSet.rows, testSet.labels);
  const gates = gatesOf(fidelity, o);
  const ok = gates.every((g) => g.ok);
  const report = { ok, modelId: m.modelId, gates, fidelity };
  if (!ok) {
    await writeFile(reportFile, JSON.stringify(report, null, 2) + '\n');
    return { ok, gates, fidelity, reportFile, envelopeFile: null, statement: null };
  }

  log(`[3/6] setup (${o.zkey ? `ceremony key ${o.zkey}` : 'zkinfer phase 2, cached after the first run'}) ...`);
  let setup: CircuitSetup;
  let ptauFile: string;
  if (o.zkey) {
    ptauFile = o.ptau!;
    setup = await ceremonySetup(m, o.zkey, ptauFile);
  } else {
    const ptau = await pickPtau(m, { ptau: o.ptau, ptauSha256: o.ptauSha256, maxPtauPower: o.maxPtauPower, log });
    ptauFile = ptau.file;
    setup = await setupCircuit(m.compiled, ptau);
  }
  log('[4/6] auditing the key against the model (recompiled circuit, zkey, ptau) ...');
  const audit = await auditKey({
    model: o.model,
    ...o.compile,
    vkey: setup.vkey,
    zkey: setup.zkey,
    ptau: ptauFile,
    // The releaser pinning its own ptau by hash is the releaser's trust in that file.
    trustPtau: [...(o.trustPtau ?? []), ...(o.ptauSha256 ? [o.ptauSha256] : [])],
    independentContributions: o.independentContributions,
    policy: o.policy,
  });
  if (!audit.ok) {
    const detail = audit.links.find((l) => !l.ok)!;
    if (detail.name === 'policy') throw new ZkinferError('CEREMONY', `the setup does not meet the trust policy: ${detail.detail}`, 'setup');
    throw new ZkinferError('CEREMONY', `the key does not encode this model: the ${detail.name} link broke (${detail.detail})`, 'zkey');
  }

  log('[5/6] contracts and sample proofs ...');
  const contracts = await compileContracts(bundleModel(m), setup.vkey);
  const written: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    const file = path.join(o.outDir, ...name.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    written.push(name);
  };
  const copy = async (name: string, from: string) => {
    const file = path.join(o.outDir, ...name.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await copyFile(from, file);
    written.push(name);
  };
  const proofs: ReleasePredicate['proofs'] = [];
  for (const row of sampleRows(m, testSet.rows, o.prove)) {
    const r = await proveModel(m, setup, testSet.given[row]);
    const check = await verifyBundle(r.bundle, { vkey: setup.vkey });
    if (!check.valid) throw new Error(`the proof of test row ${row} does not verify: ${check.reason}`);
    const file = `proofs/row-${row}.json`;
    // Bundles only: receipts hold the salt that opens the input commitment.
    await put(file, JSON.stringify(r.bundle, null, 2) + '\n');
    proofs.push({ file, row, decision: r.bundle.outputs.decision, verified: true });
    log(`  row ${row}: proof verified (decision ${r.bundle.outputs.decision?.join(', ') ?? '-'})`);
  }

  // A private model's file stays with its owner: the release names its parameter commitment instead.
  const modelName = m.descriptor.parameters ? null : `model/${path.basename(o.model)}`;
  if (modelName) {
    await copy(modelName, o.model);
    for (const ext of await externalFiles(o.model)) await copy(`model/${ext}`, path.join(path.dirname(o.model), ext));
  }
  await copy('circuit/main.circom', path.join(m.compiled.dir, 'main.circom'));
  await copy('circuit/main.r1cs', m.compiled.r1cs);
  await copy('circuit/main.wasm', m.compiled.wasm);
  await copy('keys/circuit.zkey', setup.zkey);
  await put(RELEASE_FILES.vkey, JSON.stringify(setup.vkey, null, 1) + '\n');
  await put(`contracts/${contracts.verifier.name}.sol`, contracts.verifier.source);
  await put(`contracts/${contracts.registry.name}.sol`, contracts.registry.source);
  await put('contracts/contracts.json', JSON.stringify(contracts, null, 2) + '\n');

  log('[6/6] signing the release statement ...');
  const subject: Subject[] = [];
  for (const name of written.sort()) subject.push({ name, digest: { sha256: sha256Bytes(await readFile(path.join(o.outDir, ...name.split('/')))) } });
  const testBytes = await readFile(o.testSet);
  const predicate: ReleasePredicate = {
    model: {
      id: m.modelId,
      commitment: m.modelCommitment.toString(),
      descriptor: m.descriptor,
      file: modelName,
      ...(m.descriptor.parameters ? { parameterCommitment: m.descriptor.parameters.commitment } : {}),
    },
    settings: { ...m.settings, publicInput: m.publicInput },
    testSet: { file: path.basename(o.testSet), sha256: sha256Bytes(testBytes), rows: testSet.rows.length, labelColumn: o.labelColumn ?? null },
    fidelity,
    gates,
    circuit: { hash: m.descriptor.circuitHash, constraints: m.compiled.constraints, r1csSha256: audit.r1csSha256 },
    setup: {
      source: o.zkey ? 'ceremony' : 'zkinfer-setup',
      insecure: audit.ptau.kind === 'development',
      ptau: audit.ptau,
      phase1: audit.phase1,
      trust: { level: audit.trust.level, summary: audit.trust.summary },
      phase2: audit.contributions,
      audit: { ok: audit.ok, links: audit.links },
    },
    vkeySha256: setup.provenance.vkeySha256,
    contracts: { compiler: contracts.compiler },
    proofs,
    tools: toolVersions(),
    createdAt: new Date().toISOString(),
  };
  const statement: Statement<ReleasePredicate> = { _type: STATEMENT_TYPE, subject, predicateType: RELEASE_PREDICATE_TYPE, predicate };
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key);
  const envelopeFile = path.join(o.outDir, RELEASE_FILES.envelope);
  await writeFile(envelopeFile, JSON.stringify(envelope, null, 2) + '\n');
  await writeFile(
    reportFile,
    JSON.stringify({ ...report, vkeySha256: predicate.vkeySha256, setup: predicate.setup, proofs, subjects: subject.length }, null, 2) + '\n',
  );
  return { ok, gates, fidelity, reportFile, envelopeFile, statement };
}

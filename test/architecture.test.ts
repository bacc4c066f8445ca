// The shape of src/, checked from its import statements alone (no module is loaded):
// no import cycle, no hand-written file over 500 lines nor line over 160 characters, and
// imports only flow from a higher room (a folder under src/) to a lower one, per the rank table below.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/paths.ts';

const SRC = path.join(REPO, 'src');

/**
 * The rooms from lowest to highest: a file may import from its own room, a room on the same
 * line, or any room on an earlier line, never from a later one. A room is the first folder
 * under src/; a file directly under src/ is a room named after it. A new room must be added here.
 */
const RANKS: string[][] = [
  ['core', 'types'], // errors, hashing, canonical JSON, artifact paths, the child-process pool; vendor type declarations
  ['fixed'], // fixed-point basics: field, settings, packing, per-feature input scales
  ['model'], // ONNX reading and lowering to the layer IR
  ['layers'], // one module per layer kind, and the registry
  ['quant'], // passes over the layers: float evaluation, quantization, integer reference, size, fidelity
  ['bundle'], // the proof bundle format, descriptor, decoding and checks (browser-safe)
  ['circuit'], // circom generation and compilation
  ['prover'], // Groth16 setup, ptau, proving
  ['verifier'], // checking bundles, receipts and setups
  ['store'], // records and files of the service
  ['chain'], // Solidity verifier and on-chain registry
  ['web'], // the verification page
  ['pipeline'], // model -> circuit -> setup -> proof, end to end
  ['ceremony'], // phase-2 ceremonies
  ['release', 'service'], // signed releases; the service's configuration and phase-1 choice
  ['queue'], // jobs, workers, leases
  ['api'], // REST service
  ['cli'], // command line
];

/** Generated files (not held to the size limits). */
const GENERATED = new Set(['src/api/openapi-types.ts']);
const MAX_LINES = 500;
/** Prettier's printWidth: it wraps code, not comments nor string literals, so this holds them to it too. */
const MAX_LINE_LENGTH = 160;

const rank = new Map(RANKS.flatMap((rooms, i) => rooms.map((r): [string, number] => [r, i])));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

const rel = (f: string) => path.relative(REPO, f).split(path.sep).join('/');

function roomOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length === 1 ? parts[0].replace(/(\.d)?\.ts$/, '') : parts[0];
}

/** The src file a relative specifier names, or undefined (packages, JSON, files outside src/). */
function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')];
  const hit = candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile());
  return hit && !path.relative(SRC, hit).startsWith('..') ? hit : undefined;
}

const files = sourceFiles(SRC);
/** file -> the src files it imports (static, dynamic and type-only imports alike). */
const graph = new Map<string, string[]>();
for (const f of files) {
  const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  const targets = info.importedFiles.map((i) => resolve(f, i.fileName)).filter((t): t is string => t !== undefined);
  graph.set(f, [...new Set(targets)]);
}

/** Strongly connected components with more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return out;
}

/** A shortest import path from `start` back to itself inside one component (breadth first). */
function exampleLoop(scc: string[]): string[] {
  const inside = new Set(scc);
  const start = scc[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const loop = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) loop.splice(1, 0, u);
        return [...loop, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

describe('architecture of src/', () => {
  it('has no import cycle', () => {
    const found = cycles().map((scc) => {
      const lines = scc.reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length, 0);
      return `cycle of ${scc.length} files (${lines} lines): ${scc.map(rel).join(', ')}; e.g. ${exampleLoop(scc).map(rel).join(' -> ')}`;
    });
    expect(found, `import cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it(`has no hand-written file over ${MAX_LINES} lines`, () => {
    const found = files
      .filter((f) => !GENERATED.has(rel(f)))
      .map((f) => ({ f, n: readFileSync(f, 'utf8').replace(/\n$/, '').split('\n').length }))
      .filter(({ n }) => n > MAX_LINES)
      .map(({ f, n }) => `${rel(f)}: ${n} lines`);
    expect(found, `files over ${MAX_LINES} lines:\n${found.join('\n')}`).toEqual([]);
  });

  it(`has no line over ${MAX_LINE_LENGTH} characters in src`, () => {
    const found = files
      .filter((f) => !GENERATED.has(rel(f)))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, i }))
          .filter(({ line }) => line.length > MAX_LINE_LENGTH)
          .map(({ line, i }) => `${rel(f)}:${i + 1} (${line.length} chars)`),
      );
    expect(found, `lines over ${MAX_LINE_LENGTH} characters (split the comment or string):\n${found.join('\n')}`).toEqual([]);
  });

  it('imports only from its own or a lower room (see RANKS)', () => {
    const found: string[] = [];
    const unranked = new Set(files.map(roomOf).filter((r) => !rank.has(r)));
    for (const r of unranked) found.push(`room ${r} is not in the rank table of test/architecture.test.ts`);
    for (const [f, targets] of graph) {
      for (const t of targets) {
        const [from, to] = [roomOf(f), roomOf(t)];
        if (!rank.has(from) || !rank.has(to)) continue;
        if (rank.get(to)! > rank.get(from)!) found.push(`${from} -> ${to}: ${rel(f)} imports ${rel(t)}`);
      }
    }
    expect(found, `imports from a lower room to a higher one:\n${found.join('\n')}`).toEqual([]);
  });

  it('sees the whole source tree', () => {
    // Guards the checks above against a walk or a resolver that silently finds nothing.
    expect(files.length).toBeGreaterThan(50);
    expect([...graph.values()].reduce((n, t) => n + t.length, 0)).toBeGreaterThan(200);
  });
});

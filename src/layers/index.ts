import type { Layer, LayerKind } from '../model/ir.ts';
import { binarize, type QBinarize } from './binarize.ts';
import { clip, type QClip } from './clip.ts';
import { dense, type QDense } from './dense.ts';
import type { LayerModule } from './layer.ts';
import { leakyRelu, type QLeakyRelu } from './leaky-relu.ts';
import { maxpool, type QMaxPool } from './maxpool.ts';
import { mul, type QMul } from './mul.ts';
import { normalize, type QNormalize } from './normalize.ts';
import { type QRelu, relu } from './relu.ts';
import { type QHardSigmoid, sigmoid } from './sigmoid.ts';
import { type QSparse, sparse } from './sparse.ts';
import { type QTreeEnsemble, treeEnsemble } from './tree-ensemble.ts';

/**
 * The registry of layer kinds: each IR kind's module (`src/layers/<kind>.ts`), which the
 * orchestrators ask for everything they do with a layer of that kind.
 */

export type { LayerModule } from './layer.ts';
export type { Cursor, EmitContext } from './emit.ts';

/**
 * A quantized layer. Values are integers at scale 2^s (activations) and 2^(2s)
 * (dense accumulators before their rescale).
 */
export type QLayer = QDense | QSparse | QMaxPool | QRelu | QLeakyRelu | QClip | QHardSigmoid | QMul | QTreeEnsemble | QBinarize | QNormalize;

// Any module, whatever its layer types (the orchestrators check kinds at run time).
type AnyModule = LayerModule<any, any, any>;

/** The built-in kinds; a new IR kind fails to type-check until it has a module here. */
const BUILTIN: { [K in LayerKind]: AnyModule & { kind: K; quantize(layer: Extract<Layer, { kind: K }>, ...rest: never[]): QLayer } } = {
  dense,
  sparse,
  maxpool,
  relu,
  leaky_relu: leakyRelu,
  clip,
  sigmoid,
  tree_ensemble: treeEnsemble,
  mul,
  binarize,
  normalize,
};

const byKind = new Map<string, AnyModule>();
const byQKind = new Map<string, AnyModule>();

/** Registers a layer kind (the built-in ones are registered here; a test may add its own). */
export function registerLayer(module: AnyModule): void {
  if (byKind.has(module.kind) || byQKind.has(module.qkind)) throw new Error(`layer kind ${module.kind} is already registered`);
  byKind.set(module.kind, module);
  byQKind.set(module.qkind, module);
}

for (const m of Object.values(BUILTIN)) registerLayer(m);

/** The module of an IR layer kind. */
export function layerModule(kind: string): AnyModule {
  const m = byKind.get(kind);
  if (!m) throw new Error(`unknown layer kind ${kind}`);
  return m;
}

/** The module of a quantized layer kind. */
export function qlayerModule(kind: string): AnyModule {
  const m = byQKind.get(kind);
  if (!m) throw new Error(`unknown quantized layer kind ${kind}`);
  return m;
}

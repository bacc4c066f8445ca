import { ZkinferError } from '../core/errors.ts';

/**
 * How large a model the service will import. An upload is untrusted: a 300-byte ONNX
 * file can declare a 10^8-element constant, an input 8000 features wide or a million
 * nodes. Every limit is checked from what the file declares (dims, byte lengths, counts)
 * before the memory it implies is allocated, and a model over one is refused with
 * MODEL_TOO_LARGE naming the limit, its value and the node or tensor.
 *
 * The defaults admit every model the repo ships, tests or benchmarks (the largest,
 * ezkl's large_mlp, has 22 nodes, 90,900 parameters and 33,600 constraints) with room
 * to spare; an operator raises them with the ZKINFER_MAX_* environment settings.
 */
export interface ModelLimits {
  /** Bytes of the ONNX file plus its external data files. */
  maxModelBytes: number;
  /** Nodes in the graph (subgraphs and functions included). */
  maxNodes: number;
  /** Bytes of tensor data stored in the model (raw, packed or external), summed. */
  maxInitializerBytes: number;
  /** Elements of any one tensor: declared by its dims, stored, or computed by folding (ConstantOfShape, Expand, Tile...). */
  maxTensorElements: number;
  /** Elements of every constant held during import (stored and folded), summed. */
  maxConstantElements: number;
  /** Weights and biases: stored in the file, and of the lowered layers (a dense n x n is n^2 + n). */
  maxParameters: number;
  /** Widest vector a layer reads or writes, graph inputs included. */
  maxLayerWidth: number;
  /** Constraints of the model circuit, computed from the layer plan before anything is compiled. */
  maxConstraints: number;
  /** Protobuf values the decoder would create for the graph's structure (names, attributes, shapes...). */
  maxProtoFields: number;
}

export const DEFAULT_MODEL_LIMITS: Readonly<ModelLimits> = Object.freeze({
  maxModelBytes: 64 * 1024 * 1024,
  maxNodes: 10_000,
  maxInitializerBytes: 16 * 1024 * 1024,
  maxTensorElements: 1 << 20,
  maxConstantElements: 1 << 22,
  // Circuit compile time grows with the weights (circom spends ~25 s on 50k): 2.5x the
  // largest model the repo benches (784-128-10, 101,770).
  maxParameters: 250_000,
  maxLayerWidth: 4096,
  maxConstraints: 1 << 16,
  maxProtoFields: 1_000_000,
});

/** Nesting of protobuf messages (subgraphs, type descriptions) the scanner follows. */
export const MAX_PROTO_DEPTH = 32;

/** The environment setting of each limit. */
export const MODEL_LIMIT_ENV: { readonly [K in keyof ModelLimits]: string } = {
  maxModelBytes: 'ZKINFER_MAX_MODEL_BYTES',
  maxNodes: 'ZKINFER_MAX_NODES',
  maxInitializerBytes: 'ZKINFER_MAX_INITIALIZER_BYTES',
  maxTensorElements: 'ZKINFER_MAX_TENSOR_ELEMENTS',
  maxConstantElements: 'ZKINFER_MAX_CONSTANT_ELEMENTS',
  maxParameters: 'ZKINFER_MAX_PARAMETERS',
  maxLayerWidth: 'ZKINFER_MAX_LAYER_WIDTH',
  maxConstraints: 'ZKINFER_MAX_CONSTRAINTS',
  maxProtoFields: 'ZKINFER_MAX_PROTO_FIELDS',
};

/** The defaults with some limits replaced. */
export function modelLimits(overrides: Partial<ModelLimits> = {}): ModelLimits {
  const out = { ...DEFAULT_MODEL_LIMITS };
  for (const [k, v] of Object.entries(overrides) as [keyof ModelLimits, number | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Reads the ZKINFER_MAX_* settings (unset ones keep their defaults). Returns every
 * problem at once, so a process config can report them all at boot.
 */
export function modelLimitsFromEnv(env: Record<string, string | undefined> = process.env): { limits: ModelLimits; problems: string[] } {
  const limits = { ...DEFAULT_MODEL_LIMITS };
  const problems: string[] = [];
  for (const key of Object.keys(MODEL_LIMIT_ENV) as (keyof ModelLimits)[]) {
    const raw = env[MODEL_LIMIT_ENV[key]];
    if (raw === undefined || raw.trim() === '') continue;
    const v = parseLimit(raw);
    if (v === null) problems.push(`${MODEL_LIMIT_ENV[key]} must be a positive whole number (got "${raw.slice(0, 40)}")`);
    else limits[key] = v;
  }
  return { limits, problems };
}

/** A positive safe integer, with `_` separators allowed (`1_000_000`). */
export function parseLimit(raw: string): number | null {
  const s = raw.trim().replaceAll('_', '');
  if (!/^\d{1,16}$/.test(s)) return null;
  const v = Number(s);
  return Number.isSafeInteger(v) && v > 0 ? v : null;
}

/**
 * Refuses `amount` when it is over `limits[limit]`. `where` names the node, tensor or
 * input it was found at; it becomes the error's field (the limit's name when absent).
 */
export function checkLimit(limits: ModelLimits, limit: keyof ModelLimits, amount: number, what: string, where?: string): void {
  if (!(amount <= limits[limit])) throw tooLarge(limits, limit, amount, what, where);
}

export function tooLarge(limits: ModelLimits, limit: keyof ModelLimits, amount: number, what: string, where?: string): ZkinferError {
  const shown = Number.isFinite(amount) ? amount.toLocaleString('en-US') : 'more than can be counted';
  return new ZkinferError(
    'MODEL_TOO_LARGE',
    `${where ? `"${where}": ` : ''}${what} is ${shown}, over the limit ${limit} = ${limits[limit].toLocaleString('en-US')} (setting ${MODEL_LIMIT_ENV[limit]})`,
    where ?? limit,
  );
}

/**
 * Elements of a tensor of `shape`, or an error naming `where` when a dimension is not a
 * non-negative integer. Computed in floating point: an absurd product is Infinity or
 * large, never a wrapped small number.
 */
export function elementCount(shape: ArrayLike<number>, where: string): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d < 0) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `"${where}": dimension ${d} of shape [${Array.from(shape).slice(0, 8).join(',')}${shape.length > 8 ? ',...' : ''}] is not a non-negative integer`,
        where,
      );
    }
    n *= d;
  }
  return n;
}

import { ZkinferError } from '../../core/errors.ts';
import type { SparseLayer } from '../ir.ts';
import { checkLimit, tooLarge } from '../limits.ts';
import { attrInt, attrInts, attrString } from '../onnx/attributes.ts';
import type { NodeProto } from '../onnx/file.ts';
import type { Lowering } from './context.ts';
import { type Activation, nodeName } from './values.ts';

/**
 * The geometry convolutions and pools share (NCHW, batch 1, any number of spatial
 * dimensions): each output position's window of input taps, with strides, pads, dilations
 * and auto_pad per the ONNX operator spec, and the assembly of a sparse layer from them.
 */

export const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Per spatial dimension: for each output position, its taps (kernel offset, input position). */
export interface DimTaps {
  ptr: Int32Array;
  kk: Int32Array;
  src: Int32Array;
}

/**
 * Taps of one dimension, listing only those `at` maps inside the input (>= 0). The scan
 * costs output length x kernel size, both from the file (pads and kernels are
 * attributes): checked first, against the layer width and 16 x maxParameters.
 */
export function dimTaps(L: Lowering, node: NodeProto, outLen: number, k: number, at: (o: number, kk: number) => number): DimTaps {
  const where = nodeName(node);
  checkLimit(L.limits, 'maxLayerWidth', outLen, `the output length of one spatial axis of ${node.opType}`, where);
  if (outLen * k > 16 * L.limits.maxParameters) {
    throw tooLarge(
      L.limits,
      'maxParameters',
      outLen * k,
      `the kernel positions ${node.opType} would scan on one spatial axis (output length ${outLen} x kernel ${k}, allowed up to 16 x the limit)`,
      where,
    );
  }
  const ptr = new Int32Array(outLen + 1);
  let n = 0;
  for (let o = 0; o < outLen; o++) {
    for (let j = 0; j < k; j++) if (at(o, j) >= 0) n++;
    ptr[o + 1] = n;
  }
  const kk = new Int32Array(n);
  const src = new Int32Array(n);
  let t = 0;
  for (let o = 0; o < outLen; o++) {
    for (let j = 0; j < k; j++) {
      const i = at(o, j);
      if (i < 0) continue;
      kk[t] = j;
      src[t++] = i;
    }
  }
  return { ptr, kk, src };
}

/** Taps of one output position, across dimensions: flat kernel offset and flat input position. */
export function windowOf(taps: DimTaps[], outPos: number[], kernel: number[], inSpatial: number[]): { kk: number[]; src: number[] } {
  let kk = [0];
  let src = [0];
  for (let d = 0; d < taps.length; d++) {
    const t = taps[d];
    const nk: number[] = [];
    const ns: number[] = [];
    for (let a = 0; a < kk.length; a++) {
      for (let j = t.ptr[outPos[d]]; j < t.ptr[outPos[d] + 1]; j++) {
        nk.push(kk[a] * kernel[d] + t.kk[j]);
        ns.push(src[a] * inSpatial[d] + t.src[j]);
      }
    }
    kk = nk;
    src = ns;
  }
  return { kk, src };
}

/** Every output position of a spatial shape, row-major. */
export function* positions(shape: number[]): Generator<number[]> {
  const pos = shape.map(() => 0);
  const total = prod(shape);
  for (let n = 0; n < total; n++) {
    yield pos;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++pos[d] < shape[d]) break;
      pos[d] = 0;
    }
  }
}

export interface Geometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  outSpatial: number[];
}

export function refuse(node: NodeProto, why: string): ZkinferError {
  return new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${nodeName(node)}": ${why}`, nodeName(node));
}

/** Spatial dimensions of an NCHW activation (batch 1). */
export function spatialOf(node: NodeProto, act: Activation): { C: number; spatial: number[] } {
  if (act.shape.length < 3 || act.shape[0] !== 1) throw refuse(node, `needs an activation of shape [1, C, spatial...], got [${act.shape}]`);
  return { C: act.shape[1], spatial: act.shape.slice(2) };
}

export function listAttr(node: NodeProto, name: string, n: number, dflt: number): number[] {
  const v = attrInts(node, name) ?? Array(n).fill(dflt);
  if (v.length !== n || v.some((x) => !Number.isInteger(x)))
    throw refuse(node, `attribute ${name} = [${v}] does not have one whole number per spatial dimension (${n})`);
  return v;
}

/** Kernel, strides, dilations and pads (auto_pad and ceil_mode resolved) and the output size. */
export function geometry(node: NodeProto, spatial: number[], kernel: number[]): Geometry {
  const n = spatial.length;
  if (kernel.length !== n || kernel.some((k) => !Number.isInteger(k) || k < 1)) throw refuse(node, `kernel [${kernel}] does not fit ${n} spatial dimensions`);
  const strides = listAttr(node, 'strides', n, 1);
  const dilations = listAttr(node, 'dilations', n, 1);
  if (strides.some((s) => s < 1)) throw refuse(node, `attribute strides = [${strides}] must be positive`);
  if (dilations.some((s) => s < 1)) throw refuse(node, `attribute dilations = [${dilations}] must be positive`);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  const ext = kernel.map((k, d) => (k - 1) * dilations[d] + 1);
  let padsBegin: number[];
  let padsEnd: number[];
  let outSpatial: number[];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    outSpatial = spatial.map((x, d) => Math.ceil(x / strides[d]));
    const total = outSpatial.map((o, d) => Math.max(0, (o - 1) * strides[d] + ext[d] - spatial[d]));
    padsBegin = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    padsEnd = total.map((t, d) => t - padsBegin[d]);
  } else {
    const pads = autoPad === 'VALID' ? Array(2 * n).fill(0) : listAttr(node, 'pads', 2 * n, 0);
    if (pads.some((p) => p < 0)) throw refuse(node, `attribute pads = [${pads}] must not be negative`);
    padsBegin = pads.slice(0, n);
    padsEnd = pads.slice(n);
    outSpatial = spatial.map((x, d) => {
      const span = x + padsBegin[d] + padsEnd[d] - ext[d];
      if (span < 0) return 0;
      let o = (ceil ? Math.ceil(span / strides[d]) : Math.floor(span / strides[d])) + 1;
      // A window that would start in the end padding is dropped (ceil mode).
      if (ceil && (o - 1) * strides[d] >= x + padsBegin[d]) o--;
      return o;
    });
  }
  if (outSpatial.some((o) => o < 1)) throw refuse(node, `the kernel (extent [${ext}]) does not fit the padded input [${spatial}]`);
  return { kernel, strides, dilations, padsBegin, padsEnd, outSpatial };
}

/** Conv taps: input position o * s - pb + kk * d, inside the input. */
export function convTaps(L: Lowering, node: NodeProto, g: Geometry, spatial: number[]): DimTaps[] {
  return spatial.map((x, d) =>
    dimTaps(L, node, g.outSpatial[d], g.kernel[d], (o, kk) => {
      const i = o * g.strides[d] - g.padsBegin[d] + kk * g.dilations[d];
      return i >= 0 && i < x ? i : -1;
    }),
  );
}

export const tapCount = (taps: DimTaps[]) => prod(taps.map((t) => t.ptr[t.ptr.length - 1]));

/**
 * Assembles a sparse layer: output (m, position) sums, over the input channels `chans(m)`
 * and the window's taps, weight(m, c, flat kernel offset) times input (c, tap). Terms with
 * a zero weight are left out.
 */
export function assemble(
  L: Lowering,
  node: NodeProto,
  C: number,
  spatial: number[],
  M: number,
  outSpatial: number[],
  taps: DimTaps[],
  kernel: number[],
  perOut: number,
  chans: (m: number) => number[],
  weight: (m: number, c: number, kk: number, window: number) => number,
  bias: (m: number) => number,
): SparseLayer {
  const inSize = C * prod(spatial);
  const outSize = M * prod(outSpatial);
  const terms = M * perOut * tapCount(taps);
  L.reserveLayer(node, inSize, outSize, terms + outSize);
  const rowPtr = new Int32Array(outSize + 1);
  const cols = new Int32Array(terms);
  const vals = new Float64Array(terms);
  const b = new Float64Array(outSize);
  const inSpatial = prod(spatial);
  let n = 0;
  let row = 0;
  for (let m = 0; m < M; m++) {
    const cs = chans(m);
    for (const pos of positions(outSpatial)) {
      const w = windowOf(taps, pos, kernel, spatial);
      for (const c of cs) {
        for (let t = 0; t < w.kk.length; t++) {
          const v = weight(m, c, w.kk[t], w.kk.length);
          if (v === 0) continue;
          cols[n] = c * inSpatial + w.src[t];
          vals[n++] = v;
        }
      }
      b[row] = bias(m);
      rowPtr[++row] = n;
    }
  }
  const name = nodeName(node);
  return { kind: 'sparse', name, inSize, outSize, rowPtr, cols: cols.slice(0, n), vals: vals.slice(0, n), bias: b, nodes: [name] };
}

import type { ConvStructure, SparseLayer } from '../ir.ts';

/**
 * The convolution structure a sparse layer may carry (1D as a 2D with height 1): its
 * terms are exactly the kernel's weights at the taps inside the input, so the circuit can
 * be given the kernel once (ConvConst) instead of every term. `csrFromConv` builds the
 * terms from the kernel, so both forms hold the same numbers, bit for bit.
 */

/** Number of taps inside the input, summed over the output positions, per dimension. */
function taps1(out: number, k: number, s: number, d: number, p: number, len: number): number {
  let n = 0;
  for (let o = 0; o < out; o++)
    for (let j = 0; j < k; j++) {
      const i = o * s - p + j * d;
      if (i >= 0 && i < len) n++;
    }
  return n;
}

/** Terms the structure implies, zero weights included: an upper bound on the nonzeros, before anything is built. */
export function convTermCount(c: ConvStructure): number {
  const [C, H, W] = c.inShape;
  const [M, OH, OW] = c.outShape;
  return (
    M * (C / c.group) * taps1(OH, c.kernel[0], c.strides[0], c.dilations[0], c.pads[0], H) * taps1(OW, c.kernel[1], c.strides[1], c.dilations[1], c.pads[1], W)
  );
}

/** The compressed rows of a convolution (zero weights left out), with the given per-output bias. */
export function csrFromConv(c: ConvStructure, bias: Float64Array, name: string, nodes: string[]): SparseLayer {
  const [C, H, W] = c.inShape;
  const [M, OH, OW] = c.outShape;
  const [KH, KW] = c.kernel;
  const CG = C / c.group;
  const MG = M / c.group;
  const outSize = M * OH * OW;
  const bound = convTermCount(c);
  const rowPtr = new Int32Array(outSize + 1);
  const cols = new Int32Array(bound);
  const vals = new Float64Array(bound);
  let n = 0;
  let row = 0;
  for (let m = 0; m < M; m++) {
    const g = Math.floor(m / MG);
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let cc = 0; cc < CG; cc++) {
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * c.strides[0] - c.pads[0] + kh * c.dilations[0];
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * c.strides[1] - c.pads[1] + kw * c.dilations[1];
              if (iw < 0 || iw >= W) continue;
              const v = c.weights[((m * CG + cc) * KH + kh) * KW + kw];
              if (v === 0) continue;
              cols[n] = ((g * CG + cc) * H + ih) * W + iw;
              vals[n++] = v;
            }
          }
        }
        rowPtr[++row] = n;
      }
    }
  }
  return { kind: 'sparse', name, inSize: C * H * W, outSize, rowPtr, cols: cols.slice(0, n), vals: vals.slice(0, n), bias, nodes, conv: c };
}

/**
 * second ∘ first for two convolutions when the second has no padding: one convolution
 * with stride s1·s2, the first's padding, dilation 1 and a kernel spanning
 * (k1 - 1)·d1 + s1·d2·(k2 - 1) + 1 (taps of the first's kernel that the grid skips are
 * zeros), all channels mixed. Output o reads input o·s1·s2 - p1 + e for each offset e:
 * exactly the taps the two layers read in turn, the first's padding contributing zero
 * in both. Null when the second is padded.
 */
export function composeConv(a: ConvStructure, b: ConvStructure): ConvStructure | null {
  if (b.pads.some((p) => p !== 0)) return null;
  const [C] = a.inShape;
  const [M] = b.outShape;
  const [MA] = a.outShape;
  const ext = [0, 1].map((d) => (a.kernel[d] - 1) * a.dilations[d] + a.strides[d] * b.dilations[d] * (b.kernel[d] - 1) + 1);
  const [EH, EW] = ext;
  const weights = new Float64Array(M * C * EH * EW);
  const CGa = C / a.group;
  const MGa = MA / a.group;
  const CGb = MA / b.group;
  const MGb = M / b.group;
  for (let m = 0; m < M; m++) {
    const gb = Math.floor(m / MGb);
    for (let jj = 0; jj < CGb; jj++) {
      const j = gb * CGb + jj;
      const ga = Math.floor(j / MGa);
      for (let kh2 = 0; kh2 < b.kernel[0]; kh2++)
        for (let kw2 = 0; kw2 < b.kernel[1]; kw2++) {
          const w2 = b.weights[((m * CGb + jj) * b.kernel[0] + kh2) * b.kernel[1] + kw2];
          if (w2 === 0) continue;
          for (let cc = 0; cc < CGa; cc++) {
            const c = ga * CGa + cc;
            for (let kh1 = 0; kh1 < a.kernel[0]; kh1++)
              for (let kw1 = 0; kw1 < a.kernel[1]; kw1++) {
                const w1 = a.weights[((j * CGa + cc) * a.kernel[0] + kh1) * a.kernel[1] + kw1];
                if (w1 === 0) continue;
                const eh = kh1 * a.dilations[0] + a.strides[0] * b.dilations[0] * kh2;
                const ew = kw1 * a.dilations[1] + a.strides[1] * b.dilations[1] * kw2;
                weights[((m * C + c) * EH + eh) * EW + ew] += w2 * w1;
              }
          }
        }
    }
  }
  return {
    inShape: a.inShape,
    outShape: b.outShape,
    kernel: [EH, EW],
    strides: [a.strides[0] * b.strides[0], a.strides[1] * b.strides[1]],
    dilations: [1, 1],
    pads: a.pads,
    group: 1,
    weights,
  };
}

/** The structure with output channel m's weights scaled by s[m], or null when `scale` varies within a channel. */
export function scaleConvOutputs(c: ConvStructure, scale: Float64Array): ConvStructure | null {
  const [M, OH, OW] = c.outShape;
  const per = OH * OW;
  const s = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    s[m] = scale[m * per];
    for (let k = 1; k < per; k++) if (scale[m * per + k] !== s[m]) return null;
  }
  const K = c.weights.length / M;
  return { ...c, weights: Float64Array.from(c.weights, (v, i) => s[Math.floor(i / K)] * v) };
}

/** The structure with input channel c's weights scaled by s[c], or null when `scale` varies within a channel. */
export function scaleConvInputs(c: ConvStructure, scale: Float64Array): ConvStructure | null {
  const [C, H, W] = c.inShape;
  const per = H * W;
  const s = new Float64Array(C);
  for (let ch = 0; ch < C; ch++) {
    s[ch] = scale[ch * per];
    for (let k = 1; k < per; k++) if (scale[ch * per + k] !== s[ch]) return null;
  }
  const [M] = c.outShape;
  const CG = C / c.group;
  const MG = M / c.group;
  const K = c.kernel[0] * c.kernel[1];
  return {
    ...c,
    weights: Float64Array.from(c.weights, (v, i) => {
      const m = Math.floor(i / (CG * K));
      const cc = Math.floor(i / K) % CG;
      return v * s[Math.floor(m / MG) * CG + cc];
    }),
  };
}

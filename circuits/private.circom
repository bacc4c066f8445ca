pragma circom 2.1.6;

include "poseidon.circom";

// Templates of private models only: their parameters are private inputs, bound by a
// commitment (src/layers/emit.ts `ParamSink`, src/circuit/generate.ts). A public model's
// circuit does not include this file, and its circuit hash does not cover it.

// y = W.x + b with W and b private inputs (the parameter witness): one constraint per
// product, the sums are linear.
template DensePrivate(IN, OUT) {
    signal input in[IN];
    signal input w[OUT][IN];
    signal input b[OUT];
    signal output out[OUT];
    signal prod[OUT][IN];
    for (var j = 0; j < OUT; j++) {
        var acc = b[j];
        for (var i = 0; i < IN; i++) {
            prod[j][i] <== w[j][i] * in[i];
            acc += prod[j][i];
        }
        out[j] <== acc;
    }
}

// SparseConst with private weights w[NNZ] and biases b[OUT] (the pattern ROW, COL is
// architecture): one constraint per term. Every w[k] is in one product, so a layer without
// terms still has its one (zero) weight.
template SparsePrivate(IN, OUT, NNZ, ROW, COL) {
    signal input in[IN];
    signal input w[NNZ];
    signal input b[OUT];
    signal output out[OUT];
    signal prod[NNZ];
    for (var k = 0; k < NNZ; k++) {
        prod[k] <== w[k] * in[COL[k]];
    }
    for (var j = 0; j < OUT; j++) {
        var acc = b[j];
        for (var k = ROW[j]; k < ROW[j + 1]; k++) {
            acc += prod[k];
        }
        out[j] <== acc;
    }
}

// Commitment to a private model's N parameters (signed integers, each taken as the field
// element it stands for, v mod r: no range check and no packing is needed for the map to be
// injective) and a secret blinding value, so that a small model cannot be found by hashing
// candidates. The chain of InputCommitment: h = Poseidon(blinding, p[0..14]), then
// h = Poseidon(h, next 15) per further block. src/bundle/input-commitment.ts
// (`parameterCommitment`) computes the same outside the circuit.
template ParamCommitment(N) {
    signal input in[N];
    signal input blinding;
    signal output out;

    var first = N < 15 ? N : 15;
    var blocks = 1 + (N - first + 14) \ 15;
    component h[blocks];
    h[0] = Poseidon(first + 1);
    h[0].inputs[0] <== blinding;
    for (var e = 0; e < first; e++) {
        h[0].inputs[e + 1] <== in[e];
    }
    var done = first;
    for (var b = 1; b < blocks; b++) {
        var take = N - done < 15 ? N - done : 15;
        h[b] = Poseidon(take + 1);
        h[b].inputs[0] <== h[b - 1].out;
        for (var e = 0; e < take; e++) {
            h[b].inputs[e + 1] <== in[done + e];
        }
        done += take;
    }
    out <== h[blocks - 1].out;
}

// K signed private values v[k] in [-2^(W-1), 2^(W-1)) packed in one parameter (a private
// tree layer's thresholds and leaf weights, src/layers/tree-private.ts):
// word = sum_k (v[k] + 2^(W-1)) 2^(k W) with K W <= 252, so its digits are unique. The
// digits range-check each v[k] and cost the commitment one parameter for K values.
// Cost: K W.
template UnpackSigned(K, W) {
    signal input word;
    signal output v[K];
    signal bits[K][W];
    var packed = 0;
    for (var k = 0; k < K; k++) {
        var d = 0;
        for (var i = 0; i < W; i++) {
            bits[k][i] <-- (word >> (k * W + i)) & 1;
            bits[k][i] * (bits[k][i] - 1) === 0;
            d += bits[k][i] * (1 << i);
        }
        v[k] <== d - (1 << (W - 1));
        packed += d * (1 << (k * W));
    }
    packed === word;
}

// A private tree node's comparison le = [x <= t]: x a feature in [-2^(B-1), 2^(B-1))
// (range-checked by whoever produced it), t a threshold in [-2^B, 2^B) (range-checked by
// UnpackSigned), so t - x lies within (-3 2^(B-1), 3 2^(B-1)) and its decomposition in
// B + 2 bits cannot wrap: its top digit is [t - x >= 0]. Every t in that range gives every
// x its comparison. Cost: B + 2.
template LeThreshold(B) {
    signal input x;
    signal input t;
    signal output le;
    component d = Rescale(B + 2, 0);
    d.in <== t - x;
    le <== d.pos;
}

// A private tree node's equality eq = [x = t] for a private t (any field element: x - t
// is zero, or has an inverse and eq is 0). Cost: 2.
template EqPrivate() {
    signal input x;
    signal input t;
    signal output eq;
    signal inv;
    inv <-- x - t != 0 ? 1 / (x - t) : 0;
    eq <== 1 - (x - t) * inv;
    (x - t) * eq === 0;
}

pragma circom 2.1.6;

// Layer templates for zkinfer circuits. Values are signed fixed-point integers; a
// negative value v is the field element p + v. Every `<--` hint below is followed by
// the constraints that pin it: a test changes each hint in an honest witness and
// expects the constraint check to fail.

// Splits v, assumed in [-2^(N-1), 2^(N-1)), as v = q * 2^K + r with 0 <= r < 2^K and
// returns q (= floor(v / 2^K)) and pos (= 1 when q >= 0).
// Cost: N constraints.
template Rescale(N, K) {
    signal input in;
    signal output out;
    signal output pos;
    signal bits[N];

    // Shift into [0, 2^N) so that the decomposition is of a non-negative integer.
    var shifted = in + (1 << (N - 1));

    // Hint: the binary digits of the shifted value. Pinned below: each digit is
    // boolean, and the digits recombine to exactly `shifted`. With N < 253, 2^N < p,
    // so these two facts force the unique in-range decomposition; an input outside
    // the range has no satisfying digits at all.
    var recombined = 0;
    for (var i = 0; i < N; i++) {
        bits[i] <-- (shifted >> i) & 1;
        bits[i] * (bits[i] - 1) === 0;
        recombined += bits[i] * (1 << i);
    }
    recombined === shifted;

    // q + 2^(N-1-K) is the high N-K digits; the low K digits are the remainder, which
    // is dropped (floor division). The top digit is set exactly when q >= 0.
    var high = 0;
    for (var i = K; i < N; i++) {
        high += bits[i] * (1 << (i - K));
    }
    out <== high - (1 << (N - 1 - K));
    pos <== bits[N - 1];
}

// y = W.x + B with W and B compile-time constants: a linear map, so it costs no
// multiplicative constraint. The outputs are linear signals that the optimizer folds
// into the next layer's constraints.
template DenseConst(IN, OUT, W, B) {
    signal input in[IN];
    signal output out[OUT];
    for (var j = 0; j < OUT; j++) {
        var acc = B[j];
        for (var i = 0; i < IN; i++) {
            acc += W[j][i] * in[i];
        }
        out[j] <== acc;
    }
}

// y = A.x + B with A a compile-time constant sparse matrix in compressed rows: output j
// sums W[k] * in[COL[k]] for k in [ROW[j], ROW[j + 1]) (Conv, pooling, Pad, elementwise
// maps). Linear, like DenseConst: no multiplicative constraint, and only the nonzero
// terms are written.
template SparseConst(IN, OUT, NNZ, ROW, COL, W, B) {
    signal input in[IN];
    signal output out[OUT];
    for (var j = 0; j < OUT; j++) {
        var acc = B[j];
        for (var k = ROW[j]; k < ROW[j + 1]; k++) {
            acc += W[k] * in[COL[k]];
        }
        out[j] <== acc;
    }
}

// A convolution with compile-time constant weights, as a sparse linear map whose terms
// are computed here instead of listed: input [C][H][W], output [M][OH][OW], kernel
// WT[M][C / G][KH][KW], strides, dilations, padding PH / PW at the start of each axis
// (taps outside the input contribute nothing), G groups, bias B per output. Linear.
template ConvConst(C, H, W, M, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW, G, WT, B) {
    signal input in[C * H * W];
    signal output out[M * OH * OW];
    var CG = C \ G;
    var MG = M \ G;
    for (var m = 0; m < M; m++) {
        var g = m \ MG;
        for (var oh = 0; oh < OH; oh++) {
            for (var ow = 0; ow < OW; ow++) {
                var acc = B[(m * OH + oh) * OW + ow];
                for (var c = 0; c < CG; c++) {
                    for (var kh = 0; kh < KH; kh++) {
                        var ih = oh * SH - PH + kh * DH;
                        for (var kw = 0; kw < KW; kw++) {
                            var iw = ow * SW - PW + kw * DW;
                            var w = WT[((m * CG + c) * KH + kh) * KW + kw];
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W && w != 0) {
                                acc += w * in[((g * CG + c) * H + ih) * W + iw];
                            }
                        }
                    }
                }
                out[(m * OH + oh) * OW + ow] <== acc;
            }
        }
    }
}

// max(a, b) for values in [-2^(N-1), 2^(N-1)): the sign digit of a - b, pinned by a
// range-checked decomposition (Rescale), selects a or b.
// Cost: N + 2 constraints.
template Max2(N) {
    signal input a;
    signal input b;
    signal output out;
    component d = Rescale(N + 1, 0);
    d.in <== a - b;
    out <== b + d.pos * (a - b);
}

// Max pool: out[j] = max of in[IDX[k]] for k in [ROW[j], ROW[j + 1]), each window of at
// least one value, by a chain of Max2. Values must lie in [-2^(N-1), 2^(N-1)).
// Cost: (NIDX - OUT) * (N + 2) constraints.
template MaxPoolConst(IN, OUT, NIDX, N, ROW, IDX) {
    signal input in[IN];
    signal output out[OUT];
    component mx[NIDX - OUT];
    var p = 0;
    for (var j = 0; j < OUT; j++) {
        if (ROW[j + 1] - ROW[j] == 1) {
            out[j] <== in[IDX[ROW[j]]];
        } else {
            for (var k = ROW[j] + 1; k < ROW[j + 1]; k++) {
                mx[p] = Max2(N);
                if (k == ROW[j] + 1) {
                    mx[p].a <== in[IDX[ROW[j]]];
                } else {
                    mx[p].a <== mx[p - 1].out;
                }
                mx[p].b <== in[IDX[k]];
                p++;
            }
            out[j] <== mx[p - 1].out;
        }
    }
}

// ReLU from a sign digit that an earlier Rescale already pinned: y = x if pos else 0.
// Cost: 1 constraint.
template ReluFromSign() {
    signal input in;
    signal input pos;
    signal output out;
    out <== in * pos;
}

// Leaky ReLU / PReLU with slope ALPHA at scale 2^S: y = x if x >= 0, else
// round(ALPHA * x / 2^S). t = x * 2^S when pos, ALPHA * x otherwise, then rescaled.
// Cost: 1 + N constraints.
template LeakyReluFromSign(N, S, ALPHA) {
    signal input in;
    signal input pos;
    signal output out;
    signal posIn;
    posIn <== pos * in;
    component r = Rescale(N, S);
    r.in <== ALPHA * in + ((1 << S) - ALPHA) * posIn + (1 << (S - 1));
    out <== r.out;
}

// Clamp to [LO, HI] for values of width W (so differences need W + 1 digits).
// HAS_LO / HAS_HI say which bounds exist. Cost: (W + 2) per bound.
template Clip(W, HAS_LO, LO, HAS_HI, HI) {
    signal input in;
    signal output out;
    signal mid;
    if (HAS_LO == 1) {
        // mid = LO + max(in - LO, 0)
        component lo = Rescale(W + 1, 0);
        lo.in <== in - LO;
        component lr = ReluFromSign();
        lr.in <== lo.out;
        lr.pos <== lo.pos;
        mid <== LO + lr.out;
    } else {
        mid <== in;
    }
    if (HAS_HI == 1) {
        // out = HI - max(HI - mid, 0)
        component hi = Rescale(W + 1, 0);
        hi.in <== HI - mid;
        component hr = ReluFromSign();
        hr.in <== hi.out;
        hr.pos <== hi.pos;
        out <== HI - hr.out;
    } else {
        out <== mid;
    }
}

// Index of the first maximum of M values of width W.
// Cost: M * (W + 3) constraints (the fixed sign digit of each difference needs no
// booleanity constraint once it is pinned to 1).
template Argmax(M, W) {
    signal input in[M];
    signal output out;
    signal onehot[M];
    signal picked[M];

    // Hint: the index of the first maximum, as a one-hot vector.
    // (Circom's relational operators compare field elements as signed values.)
    var best = 0;
    for (var i = 1; i < M; i++) {
        if (in[i] > in[best]) { best = i; }
    }
    // Pinned: each entry is boolean and exactly one is set ...
    var total = 0;
    var index = 0;
    for (var i = 0; i < M; i++) {
        onehot[i] <-- (i == best) ? 1 : 0;
        onehot[i] * (onehot[i] - 1) === 0;
        total += onehot[i];
        index += i * onehot[i];
    }
    total === 1;
    // ... the selected value is >= every value after the index and > every value
    // before it (so ties resolve to the first maximum and the index is unique).
    var sel = 0;
    for (var i = 0; i < M; i++) {
        picked[i] <== onehot[i] * in[i];
        sel += picked[i];
    }
    component diff[M];
    for (var j = 0; j < M; j++) {
        var after = 0;
        for (var k = j + 1; k < M; k++) {
            after += onehot[k];
        }
        // sel - in[j] - [index > j] lies in (-2^(W+1), 2^(W+1)) and must be >= 0:
        // its sign digit must be set.
        diff[j] = Rescale(W + 2, 0);
        diff[j].in <== sel - in[j] - after;
        diff[j].pos === 1;
    }
    out <== index;
}

// Packs N signed W-bit values into ceil(N / (250 \ W)) field elements,
// out[e] = sum_j (v_j + 2^(W-1)) * 2^(W*j) over its block of 250 \ W values, for the
// public outputs and InputCommitment; src/quant/pack.ts computes the same outside. Linear (one
// constraint per element). Injective because every value is already constrained to W
// bits by whoever produced it (range-checked inputs, rescaled or clipped activations,
// 0/1 thresholds, an argmax index), so fewer public signals carry the same values.
template Pack(N, W) {
    var P = 250 \ W;
    var M = (N + P - 1) \ P;
    signal input in[N];
    signal output out[M];
    var acc[M];
    for (var e = 0; e < M; e++) {
        acc[e] = 0;
    }
    for (var i = 0; i < N; i++) {
        acc[i \ P] += (in[i] + (1 << (W - 1))) * (1 << (W * (i % P)));
    }
    for (var e = 0; e < M; e++) {
        out[e] <== acc[e];
    }
}

// Checks 0 <= in < 2^N (in is known to lie within (-2^N, 2^N): a negative value is a
// field element near p, which has no N-bit decomposition). Cost: N constraints.
template NonNegative(N) {
    signal input in;
    signal bits[N];
    // Hint: the binary digits of in. Pinned: each digit is boolean and they recombine to in.
    var recombined = 0;
    for (var i = 0; i < N; i++) {
        bits[i] <-- (in >> i) & 1;
        bits[i] * (bits[i] - 1) === 0;
        recombined += bits[i] * (1 << i);
    }
    recombined === in;
}

// Comparison bits le[j] = [in <= T[j]] for M >= 3 ascending thresholds T[j], each in
// [-2^(B-1), 2^(B-1) - 2], of a value in [-2^(B-1), 2^(B-1)) (range-checked by whoever
// produced it). The bits are a thermometer code (0 up to the value's bucket among the
// thresholds, 1 from there on): bucket k holds T[k-1] < in <= T[k] (bucket 0: in <= T[0];
// bucket M: in > T[M-1]). They are signals in their own right, so every node that tests
// one reads a single signal. Cost: M + 1 + 2B constraints for all M bits.
template TreeBuckets(M, B, T) {
    signal input in;
    signal output le[M];
    var LO = -(1 << (B - 1));
    var HI = (1 << (B - 1)) - 1;
    // Hint: the comparisons (circom compares field elements as signed values). Pinned:
    // le[0] and each step le[j] - le[j-1] are 0 or 1 and le[M-1] is 0 or 1, so the bits
    // rise once at most (a bucket k); the value lies within bucket k's ends (two range
    // checks), which only its own bucket satisfies since the buckets partition
    // [-2^(B-1), 2^(B-1)).
    for (var j = 0; j < M; j++) {
        le[j] <-- (in <= T[j]) ? 1 : 0;
    }
    le[0] * (le[0] - 1) === 0;
    for (var j = 1; j < M; j++) {
        (le[j] - le[j - 1]) * (le[j] - le[j - 1] - 1) === 0;
    }
    le[M - 1] * (le[M - 1] - 1) === 0;
    // The bucket's ends, telescoped over the bits: (1 - le[j]) is 1 exactly for j < k.
    var lower = LO;
    var upper = T[0];
    for (var j = 0; j < M; j++) {
        if (j == 0) {
            lower += (1 - le[j]) * (T[0] + 1 - LO);
        } else {
            lower += (1 - le[j]) * (T[j] - T[j - 1]);
        }
        if (j == M - 1) {
            upper += (1 - le[j]) * (HI - T[j]);
        } else {
            upper += (1 - le[j]) * (T[j + 1] - T[j]);
        }
    }
    component above = NonNegative(B);
    above.in <== in - lower;
    component below = NonNegative(B);
    below.in <== upper - in;
}

// ---- ai.onnx.ml Normalizer (L1, L2, MAX): y = x / norm(x) at scale 2^S, rounded half up;
// y = x when the norm is 0 (as onnxruntime). src/quant/ml-plan.ts states the widths and
// checks that no intermediate can wrap around the field; the integer reference computes
// the same.

// floor(a / d) of field elements read as signed integers, d > 0 (hints only).
function signedFloorDiv(a, d) {
    if (a < 0) {
        return -((-a + d - 1) \ d);
    }
    return a \ d;
}

// floor(sqrt(v)) for 0 <= v < 2^(2 RB) (hints only; c * c never wraps for c < 2^RB).
function isqrtHint(v, RB) {
    var r = 0;
    for (var i = RB - 1; i >= 0; i--) {
        var c = r + (1 << i);
        if (c * c <= v) {
            r = c;
        }
    }
    return r;
}

// out = 1 when in = 0, else 0. Cost: 2 constraints.
template NormIsZero() {
    signal input in;
    signal output out;
    signal inv;
    // Hint: 1 / in (0 for in = 0). Pinned: out = 1 - in * inv and in * out = 0, so in != 0
    // forces out = 0 (and inv = 1 / in), and in = 0 forces out = 1.
    inv <-- in != 0 ? 1 / in : 0;
    out <== 1 - in * inv;
    in * out === 0;
}

// out = floor(num / den) for 1 <= den <= 2^NB, range-checked to W bits (pos: its sign
// digit). Cost: 1 + W + 2 NB constraints.
template DivFloor(W, NB) {
    signal input num;
    signal input den;
    signal output out;
    signal output pos;
    signal q;
    signal qd;
    // Hint: the quotient. Pinned: q has a W-bit signed decomposition, and the remainder
    // num - q * den and den - 1 - (num - q * den) both have NB-bit decompositions, so the
    // remainder lies in [0, den). All magnitudes are far below p / 2 (checked when the
    // circuit is generated), so q * den + remainder = num holds in the integers: q is the
    // floor division, the only one.
    q <-- signedFloorDiv(num, den);
    qd <== q * den;
    component range = Rescale(W, 0);
    range.in <== q;
    out <== range.out;
    pos <== range.pos;
    component rem = NonNegative(NB);
    rem.in <== num - qd;
    component gap = NonNegative(NB);
    gap.in <== den - 1 - num + qd;
}

// L1: norm = sum |in[i]|, |in[i]| = in[i] (2 sign[i] - 1) from the inputs' sign digits
// (pinned by whoever produced them). Cost: N + 2 + N (1 + W + 2 NB).
template NormL1(N, W, NB, S) {
    signal input in[N];
    signal input sign[N];
    signal output out[N];
    signal output pos[N];
    signal mag[N];
    var norm = 0;
    for (var i = 0; i < N; i++) {
        mag[i] <== in[i] * (2 * sign[i] - 1);
        norm += mag[i];
    }
    component zero = NormIsZero();
    zero.in <== norm;
    component div[N];
    for (var i = 0; i < N; i++) {
        div[i] = DivFloor(W, NB);
        div[i].num <== in[i] * (1 << (S + 1)) + norm;
        div[i].den <== 2 * norm + zero.out * (1 << (S + 1));
        out[i] <== div[i].out;
        pos[i] <== div[i].pos;
    }
}

// L2: norm = floor(sqrt(sum in[i]^2)). Cost: N + 1 + RB + 2 KB + 2 + N (1 + W + 2 NB).
template NormL2(N, W, NB, RB, KB, S) {
    signal input in[N];
    signal output out[N];
    signal output pos[N];
    signal sq[N];
    var sum = 0;
    for (var i = 0; i < N; i++) {
        sq[i] <== in[i] * in[i];
        sum += sq[i];
    }
    signal root;
    signal root2;
    // Hint: the integer square root. Pinned: root has RB digits (so root^2 cannot wrap),
    // and sum - root^2 and root^2 + 2 root - sum have KB digits each: root^2 <= sum <
    // (root + 1)^2, which only floor(sqrt(sum)) satisfies.
    root <-- isqrtHint(sum, RB);
    component rootRange = NonNegative(RB);
    rootRange.in <== root;
    root2 <== root * root;
    component below = NonNegative(KB);
    below.in <== sum - root2;
    component above = NonNegative(KB);
    above.in <== root2 + 2 * root - sum;
    component zero = NormIsZero();
    zero.in <== root;
    component div[N];
    for (var i = 0; i < N; i++) {
        div[i] = DivFloor(W, NB);
        div[i].num <== in[i] * (1 << (S + 1)) + root;
        div[i].den <== 2 * root + zero.out * (1 << (S + 1));
        out[i] <== div[i].out;
        pos[i] <== div[i].pos;
    }
}

// MAX (onnxruntime's: the largest value, signed): m = max in[i] by a chain of Max2; with
// sigma = 1 for m >= 0 and -1 for m < 0, norm = sigma m = |m| and y = (sigma x) / norm.
// Cost: (N - 1)(XB + 2) + XB + 1 + 2 + N + N (1 + W + 2 NB).
template NormMax(N, XB, W, NB, S) {
    signal input in[N];
    signal output out[N];
    signal output pos[N];
    component mx[N > 1 ? N - 1 : 1];
    var m = in[0];
    for (var i = 1; i < N; i++) {
        mx[i - 1] = Max2(XB);
        mx[i - 1].a <== m;
        mx[i - 1].b <== in[i];
        m = mx[i - 1].out;
    }
    component sign = Rescale(XB, 0);
    sign.in <== m;
    signal norm;
    norm <== m * (2 * sign.pos - 1);
    component zero = NormIsZero();
    zero.in <== norm;
    signal flip[N];
    component div[N];
    for (var i = 0; i < N; i++) {
        flip[i] <== in[i] * (2 * sign.pos - 1);
        div[i] = DivFloor(W, NB);
        div[i].num <== flip[i] * (1 << (S + 1)) + norm;
        div[i].den <== 2 * norm + zero.out * (1 << (S + 1));
        out[i] <== div[i].out;
        pos[i] <== div[i].pos;
    }
}

pragma circom 2.1.6;

// Templates of models with proven reasons or fairness (src/circuit/explain.ts). A model
// without them does not include this file, and its circuit hash does not cover it.

// The K smallest of N signed contributions c, in ascending order, ties broken by the lower
// index: idx[j] is the j-th selected feature and val[j] its contribution. Each c[i] lies in
// (-2^(B - L - 1), 2^(B - L - 1)) with 2^L >= N, so key[i] = c[i] * N + i orders by value
// then index, every key is distinct, and every key difference lies within (-2^B, 2^B).
// Hint: the selection (sel[j][i] = 1 when row j picks feature i). Pinned: each row picks
// exactly one feature (boolean entries summing to 1); the picked keys strictly increase
// (so the rows pick distinct features); every feature no row picked has a key above the
// last picked one (so the picked ones are the K smallest). Cost: 2KN + (K - 1)B + N(B + 1).
template TopK(N, K, B) {
    signal input c[N];
    signal output idx[K];
    signal output val[K];
    signal sel[K][N];
    signal prod[K][N];
    signal skey[K];
    var key[N];
    for (var i = 0; i < N; i++) {
        key[i] = c[i] * N + i;
    }
    var picked[K];
    for (var j = 0; j < K; j++) {
        var best = N;
        var bestKey = 0;
        for (var i = 0; i < N; i++) {
            var free = 1;
            for (var jj = 0; jj < j; jj++) {
                if (picked[jj] == i) {
                    free = 0;
                }
            }
            if (free == 1 && (best == N || key[i] < bestKey)) {
                best = i;
                bestKey = key[i];
            }
        }
        picked[j] = best;
        for (var i = 0; i < N; i++) {
            sel[j][i] <-- best == i ? 1 : 0;
        }
    }
    for (var j = 0; j < K; j++) {
        var one = 0;
        var at = 0;
        var k = 0;
        for (var i = 0; i < N; i++) {
            sel[j][i] * (sel[j][i] - 1) === 0;
            prod[j][i] <== sel[j][i] * (c[i] * N + i);
            one += sel[j][i];
            at += sel[j][i] * i;
            k += prod[j][i];
        }
        one === 1;
        idx[j] <== at;
        skey[j] <== k;
        val[j] <== (skey[j] - idx[j]) / N;
    }
    component inc[K - 1];
    for (var j = 0; j + 1 < K; j++) {
        inc[j] = NonNegative(B);
        inc[j].in <== skey[j + 1] - skey[j] - 1;
    }
    signal gap[N];
    component above[N];
    for (var i = 0; i < N; i++) {
        var chosen = 0;
        for (var j = 0; j < K; j++) {
            chosen += sel[j][i];
        }
        gap[i] <== (1 - chosen) * (c[i] * N + i - skey[K - 1] - 1);
        above[i] = NonNegative(B);
        above[i].in <== gap[i];
    }
}

// 1 when each of the N decision bits a (a sigmoid head's) equals the matching bit of b,
// else 0: 1 - (a - b)^2 = 1 - a - b + 2ab per bit (one constraint), then an IsZero over the
// count of differences (2 constraints).
template SameBits(N) {
    signal input a[N];
    signal input b[N];
    signal output out;
    signal same[N];
    var total = 0;
    for (var t = 0; t < N; t++) {
        same[t] <== 1 - a[t] - b[t] + 2 * a[t] * b[t];
        total += same[t];
    }
    out <== AllOf(N)(total);
}

// 1 when each of the N class indices a equals the matching one of b, else 0: an IsZero per
// index (2 constraints), then one over the count of differences (2).
template SameIndex(N) {
    signal input a[N];
    signal input b[N];
    signal output out;
    signal same[N];
    signal inv[N];
    var total = 0;
    for (var t = 0; t < N; t++) {
        // Hint: the inverse of a - b (0 when they are equal). Pinned: same is 1 - d * inv, and
        // d * same = 0, so same = 1 exactly when d = 0.
        inv[t] <-- a[t] - b[t] != 0 ? 1 / (a[t] - b[t]) : 0;
        same[t] <== 1 - (a[t] - b[t]) * inv[t];
        (a[t] - b[t]) * same[t] === 0;
        total += same[t];
    }
    out <== AllOf(N)(total);
}

// 1 when count (in [0, N]) equals N, else 0 (an IsZero of N - count: 2 constraints).
template AllOf(N) {
    signal input count;
    signal output out;
    signal inv;
    // Hint: the inverse of N - count. Pinned as in SameIndex.
    inv <-- N - count != 0 ? 1 / (N - count) : 0;
    out <== 1 - (N - count) * inv;
    (N - count) * out === 0;
}

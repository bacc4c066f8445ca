pragma circom 2.1.6;

include "poseidon.circom";
include "zkinfer.circom";

// Poseidon commitment to N values of W bits (signed, already range-checked to
// [-2^(W-1), 2^(W-1)) by the model's input checks) and a salt.
//
// Packing (Pack in zkinfer.circom): each value is shifted to v + 2^(W-1) in [0, 2^W),
// and P = 250 \ W of them are packed into one field element, sum_j (v_j + 2^(W-1)) * 2^(W*j).
// Because every shifted value is below 2^W and P*W <= 250 < log2(r), the packing is
// injective, and it is linear; Poseidon then hashes ~N/P elements instead of N (for 784
// inputs of 22 bits: 72 elements, 5 Poseidon calls instead of 53).
//
// Chain: h = Poseidon(salt, e[0..14]) for the first block, then
// h = Poseidon(h, next 15 elements) per further block (circomlib's Poseidon takes at
// most 16 inputs). src/prover/commitment.ts computes the same outside the circuit.
template InputCommitment(N, W) {
    signal input in[N];
    signal input salt;
    signal output out;

    var P = 250 \ W;
    var M = (N + P - 1) \ P;
    component pack = Pack(N, W);
    pack.in <== in;

    var first = M < 15 ? M : 15;
    var blocks = 1 + (M - first + 14) \ 15;
    component h[blocks];
    h[0] = Poseidon(first + 1);
    h[0].inputs[0] <== salt;
    for (var e = 0; e < first; e++) {
        h[0].inputs[e + 1] <== pack.out[e];
    }
    var done = first;
    for (var b = 1; b < blocks; b++) {
        var take = M - done < 15 ? M - done : 15;
        h[b] = Poseidon(take + 1);
        h[b].inputs[0] <== h[b - 1].out;
        for (var e = 0; e < take; e++) {
            h[b].inputs[e + 1] <== pack.out[done + e];
        }
        done += take;
    }
    out <== h[blocks - 1].out;
}

pragma circom 2.1.6;

include "poseidon.circom";

// Poseidon commitment to N values and a salt: h = Poseidon(salt, v[0..14]) for the
// first block, then h = Poseidon(h, next 15 values) for each further block (circomlib's
// Poseidon takes at most 16 inputs). The same chain is computed outside the circuit
// with circomlibjs (src/prover/commitment.ts), so an applicant holding the salt and
// their features can recompute it.
template InputCommitment(N) {
    signal input in[N];
    signal input salt;
    signal output out;

    var first = N < 15 ? N : 15;
    var blocks = 1 + (N - first + 14) \ 15;
    component h[blocks];
    h[0] = Poseidon(first + 1);
    h[0].inputs[0] <== salt;
    for (var i = 0; i < first; i++) {
        h[0].inputs[i + 1] <== in[i];
    }
    var done = first;
    for (var b = 1; b < blocks; b++) {
        var take = N - done < 15 ? N - done : 15;
        h[b] = Poseidon(take + 1);
        h[b].inputs[0] <== h[b - 1].out;
        for (var i = 0; i < take; i++) {
            h[b].inputs[i + 1] <== in[done + i];
        }
        done += take;
    }
    out <== h[blocks - 1].out;
}

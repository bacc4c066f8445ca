pragma circom 2.1.6;

include "zkinfer.circom";

template ZkinferModel() {
    signal input x[4];
    signal output y[4];
    signal output decision[1];
    // inputs: each must lie in [-2^15, 2^15)
    component inSign[4];
    signal inSignPos[4];
    for (var i = 0; i < 4; i++) {
        inSign[i] = Rescale(16, 0);
        inSign[i].in <== x[i];
        inSignPos[i] <== inSign[i].pos;
    }
    // relu0: relu
    signal l0[4];
    for (var i = 0; i < 4; i++) {
        l0[i] <== x[i] * inSignPos[i];
    }
    // fc1: dense 4 -> 3, constant weights at scale 2^9 (linear), then rescale by 2^9
    var l1W[3][4] = [[-51,-363,-305,-345],
        [-440,-324,446,386],
        [-9,302,165,-247]];
    var l1B[3] = [32771,-53760,-36609];
    component l1Mul = DenseConst(4, 3, l1W, l1B);
    l1Mul.in <== l0;
    component l1Rs[3];
    signal l1[3];
    signal l1Pos[3];
    for (var j = 0; j < 3; j++) {
        l1Rs[j] = Rescale(25, 9);
        l1Rs[j].in <== l1Mul.out[j];
        l1[j] <== l1Rs[j].out;
        l1Pos[j] <== l1Rs[j].pos;
    }
    // prelu: leaky relu, slopes at scale 2^8
    var l2A[3] = [26,64,-77];
    component l2Lr[3];
    signal l2[3];
    for (var i = 0; i < 3; i++) {
        l2Lr[i] = LeakyReluFromSign(24, 8, l2A[i]);
        l2Lr[i].in <== l1[i];
        l2Lr[i].pos <== l1Pos[i];
        l2[i] <== l2Lr[i].out;
    }
    // clip: clip to [-128, 192] (scale 2^8)
    component l3Clip[3];
    signal l3[3];
    for (var i = 0; i < 3; i++) {
        l3Clip[i] = Clip(16, 1, -128, 1, 192);
        l3Clip[i].in <== l2[i];
        l3[i] <== l3Clip[i].out;
    }
    // sigmoid: sigmoid approximated by clip(x / 4 + 1/2, 0, 1), rounded
    component l4Q[3];
    signal l4U[3];
    for (var i = 0; i < 3; i++) {
        l4Q[i] = Rescale(18, 2);
        l4Q[i].in <== l3[i] + 514;
        l4U[i] <== l4Q[i].out;
    }
    component l4Clip[3];
    signal l4[3];
    for (var i = 0; i < 3; i++) {
        l4Clip[i] = Clip(16, 1, 0, 1, 256);
        l4Clip[i].in <== l4U[i];
        l4[i] <== l4Clip[i].out;
    }
    // leaky2: leaky relu, slopes at scale 2^8
    component l5Sign[3];
    signal l5SignPos[3];
    for (var i = 0; i < 3; i++) {
        l5Sign[i] = Rescale(16, 0);
        l5Sign[i].in <== l4[i];
        l5SignPos[i] <== l5Sign[i].pos;
    }
    var l5A[3] = [128,128,128];
    component l5Lr[3];
    signal l5[3];
    for (var i = 0; i < 3; i++) {
        l5Lr[i] = LeakyReluFromSign(24, 8, l5A[i]);
        l5Lr[i].in <== l4[i];
        l5Lr[i].pos <== l5SignPos[i];
        l5[i] <== l5Lr[i].out;
    }
    // fc2: dense 3 -> 4, constant weights at scale 2^8 (linear), then rescale by 2^8
    var l6W[4][3] = [[-45,-315,-332],
        [-764,747,546],
        [-599,-502,-394],
        [382,231,129]];
    var l6B[4] = [9733,19095,-8708,13624];
    component l6Mul = DenseConst(3, 4, l6W, l6B);
    l6Mul.in <== l5;
    component l6Rs[4];
    signal l6[4];
    signal l6Pos[4];
    for (var j = 0; j < 4; j++) {
        l6Rs[j] = Rescale(24, 8);
        l6Rs[j].in <== l6Mul.out[j];
        l6[j] <== l6Rs[j].out;
        l6Pos[j] <== l6Rs[j].pos;
    }
    y <== l6;
    // softmax head: decision = index of the first maximum logit
    component head = Argmax(4, 16);
    head.in <== l6;
    decision[0] <== head.out;
}

component main = ZkinferModel();

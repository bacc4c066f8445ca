// A native Groth16 prover for BN254 (bn128) zkeys written by snarkjs, as a Node addon.
//
// It follows snarkjs's groth16_prove.js step for step, on the same byte conventions:
// the zkey's points and coefficients are in Montgomery form, the witness in normal form;
// A and B are built from the coefficients, C = A.*B, each is moved to the odd coset of the
// doubled domain (iFFT, multiply by the shift's powers, FFT), and H's scalars are
// A*B - C there, out of Montgomery form. The MSMs use Pippenger's bucket method.
// Field arithmetic: 4 x 64-bit limbs, Montgomery multiplication with unsigned __int128.

#ifndef ZKINFER_NO_NAPI
#include <node_api.h>
#endif
#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

typedef uint64_t u64;
typedef unsigned __int128 u128;

// ---------------------------------------------------------------- fields

struct Fe {
  u64 v[4];
};

struct FieldParams {
  u64 p[4];
  u64 np;  // -p^-1 mod 2^64
  Fe r2;   // R^2 mod p
  Fe one;  // R mod p
};

static FieldParams FQ, FR;

static inline bool geq(const u64* a, const u64* b) {
  for (int i = 3; i >= 0; i--) {
    if (a[i] != b[i]) return a[i] > b[i];
  }
  return true;
}

static inline void subRaw(u64* r, const u64* a, const u64* b) {
  u64 borrow = 0;
  for (int i = 0; i < 4; i++) {
    u128 d = (u128)a[i] - b[i] - borrow;
    r[i] = (u64)d;
    borrow = (u64)(d >> 64) & 1;
  }
}

template <const FieldParams& P>
struct Fp {
  typedef Fe E;
  static inline void add(E& r, const E& a, const E& b) {
    u64 c = 0;
    u64 t[4];
    for (int i = 0; i < 4; i++) {
      u128 s = (u128)a.v[i] + b.v[i] + c;
      t[i] = (u64)s;
      c = (u64)(s >> 64);
    }
    if (c || geq(t, P.p)) subRaw(t, t, P.p);
    memcpy(r.v, t, 32);
  }
  static inline void sub(E& r, const E& a, const E& b) {
    u64 borrow = 0;
    u64 t[4];
    for (int i = 0; i < 4; i++) {
      u128 d = (u128)a.v[i] - b.v[i] - borrow;
      t[i] = (u64)d;
      borrow = (u64)(d >> 64) & 1;
    }
    if (borrow) {
      u64 c = 0;
      for (int i = 0; i < 4; i++) {
        u128 s = (u128)t[i] + P.p[i] + c;
        t[i] = (u64)s;
        c = (u64)(s >> 64);
      }
    }
    memcpy(r.v, t, 32);
  }
  static inline void neg(E& r, const E& a) {
    if (isZero(a)) {
      r = a;
      return;
    }
    subRaw(r.v, P.p, a.v);
  }
  static inline void dbl(E& r, const E& a) { add(r, a, a); }
  // CIOS Montgomery multiplication: a*b/R mod p.
  static inline void mul(E& r, const E& a, const E& b) {
    u64 t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
      u64 c = 0;
      for (int j = 0; j < 4; j++) {
        u128 x = (u128)a.v[j] * b.v[i] + t[j] + c;
        t[j] = (u64)x;
        c = (u64)(x >> 64);
      }
      u128 x = (u128)t[4] + c;
      t[4] = (u64)x;
      t[5] = (u64)(x >> 64);
      u64 m = t[0] * P.np;
      x = (u128)m * P.p[0] + t[0];
      c = (u64)(x >> 64);
      for (int j = 1; j < 4; j++) {
        x = (u128)m * P.p[j] + t[j] + c;
        t[j - 1] = (u64)x;
        c = (u64)(x >> 64);
      }
      x = (u128)t[4] + c;
      t[3] = (u64)x;
      t[4] = t[5] + (u64)(x >> 64);
    }
    if (t[4] || geq(t, P.p)) subRaw(t, t, P.p);
    memcpy(r.v, t, 32);
  }
  static inline void sqr(E& r, const E& a) { mul(r, a, a); }
  static inline bool isZero(const E& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0; }
  static inline bool eq(const E& a, const E& b) { return memcmp(a.v, b.v, 32) == 0; }
  static inline E zero() { return E{{0, 0, 0, 0}}; }
  static inline E one() { return P.one; }
  static inline void toMont(E& r, const E& a) { mul(r, a, P.r2); }
  static inline void fromMont(E& r, const E& a) {
    E o{{1, 0, 0, 0}};
    mul(r, a, o);
  }
  // a^e, e a normal 256-bit integer; a in Montgomery form.
  static E pow(const E& a, const u64* e) {
    E r = P.one;
    for (int i = 255; i >= 0; i--) {
      sqr(r, r);
      if ((e[i / 64] >> (i % 64)) & 1) mul(r, r, a);
    }
    return r;
  }
  static E inv(const E& a) {
    u64 e[4];
    u64 two[4] = {2, 0, 0, 0};
    subRaw(e, P.p, two);
    return pow(a, e);
  }
};

typedef Fp<FQ> F1;
typedef Fp<FR> Fr;

struct Fe2 {
  Fe a, b;  // a + b*u, u^2 = -1
};

struct F2 {
  typedef Fe2 E;
  static inline void add(E& r, const E& x, const E& y) {
    F1::add(r.a, x.a, y.a);
    F1::add(r.b, x.b, y.b);
  }
  static inline void sub(E& r, const E& x, const E& y) {
    F1::sub(r.a, x.a, y.a);
    F1::sub(r.b, x.b, y.b);
  }
  static inline void neg(E& r, const E& x) {
    F1::neg(r.a, x.a);
    F1::neg(r.b, x.b);
  }
  static inline void dbl(E& r, const E& x) { add(r, x, x); }
  static inline void mul(E& r, const E& x, const E& y) {
    Fe t0, t1, s0, s1, m;
    F1::mul(t0, x.a, y.a);
    F1::mul(t1, x.b, y.b);
    F1::add(s0, x.a, x.b);
    F1::add(s1, y.a, y.b);
    F1::mul(m, s0, s1);
    F1::sub(r.a, t0, t1);
    F1::sub(m, m, t0);
    F1::sub(r.b, m, t1);
  }
  static inline void sqr(E& r, const E& x) {
    Fe s, d, m;
    F1::add(s, x.a, x.b);
    F1::sub(d, x.a, x.b);
    F1::mul(m, x.a, x.b);
    F1::mul(r.a, s, d);
    F1::add(r.b, m, m);
  }
  static inline bool isZero(const E& x) { return F1::isZero(x.a) && F1::isZero(x.b); }
  static inline bool eq(const E& x, const E& y) { return F1::eq(x.a, y.a) && F1::eq(x.b, y.b); }
  static inline E zero() { return E{F1::zero(), F1::zero()}; }
  static inline E one() { return E{F1::one(), F1::zero()}; }
  static E inv(const E& x) {
    Fe t0, t1, n, ni;
    F1::sqr(t0, x.a);
    F1::sqr(t1, x.b);
    F1::add(n, t0, t1);
    ni = F1::inv(n);
    E r;
    F1::mul(r.a, x.a, ni);
    F1::mul(t0, x.b, ni);
    F1::neg(r.b, t0);
    return r;
  }
};

static void initField(FieldParams& P, const u64 p[4]) {
  memcpy(P.p, p, 32);
  // Newton iteration for p^-1 mod 2^64.
  u64 inv = 1;
  for (int i = 0; i < 7; i++) inv *= 2 - p[0] * inv;
  P.np = (u64)0 - inv;
  // R mod p = 2^256 - p (p > 2^255 is false for BN254, so reduce by repeated subtraction).
  u64 r[4] = {0, 0, 0, 0};
  subRaw(r, r, p);  // 2^256 - p
  while (geq(r, p)) subRaw(r, r, p);
  memcpy(P.one.v, r, 32);
  // R^2 mod p: double R 256 times.
  u64 t[4];
  memcpy(t, r, 32);
  for (int i = 0; i < 256; i++) {
    u64 c = t[3] >> 63;
    for (int j = 3; j > 0; j--) t[j] = (t[j] << 1) | (t[j - 1] >> 63);
    t[0] <<= 1;
    if (c || geq(t, p)) subRaw(t, t, p);
  }
  memcpy(P.r2.v, t, 32);
}

static const u64 BN254_Q[4] = {0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL};
static const u64 BN254_R[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL};

// ---------------------------------------------------------------- curves (a = 0, Jacobian)

template <class F>
struct Curve {
  typedef typename F::E E;
  struct Aff {
    E x, y;
  };
  struct Jac {
    E x, y, z;
  };
  static inline Jac zero() { return Jac{F::one(), F::one(), F::zero()}; }
  static inline bool isZero(const Jac& p) { return F::isZero(p.z); }
  static inline bool isZeroAff(const Aff& p) { return F::isZero(p.x) && F::isZero(p.y); }

  static void dbl(Jac& r, const Jac& p) {
    if (isZero(p)) {
      r = p;
      return;
    }
    E A, B, C, D, Ee, Fv, t;
    F::sqr(A, p.x);
    F::sqr(B, p.y);
    F::sqr(C, B);
    F::add(t, p.x, B);
    F::sqr(t, t);
    F::sub(t, t, A);
    F::sub(t, t, C);
    F::dbl(D, t);
    F::dbl(Ee, A);
    F::add(Ee, Ee, A);
    F::sqr(Fv, Ee);
    E z3;
    F::mul(z3, p.y, p.z);
    F::dbl(r.z, z3);
    F::sub(r.x, Fv, D);
    F::sub(r.x, r.x, D);
    F::sub(t, D, r.x);
    F::mul(t, Ee, t);
    F::dbl(C, C);
    F::dbl(C, C);
    F::dbl(C, C);
    F::sub(r.y, t, C);
  }

  // r = p + q, q affine (not zero).
  static void addMixed(Jac& r, const Jac& p, const Aff& q) {
    if (isZero(p)) {
      r.x = q.x;
      r.y = q.y;
      r.z = F::one();
      return;
    }
    E Z1Z1, U2, S2, H, HH, I, J, rr, V, t;
    F::sqr(Z1Z1, p.z);
    F::mul(U2, q.x, Z1Z1);
    F::mul(S2, q.y, p.z);
    F::mul(S2, S2, Z1Z1);
    F::sub(H, U2, p.x);
    F::sub(rr, S2, p.y);
    if (F::isZero(H)) {
      if (F::isZero(rr)) {
        dbl(r, p);
      } else {
        r = zero();
      }
      return;
    }
    F::dbl(rr, rr);
    F::sqr(HH, H);
    F::dbl(I, HH);
    F::dbl(I, I);
    F::mul(J, H, I);
    F::mul(V, p.x, I);
    E x3, y3, z3;
    F::sqr(x3, rr);
    F::sub(x3, x3, J);
    F::sub(x3, x3, V);
    F::sub(x3, x3, V);
    F::sub(t, V, x3);
    F::mul(y3, rr, t);
    F::mul(t, p.y, J);
    F::dbl(t, t);
    F::sub(y3, y3, t);
    F::add(z3, p.z, H);
    F::sqr(z3, z3);
    F::sub(z3, z3, Z1Z1);
    F::sub(z3, z3, HH);
    r.x = x3;
    r.y = y3;
    r.z = z3;
  }

  static void add(Jac& r, const Jac& p, const Jac& q) {
    if (isZero(p)) {
      r = q;
      return;
    }
    if (isZero(q)) {
      r = p;
      return;
    }
    E Z1Z1, Z2Z2, U1, U2, S1, S2, H, I, J, rr, V, t;
    F::sqr(Z1Z1, p.z);
    F::sqr(Z2Z2, q.z);
    F::mul(U1, p.x, Z2Z2);
    F::mul(U2, q.x, Z1Z1);
    F::mul(S1, p.y, q.z);
    F::mul(S1, S1, Z2Z2);
    F::mul(S2, q.y, p.z);
    F::mul(S2, S2, Z1Z1);
    F::sub(H, U2, U1);
    F::sub(rr, S2, S1);
    if (F::isZero(H)) {
      if (F::isZero(rr)) {
        dbl(r, p);
      } else {
        r = zero();
      }
      return;
    }
    F::dbl(rr, rr);
    F::dbl(I, H);
    F::sqr(I, I);
    F::mul(J, H, I);
    F::mul(V, U1, I);
    E x3, y3, z3;
    F::sqr(x3, rr);
    F::sub(x3, x3, J);
    F::sub(x3, x3, V);
    F::sub(x3, x3, V);
    F::sub(t, V, x3);
    F::mul(y3, rr, t);
    F::mul(t, S1, J);
    F::dbl(t, t);
    F::sub(y3, y3, t);
    F::add(z3, p.z, q.z);
    F::sqr(z3, z3);
    F::sub(z3, z3, Z1Z1);
    F::sub(z3, z3, Z2Z2);
    F::mul(z3, z3, H);
    r.x = x3;
    r.y = y3;
    r.z = z3;
  }

  static Jac fromAff(const Aff& a) {
    if (isZeroAff(a)) return zero();
    return Jac{a.x, a.y, F::one()};
  }

  static bool toAff(Aff& r, const Jac& p) {
    if (isZero(p)) return false;
    E zi = F::inv(p.z), zi2, zi3;
    F::sqr(zi2, zi);
    F::mul(zi3, zi2, zi);
    F::mul(r.x, p.x, zi2);
    F::mul(r.y, p.y, zi3);
    return true;
  }

  // k * p, k a normal-form scalar.
  static Jac mulScalar(const Jac& p, const Fe& k) {
    Jac r = zero();
    for (int i = 255; i >= 0; i--) {
      dbl(r, r);
      if ((k.v[i / 64] >> (i % 64)) & 1) add(r, r, p);
    }
    return r;
  }

  static inline u64 digit(const Fe& k, int bit, int c) {
    int w = bit / 64, o = bit % 64;
    u64 d = k.v[w] >> o;
    if (o + c > 64 && w < 3) d |= k.v[w + 1] << (64 - o);
    return d & ((1ULL << c) - 1);
  }

  struct Term {
    uint32_t i;  // base index
    bool neg;    // the base is negated (the scalar was above r/2 and is replaced by r - k)
    Fe k;
  };

  struct Table;

  static int bitLength(const Fe& k) {
    for (int w = 3; w >= 0; w--)
      if (k.v[w]) return w * 64 + 64 - __builtin_clzll(k.v[w]);
    return 0;
  }

  // Pippenger's bucket method over terms whose scalars have at most maxBits bits.
  static Jac pippenger(const Aff* bases, const std::vector<Term>& terms, int maxBits) {
    size_t m = terms.size();
    if (m == 0) return zero();
    // The window width minimising (windows) x (additions into buckets + summing the buckets,
    // about 4 batched affine additions per bucket).
    int c = 1;
    double best = 1e300;
    for (int k = 1; k <= 16; k++) {
      double cost = (double)((maxBits + k - 1) / k) * ((double)m + 4.0 * (double)(1u << k));
      if (cost < best) {
        best = cost;
        c = k;
      }
    }
    int nWindows = (maxBits + c - 1) / c;
    size_t nb = (size_t)1 << c;
    std::vector<uint32_t> start(nb + 1), len(nb);
    std::vector<uint32_t> digits(m);
    std::vector<Aff> pts(m);
    std::vector<E> den, pre;
    std::vector<uint32_t> pairAt;
    std::vector<uint8_t> kind;
    Jac r = zero();
    for (int w = nWindows - 1; w >= 0; w--) {
      for (int i = 0; i < c; i++) dbl(r, r);
      // Points by bucket (a counting sort), each negated where its scalar was.
      std::fill(len.begin(), len.end(), 0);
      int bit = w * c;
      for (size_t j = 0; j < m; j++) len[digits[j] = (uint32_t)digit(terms[j].k, bit, c)]++;
      start[0] = 0;
      for (size_t d = 0; d < nb; d++) start[d + 1] = start[d] + (d == 0 ? 0 : len[d]);
      len[0] = 0;
      std::vector<uint32_t> fill(start.begin(), start.end() - 1);
      for (size_t j = 0; j < m; j++) {
        uint32_t d = digits[j];
        if (!d) continue;
        Aff& q = pts[fill[d]++];
        q = bases[terms[j].i];
        if (terms[j].neg) F::neg(q.y, q.y);
      }
      bucketSums(pts, start, len, den, pre, pairAt, kind);
      Jac run = zero(), sum = zero();
      for (size_t d = nb - 1; d >= 1; d--) {
        if (len[d]) addMixed(run, run, pts[start[d]]);
        add(sum, sum, run);
      }
      add(r, r, sum);
    }
    return r;
  }

  // Reduces each bucket's points (pts[start[d] .. start[d] + len[d])) to their sum, in affine
  // coordinates: rounds of pairwise additions, one field inversion per round for all pairs
  // (Montgomery's batch inversion). An emptied bucket (P + -P) gets len 0.
  static void bucketSums(std::vector<Aff>& pts, const std::vector<uint32_t>& start, std::vector<uint32_t>& len, std::vector<E>& den,
                         std::vector<E>& pre, std::vector<uint32_t>& pairAt, std::vector<uint8_t>& kind) {
    size_t nb = len.size();
    for (;;) {
      den.clear();
      pairAt.clear();
      kind.clear();
      for (size_t d = 1; d < nb; d++) {
        for (uint32_t j = 0; j + 1 < len[d]; j += 2) {
          uint32_t i = start[d] + j;
          const Aff &P = pts[i], &Q = pts[i + 1];
          E t;
          uint8_t k = 0;
          if (F::eq(P.x, Q.x)) {
            if (F::eq(P.y, Q.y)) {
              k = 1;  // doubling: lambda = 3x^2 / 2y
              F::dbl(t, P.y);
            } else {
              k = 2;  // P + -P
              t = F::one();
            }
          } else {
            F::sub(t, Q.x, P.x);
          }
          den.push_back(t);
          pairAt.push_back(i);
          kind.push_back(k);
        }
      }
      size_t n = den.size();
      if (n == 0) return;
      pre.resize(n);
      E acc = F::one();
      for (size_t k = 0; k < n; k++) {
        pre[k] = acc;
        F::mul(acc, acc, den[k]);
      }
      E inv = F::inv(acc);
      for (size_t k = n; k-- > 0;) {
        E dinv;
        F::mul(dinv, inv, pre[k]);
        F::mul(inv, inv, den[k]);
        if (kind[k] == 2) continue;
        Aff& P = pts[pairAt[k]];
        const Aff& Q = pts[pairAt[k] + 1];
        E lambda, t, x3;
        if (kind[k] == 0) {
          F::sub(t, Q.y, P.y);
        } else {
          F::sqr(t, P.x);
          E t3;
          F::dbl(t3, t);
          F::add(t, t3, t);
        }
        F::mul(lambda, t, dinv);
        F::sqr(x3, lambda);
        F::sub(x3, x3, P.x);
        F::sub(x3, x3, Q.x);
        F::sub(t, P.x, x3);
        F::mul(t, lambda, t);
        F::sub(P.y, t, P.y);
        P.x = x3;
      }
      // Compact each bucket: the pair sums (less any P + -P), then an odd point left over.
      size_t k = 0;
      for (size_t d = 1; d < nb; d++) {
        if (len[d] < 2) continue;
        uint32_t out = 0;
        for (uint32_t j = 0; j + 1 < len[d]; j += 2, k++)
          if (kind[k] != 2) pts[start[d] + out++] = pts[start[d] + j];
        if (len[d] & 1) pts[start[d] + out++] = pts[start[d] + len[d] - 1];
        len[d] = out;
      }
    }
  }

  // sum k_i * P_i over affine bases (zero points skipped) and normal-form scalars in Fr.
  // Witness scalars are mostly small integers or small negatives (r - small): a scalar above
  // r/2 is replaced by r - k on the negated base, and the terms are grouped by bit length,
  // each group with its own window width, so small scalars cost few windows.
  static Jac msm(const Aff* bases, const Fe* scalars, size_t n, const Table* table = nullptr) {
    static const int LIMITS[3] = {64, 128, 254};
    std::vector<Term> groups[3];
    int maxBits[3] = {0, 0, 0};
    u64 halfR[4];
    for (int j = 0; j < 3; j++) halfR[j] = (BN254_R[j] >> 1) | (BN254_R[j + 1] << 63);
    halfR[3] = BN254_R[3] >> 1;
    Jac ones = zero();
    for (size_t i = 0; i < n; i++) {
      if (isZeroAff(bases[i])) continue;
      Term t{(uint32_t)i, false, scalars[i]};
      if (!geq(halfR, t.k.v)) {  // k > (r-1)/2
        subRaw(t.k.v, BN254_R, t.k.v);
        t.neg = true;
      }
      if ((t.k.v[1] | t.k.v[2] | t.k.v[3]) == 0 && t.k.v[0] <= 1) {
        if (t.k.v[0] == 0) continue;
        Aff q = bases[i];
        if (t.neg) F::neg(q.y, q.y);
        addMixed(ones, ones, q);
        continue;
      }
      int bits = bitLength(t.k);
      int g = bits <= LIMITS[0] ? 0 : bits <= LIMITS[1] ? 1 : 2;
      groups[g].push_back(t);
      if (bits > maxBits[g]) maxBits[g] = bits;
    }
    Jac r = ones;
    if (table && table->n == n) {
      std::vector<Term> all;
      for (auto& g : groups) all.insert(all.end(), g.begin(), g.end());
      add(r, r, pippengerTable(*table, all));
      return r;
    }
    for (int g = 0; g < 3; g++) add(r, r, pippenger(bases, groups[g], maxBits[g]));
    return r;
  }

  // Fixed bases (a warm proving key): pts[j * n + i] = 2^(c*j) * P_i, affine, for every window j.
  // An MSM then puts every window's digits into one set of buckets: one bucket sum, no doublings.
  struct Table {
    int c = 0, windows = 0;
    size_t n = 0;
    std::vector<Aff> pts;
  };

  static int tableWidth(size_t n) {
    int c = 8;
    double best = 1e300;
    for (int k = 6; k <= 16; k++) {
      double cost = (double)((254 + k - 1) / k) * (double)n + 4.0 * (double)(1u << k);
      if (cost < best) {
        best = cost;
        c = k;
      }
    }
    return c;
  }

  static size_t tableBytes(size_t n) { return (size_t)((254 + tableWidth(n) - 1) / tableWidth(n)) * n * sizeof(Aff); }

  static void buildTable(Table& t, const Aff* bases, size_t n) {
    t.c = tableWidth(n);
    t.windows = (254 + t.c - 1) / t.c;
    t.n = n;
    t.pts.resize((size_t)t.windows * n);
    std::copy(bases, bases + n, t.pts.begin());
    std::vector<Jac> row(n);
    std::vector<E> pre(n);
    for (int j = 1; j < t.windows; j++) {
      const Aff* prev = &t.pts[(size_t)(j - 1) * n];
      Aff* out = &t.pts[(size_t)j * n];
      E acc = F::one();
      for (size_t i = 0; i < n; i++) {
        row[i] = fromAff(prev[i]);
        for (int k = 0; k < t.c; k++) dbl(row[i], row[i]);
        pre[i] = acc;
        if (!isZero(row[i])) F::mul(acc, acc, row[i].z);
      }
      // Batch inversion of the z coordinates.
      E inv = F::inv(acc);
      for (size_t i = n; i-- > 0;) {
        if (isZero(row[i])) {
          out[i].x = F::zero();
          out[i].y = F::zero();
          continue;
        }
        E zi, zi2, zi3;
        F::mul(zi, inv, pre[i]);
        F::mul(inv, inv, row[i].z);
        F::sqr(zi2, zi);
        F::mul(zi3, zi2, zi);
        F::mul(out[i].x, row[i].x, zi2);
        F::mul(out[i].y, row[i].y, zi3);
      }
    }
  }

  static Jac pippengerTable(const Table& t, const std::vector<Term>& terms) {
    int c = t.c;
    size_t nb = (size_t)1 << c;
    struct Add {
      uint32_t d;
      uint32_t at;
      bool neg;
    };
    std::vector<Add> adds;
    std::vector<uint32_t> len(nb, 0), start(nb + 1, 0);
    for (const Term& term : terms) {
      int windows = (bitLength(term.k) + c - 1) / c;
      for (int j = 0; j < windows; j++) {
        uint32_t d = (uint32_t)digit(term.k, j * c, c);
        if (!d) continue;
        adds.push_back(Add{d, (uint32_t)((size_t)j * t.n + term.i), term.neg});
        len[d]++;
      }
    }
    if (adds.empty()) return zero();
    for (size_t d = 1; d < nb; d++) start[d + 1] = start[d] + len[d];
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    std::vector<Aff> pts(adds.size());
    for (const Add& a : adds) {
      Aff& q = pts[fill[a.d]++];
      q = t.pts[a.at];
      if (a.neg) F::neg(q.y, q.y);
    }
    std::vector<E> den, pre;
    std::vector<uint32_t> pairAt;
    std::vector<uint8_t> kind;
    bucketSums(pts, start, len, den, pre, pairAt, kind);
    Jac run = zero(), sum = zero();
    for (size_t d = nb - 1; d >= 1; d--) {
      if (len[d]) addMixed(run, run, pts[start[d]]);
      add(sum, sum, run);
    }
    return sum;
  }
};

typedef Curve<F1> G1;
typedef Curve<F2> G2;

// ---------------------------------------------------------------- FFT over Fr

static int FR_S = 0;
static std::vector<Fe> FR_W;  // FR_W[k]: a primitive 2^k-th root of unity, as ffjavascript picks it

static void initRoots() {
  // ffjavascript: nqr = smallest non-residue from 2; w[s] = nqr^t, t = (r-1)/2^s; w[i] = w[i+1]^2.
  u64 rm1[4];
  u64 one[4] = {1, 0, 0, 0};
  subRaw(rm1, BN254_R, one);
  int s = 0;
  u64 t[4];
  memcpy(t, rm1, 32);
  while ((t[0] & 1) == 0) {
    for (int j = 0; j < 3; j++) t[j] = (t[j] >> 1) | (t[j + 1] << 63);
    t[3] >>= 1;
    s++;
  }
  u64 half[4];
  for (int j = 0; j < 3; j++) half[j] = (rm1[j] >> 1) | (rm1[j + 1] << 63);
  half[3] = rm1[3] >> 1;
  Fe minusOne;
  Fr::neg(minusOne, Fr::one());
  Fe nqr;
  Fr::add(nqr, Fr::one(), Fr::one());
  while (!Fr::eq(Fr::pow(nqr, half), minusOne)) Fr::add(nqr, nqr, Fr::one());
  FR_S = s;
  FR_W.assign(s + 1, Fe{});
  FR_W[s] = Fr::pow(nqr, t);
  for (int i = s - 1; i >= 0; i--) Fr::sqr(FR_W[i], FR_W[i + 1]);
}

// In place: a[i] <- sum_j a[j] * w^(i*j), w a primitive n-th root of unity (Montgomery form).
static void fft(std::vector<Fe>& a, const Fe& w) {
  size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; i++) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  std::vector<Fe> tw(n / 2 > 0 ? n / 2 : 1);
  for (size_t len = 2; len <= n; len <<= 1) {
    // wl = w^(n/len)
    Fe wl = w;
    for (size_t k = n; k > len; k >>= 1) Fr::sqr(wl, wl);
    size_t h = len / 2;
    tw[0] = Fr::one();
    for (size_t k = 1; k < h; k++) Fr::mul(tw[k], tw[k - 1], wl);
    for (size_t i = 0; i < n; i += len) {
      for (size_t k = 0; k < h; k++) {
        Fe u = a[i + k], v;
        Fr::mul(v, a[i + k + h], tw[k]);
        Fr::add(a[i + k], u, v);
        Fr::sub(a[i + k + h], u, v);
      }
    }
  }
}

static void ifft(std::vector<Fe>& a, const Fe& w) {
  Fe wi = Fr::inv(w);
  fft(a, wi);
  Fe nm;
  Fe nn{{(u64)a.size(), 0, 0, 0}};
  Fr::toMont(nm, nn);
  Fe ni = Fr::inv(nm);
  for (auto& x : a) Fr::mul(x, x, ni);
}

// ---------------------------------------------------------------- zkey and witness

struct Coef {
  uint32_t m, c, s;
  Fe v;
};

struct ZKey {
  uint32_t nVars, nPublic, domainSize;
  G1::Aff alpha1, beta1, delta1;
  G2::Aff beta2, delta2;
  std::vector<Coef> coefs;
  std::vector<G1::Aff> A, B1, C, H;
  std::vector<G2::Aff> B2;
  // Window tables of the fixed bases (see Curve::Table), within a memory budget. Built by
  // the key's second proof, off the event loop (a key proved once, as by a one-shot CLI call,
  // never pays for them), and used only once complete: tablesReady is set after the build.
  G1::Table tA, tB1, tC, tH;
  G2::Table tB2;
  std::once_flag tablesBuilt;
  std::atomic<bool> tablesReady{false};
  std::atomic<uint32_t> proofs{0};
};

struct Reader {
  const uint8_t* p;
  size_t n, pos = 0;
  void need(size_t k) {
    if (pos + k > n) throw std::runtime_error("truncated file");
  }
  uint32_t u32() {
    need(4);
    uint32_t v;
    memcpy(&v, p + pos, 4);
    pos += 4;
    return v;
  }
  u64 u64le() {
    need(8);
    u64 v;
    memcpy(&v, p + pos, 8);
    pos += 8;
    return v;
  }
  Fe fe() {
    need(32);
    Fe v;
    memcpy(v.v, p + pos, 32);
    pos += 32;
    return v;
  }
};

struct Section {
  size_t off = 0, size = 0;
  bool present = false;
};

static std::vector<Section> readSections(const uint8_t* data, size_t len, const char* magic) {
  Reader r{data, len};
  r.need(4);
  if (memcmp(data, magic, 4) != 0) throw std::runtime_error(std::string("not a ") + magic + " file");
  r.pos = 4;
  r.u32();  // version
  uint32_t nSections = r.u32();
  std::vector<Section> sections(16);
  for (uint32_t i = 0; i < nSections; i++) {
    uint32_t type = r.u32();
    u64 size = r.u64le();
    r.need(size);
    if (type < sections.size()) {
      if (sections[type].present) throw std::runtime_error("duplicate section");
      sections[type] = Section{r.pos, (size_t)size, true};
    }
    r.pos += size;
  }
  return sections;
}

static bool isBn254(const Fe& q, const u64* want) { return memcmp(q.v, want, 32) == 0; }

static bool ltMod(const Fe& x, const u64* p) { return !geq(x.v, p); }

template <class A>
static void readPoints(const uint8_t* data, const Section& s, size_t count, std::vector<A>& out, const char* what) {
  if (!s.present) throw std::runtime_error(std::string("zkey lacks the ") + what + " section");
  if (s.size != count * sizeof(A)) throw std::runtime_error(std::string("zkey ") + what + " section has the wrong size");
  out.resize(count);
  memcpy(out.data(), data + s.off, s.size);
}

static void checkG1(const G1::Aff& a) {
  if (!ltMod(a.x, BN254_Q) || !ltMod(a.y, BN254_Q)) throw std::runtime_error("zkey point coordinate out of range");
}

static ZKey* parseZKey(const uint8_t* data, size_t len) {
  static_assert(sizeof(G1::Aff) == 64, "G1 affine layout");
  static_assert(sizeof(G2::Aff) == 128, "G2 affine layout");
  auto sec = readSections(data, len, "zkey");
  if (!sec[1].present || !sec[2].present || !sec[4].present) throw std::runtime_error("zkey lacks a header section");
  Reader h{data + sec[1].off, sec[1].size};
  if (h.u32() != 1) throw std::runtime_error("zkey is not groth16");
  Reader r{data + sec[2].off, sec[2].size};
  auto z = new ZKey();
  try {
    if (r.u32() != 32 || !isBn254(r.fe(), BN254_Q)) throw std::runtime_error("zkey curve is not bn128");
    if (r.u32() != 32 || !isBn254(r.fe(), BN254_R)) throw std::runtime_error("zkey curve is not bn128");
    z->nVars = r.u32();
    z->nPublic = r.u32();
    z->domainSize = r.u32();
    if (z->domainSize == 0 || (z->domainSize & (z->domainSize - 1)) != 0 || z->domainSize > (1u << 27))
      throw std::runtime_error("zkey domain size is not a supported power of two");
    if (z->nPublic >= z->nVars) throw std::runtime_error("zkey nPublic out of range");
    auto g1 = [&]() {
      G1::Aff a{r.fe(), r.fe()};
      checkG1(a);
      return a;
    };
    auto g2 = [&]() {
      G2::Aff a;
      a.x.a = r.fe();
      a.x.b = r.fe();
      a.y.a = r.fe();
      a.y.b = r.fe();
      return a;
    };
    z->alpha1 = g1();
    z->beta1 = g1();
    z->beta2 = g2();
    g2();  // gamma2
    z->delta1 = g1();
    z->delta2 = g2();

    Reader c{data + sec[4].off, sec[4].size};
    uint32_t nCoef = c.u32();
    if ((u64)nCoef * 44 + 4 != sec[4].size) throw std::runtime_error("zkey coefficient section has the wrong size");
    z->coefs.resize(nCoef);
    for (uint32_t i = 0; i < nCoef; i++) {
      Coef& k = z->coefs[i];
      k.m = c.u32();
      k.c = c.u32();
      k.s = c.u32();
      k.v = c.fe();
      if (k.m > 1 || k.c >= z->domainSize || k.s >= z->nVars) throw std::runtime_error("zkey coefficient out of range");
    }
    readPoints(data, sec[5], z->nVars, z->A, "A");
    readPoints(data, sec[6], z->nVars, z->B1, "B1");
    readPoints(data, sec[7], z->nVars, z->B2, "B2");
    readPoints(data, sec[8], z->nVars - z->nPublic - 1, z->C, "C");
    readPoints(data, sec[9], z->domainSize, z->H, "H");
  } catch (...) {
    delete z;
    throw;
  }
  return z;
}

static std::vector<Fe> parseWtns(const uint8_t* data, size_t len, uint32_t nVars) {
  auto sec = readSections(data, len, "wtns");
  if (!sec[1].present || !sec[2].present) throw std::runtime_error("witness lacks a section");
  Reader h{data + sec[1].off, sec[1].size};
  if (h.u32() != 32 || !isBn254(h.fe(), BN254_R)) throw std::runtime_error("witness field is not bn128's scalar field");
  uint32_t n = h.u32();
  if (n != nVars) throw std::runtime_error("Invalid witness length. Circuit: " + std::to_string(nVars) + ", witness: " + std::to_string(n));
  if (sec[2].size != (size_t)n * 32) throw std::runtime_error("witness section has the wrong size");
  std::vector<Fe> w(n);
  memcpy(w.data(), data + sec[2].off, sec[2].size);
  for (auto& x : w)
    if (!ltMod(x, BN254_R)) throw std::runtime_error("witness value out of range");
  return w;
}

// ---------------------------------------------------------------- prove

static Fe randomFr() {
  for (;;) {
    Fe k;
    size_t got = 0;
    while (got < 32) {
      ssize_t r = getrandom((uint8_t*)k.v + got, 32 - got, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("getrandom failed");
      }
      got += (size_t)r;
    }
    k.v[3] &= 0x3fffffffffffffffULL;  // r < 2^254: rejection sampling below 2^254 is unbiased
    if (ltMod(k, BN254_R)) return k;
  }
}

static std::string toDecimal(const Fe& x) {
  u64 t[4];
  memcpy(t, x.v, 32);
  std::string s;
  const u64 base = 10000000000000000000ULL;  // 10^19
  for (;;) {
    bool zero = (t[0] | t[1] | t[2] | t[3]) == 0;
    if (zero) break;
    u128 rem = 0;
    for (int i = 3; i >= 0; i--) {
      u128 cur = (rem << 64) | t[i];
      t[i] = (u64)(cur / base);
      rem = cur % base;
    }
    u64 chunk = (u64)rem;
    bool last = (t[0] | t[1] | t[2] | t[3]) == 0;
    for (int d = 0; d < 19; d++) {
      if (last && chunk == 0) break;
      s.push_back((char)('0' + chunk % 10));
      chunk /= 10;
    }
  }
  if (s.empty()) s = "0";
  return std::string(s.rbegin(), s.rend());
}

static std::string f1dec(const Fe& m) {
  Fe n;
  F1::fromMont(n, m);
  return toDecimal(n);
}

struct ProofOut {
  std::vector<std::string> fields;  // ax, ay, az, bx0, bx1, by0, by1, bz0, bz1, cx, cy, cz
  std::vector<std::string> pub;
};

static void g1Out(std::vector<std::string>& o, const G1::Jac& p) {
  G1::Aff a;
  if (!G1::toAff(a, p)) {
    o.insert(o.end(), {"0", "1", "0"});
    return;
  }
  o.insert(o.end(), {f1dec(a.x), f1dec(a.y), "1"});
}

static void g2Out(std::vector<std::string>& o, const G2::Jac& p) {
  G2::Aff a;
  if (!G2::toAff(a, p)) {
    o.insert(o.end(), {"0", "0", "1", "0", "0", "0"});
    return;
  }
  o.insert(o.end(), {f1dec(a.x.a), f1dec(a.x.b), f1dec(a.y.a), f1dec(a.y.b), "1", "0"});
}

static void runTasks(std::vector<std::function<void()>>& tasks, int nThreads) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < tasks.size();) tasks[i]();
  };
  std::vector<std::thread> ts;
  for (int t = 1; t < nThreads && (size_t)t < tasks.size(); t++) ts.emplace_back(worker);
  worker();
  for (auto& th : ts) th.join();
}

// The window tables of a key's fixed bases, biggest first, within 512 MiB per key.
static void buildTables(ZKey& z, int nThreads) {
  std::call_once(z.tablesBuilt, [&] {
    size_t budget = (size_t)512 << 20;
    std::vector<std::function<void()>> tasks;
    auto g1 = [&](G1::Table& t, const std::vector<G1::Aff>& b) {
      if (b.empty() || G1::tableBytes(b.size()) > budget) return;
      budget -= G1::tableBytes(b.size());
      tasks.push_back([&t, &b] { G1::buildTable(t, b.data(), b.size()); });
    };
    if (!z.B2.empty() && G2::tableBytes(z.B2.size()) <= budget) {
      budget -= G2::tableBytes(z.B2.size());
      tasks.push_back([&z] { G2::buildTable(z.tB2, z.B2.data(), z.B2.size()); });
    }
    g1(z.tH, z.H);
    g1(z.tA, z.A);
    g1(z.tC, z.C);
    g1(z.tB1, z.B1);
    runTasks(tasks, nThreads);
    z.tablesReady.store(true, std::memory_order_release);
  });
}

static ProofOut prove(const ZKey& z, const std::vector<Fe>& w, int nThreads) {
  size_t n = z.domainSize;
  int power = 0;
  while (((size_t)1 << power) < n) power++;
  if (power + 1 > FR_S) throw std::runtime_error("domain too large");

  // A, B from the coefficients (Montgomery coefficient times normal witness), C = A.*B.
  std::vector<Fe> a(n, Fr::zero()), b(n, Fr::zero()), c(n);
  for (const Coef& k : z.coefs) {
    Fe t;
    Fr::mul(t, k.v, w[k.s]);
    std::vector<Fe>& out = k.m == 0 ? a : b;
    Fr::add(out[k.c], out[k.c], t);
  }
  for (size_t i = 0; i < n; i++) Fr::mul(c[i], a[i], b[i]);

  // Evaluate on the odd coset of the doubled domain.
  const Fe& wn = FR_W[power];
  const Fe& inc = FR_W[power + 1];
  auto toCoset = [&](std::vector<Fe>& v) {
    ifft(v, wn);
    Fe k = Fr::one();
    for (size_t i = 0; i < n; i++) {
      Fr::mul(v[i], v[i], k);
      Fr::mul(k, k, inc);
    }
    fft(v, wn);
  };
  std::vector<std::function<void()>> ffts = {[&] { toCoset(a); }, [&] { toCoset(b); }, [&] { toCoset(c); }};
  runTasks(ffts, nThreads);
  std::vector<Fe> h(n);
  for (size_t i = 0; i < n; i++) {
    Fe t;
    Fr::mul(t, a[i], b[i]);
    Fr::sub(t, t, c[i]);
    Fr::fromMont(h[i], t);
  }

  // The five MSMs as tasks on nThreads threads, the costliest first.
  G1::Jac piA, pib1, piC, resH;
  G2::Jac piB;
  const bool tables = z.tablesReady.load(std::memory_order_acquire);
  auto t1 = [&](const G1::Table& t) { return tables ? &t : nullptr; };
  std::vector<std::function<void()>> tasks = {
      [&] { resH = G1::msm(z.H.data(), h.data(), n, t1(z.tH)); },
      [&] { piB = G2::msm(z.B2.data(), w.data(), z.nVars, tables ? &z.tB2 : nullptr); },
      [&] { piA = G1::msm(z.A.data(), w.data(), z.nVars, t1(z.tA)); },
      [&] { pib1 = G1::msm(z.B1.data(), w.data(), z.nVars, t1(z.tB1)); },
      [&] { piC = G1::msm(z.C.data(), w.data() + z.nPublic + 1, z.nVars - z.nPublic - 1, t1(z.tC)); },
  };
  runTasks(tasks, nThreads);

  Fe r = randomFr(), s = randomFr();
  G1::Jac delta1 = G1::fromAff(z.delta1);

  G1::addMixed(piA, piA, z.alpha1);
  G1::add(piA, piA, G1::mulScalar(delta1, r));

  G2::addMixed(piB, piB, z.beta2);
  G2::add(piB, piB, G2::mulScalar(G2::fromAff(z.delta2), s));

  G1::addMixed(pib1, pib1, z.beta1);
  G1::add(pib1, pib1, G1::mulScalar(delta1, s));

  G1::add(piC, piC, resH);
  G1::add(piC, piC, G1::mulScalar(piA, s));
  G1::add(piC, piC, G1::mulScalar(pib1, r));
  Fe rm, sm, rs, rsn;
  Fr::toMont(rm, r);
  Fr::toMont(sm, s);
  Fr::mul(rs, rm, sm);
  Fr::fromMont(rs, rs);
  Fr::neg(rsn, rs);
  G1::add(piC, piC, G1::mulScalar(delta1, rsn));

  ProofOut o;
  g1Out(o.fields, piA);
  g2Out(o.fields, piB);
  g1Out(o.fields, piC);
  for (uint32_t i = 1; i <= z.nPublic; i++) o.pub.push_back(toDecimal(w[i]));
  return o;
}

// ---------------------------------------------------------------- Node bindings

#ifndef ZKINFER_NO_NAPI

#define NAPI_CALL(env, call)                                  \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      napi_throw_error((env), nullptr, "N-API call failed"); \
      return nullptr;                                         \
    }                                                         \
  } while (0)

static int defaultThreads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc >= 2 ? 2 : 1;
}

static void finalizeZKey(napi_env, void* data, void*) { delete (ZKey*)data; }

static bool getBytes(napi_env env, napi_value v, const uint8_t** data, size_t* len) {
  bool isBuf = false, isTyped = false;
  napi_is_buffer(env, v, &isBuf);
  if (isBuf) {
    void* d;
    if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return false;
    *data = (const uint8_t*)d;
    return true;
  }
  napi_is_typedarray(env, v, &isTyped);
  if (!isTyped) return false;
  napi_typedarray_type type;
  size_t length, offset;
  void* d;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &d, &ab, &offset) != napi_ok || type != napi_uint8_array) return false;
  *data = (const uint8_t*)d;
  *len = length;
  return true;
}

// load(zkey: Uint8Array): an external handle holding the parsed proving key.
static napi_value Load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  const uint8_t* data;
  size_t len;
  if (argc < 1 || !getBytes(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, nullptr, "load expects the zkey bytes (Uint8Array)");
    return nullptr;
  }
  ZKey* z;
  try {
    z = parseZKey(data, len);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  napi_value ext;
  if (napi_create_external(env, z, finalizeZKey, nullptr, &ext) != napi_ok) {
    delete z;
    napi_throw_error(env, nullptr, "could not create the zkey handle");
    return nullptr;
  }
  return ext;
}

struct ProveJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keyRef = nullptr;  // keeps the zkey handle alive while the job runs
  ZKey* key = nullptr;
  std::vector<uint8_t> wtns;
  int threads = 2;
  ProofOut out;
  std::string error;
};

static void ExecuteProve(napi_env, void* data) {
  ProveJob* j = (ProveJob*)data;
  try {
    std::vector<Fe> w = parseWtns(j->wtns.data(), j->wtns.size(), j->key->nVars);
    if (j->key->proofs.fetch_add(1) >= 1) buildTables(*j->key, j->threads);
    j->out = prove(*j->key, w, j->threads);
  } catch (const std::exception& e) {
    j->error = e.what();
  }
}

static void CompleteProve(napi_env env, napi_status status, void* data) {
  ProveJob* j = (ProveJob*)data;
  if (status != napi_ok && j->error.empty()) j->error = "the proof job was cancelled";
  if (!j->error.empty()) {
    napi_value msg, err;
    napi_create_string_utf8(env, j->error.c_str(), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_value res, fields, pub;
    napi_create_object(env, &res);
    napi_create_array_with_length(env, j->out.fields.size(), &fields);
    for (size_t i = 0; i < j->out.fields.size(); i++) {
      napi_value s;
      napi_create_string_utf8(env, j->out.fields[i].c_str(), NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, fields, (uint32_t)i, s);
    }
    napi_create_array_with_length(env, j->out.pub.size(), &pub);
    for (size_t i = 0; i < j->out.pub.size(); i++) {
      napi_value s;
      napi_create_string_utf8(env, j->out.pub[i].c_str(), NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, pub, (uint32_t)i, s);
    }
    napi_set_named_property(env, res, "points", fields);
    napi_set_named_property(env, res, "publicSignals", pub);
    napi_resolve_deferred(env, j->deferred, res);
  }
  napi_delete_reference(env, j->keyRef);
  napi_delete_async_work(env, j->work);
  delete j;
}

// prove(handle, wtns: Uint8Array, threads?: number): Promise<{points: string[], publicSignals: string[]}>
static napi_value Prove(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* key = nullptr;
  const uint8_t* data;
  size_t len;
  if (argc < 2 || napi_get_value_external(env, argv[0], &key) != napi_ok || key == nullptr || !getBytes(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, nullptr, "prove expects a zkey handle and the witness bytes (Uint8Array)");
    return nullptr;
  }
  int threads = defaultThreads();
  if (argc >= 3) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_number) {
      int32_t v;
      napi_get_value_int32(env, argv[2], &v);
      if (v >= 1 && v <= 64) threads = v;
    }
  }
  ProveJob* j = new ProveJob();
  j->key = (ZKey*)key;
  j->wtns.assign(data, data + len);
  j->threads = threads;
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &j->keyRef) != napi_ok || napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
    delete j;
    napi_throw_error(env, nullptr, "could not start the proof");
    return nullptr;
  }
  napi_create_string_utf8(env, "zkinfer.groth16.prove", NAPI_AUTO_LENGTH, &name);
  NAPI_CALL(env, napi_create_async_work(env, nullptr, name, ExecuteProve, CompleteProve, j, &j->work));
  NAPI_CALL(env, napi_queue_async_work(env, j->work));
  return promise;
}

static napi_value Init(napi_env env, napi_value exports) {
  static std::once_flag ready;
  std::call_once(ready, [] {
    initField(FQ, BN254_Q);
    initField(FR, BN254_R);
    initRoots();
  });
  napi_value fn;
  NAPI_CALL(env, napi_create_function(env, "load", NAPI_AUTO_LENGTH, Load, nullptr, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "load", fn));
  NAPI_CALL(env, napi_create_function(env, "prove", NAPI_AUTO_LENGTH, Prove, nullptr, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "prove", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

#endif  // ZKINFER_NO_NAPI

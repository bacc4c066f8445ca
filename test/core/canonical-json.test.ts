import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.ts';

/** The form model descriptors were hashed with before the two canonical JSON helpers were merged. */
function descriptorForm(v: unknown): string {
  const canon = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(canon)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, canon((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(canon(v));
}

const descriptor = {
  format: 'zkinfer.model-descriptor',
  id: 'ab'.repeat(32),
  circuitFormat: 4,
  circuitHash: 'cd'.repeat(32),
  settings: { scaleBits: 10, bits: 32 },
  inputs: [
    { name: 'x', size: 5, categories: [null, ['a', 'b\u00e9', '"q"']], unknownCategory: 'refused', missing: [0.5, null] },
    { name: 'y', size: 1, categories: undefined },
  ],
  outputSize: 2,
  decisionSize: 1,
  head: 'softmax',
  publicInput: false,
  packing: { width: 22, perElement: 11 },
  inputQuant: { scaleBits: [10, 8], bits: [22, 20], lo: [-1.5, 0], hi: [1e-7, 1e21] },
  labels: ['no', 'yes'],
  extra: undefined,
};

describe('canonicalJson', () => {
  it('writes descriptors byte for byte as before the merge (model commitments unchanged)', () => {
    expect(canonicalJson(descriptor)).toBe(descriptorForm(descriptor));
    const rnd = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const r = rnd(7);
    const value = (depth: number): unknown => {
      const k = r();
      if (depth > 3 || k < 0.3) return [1.5, -0, 'x', null, true, undefined, 1e-9][Math.floor(r() * 7)];
      if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      const key = (i: number) => ['b', 'a', 'Z', 'key', '_'][Math.floor(r() * 5)] + i;
      return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [key(i), value(depth + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const v = { root: value(0) };
      expect(canonicalJson(v)).toBe(descriptorForm(v));
    }
  });

  it('leaves out undefined members, writes undefined elements and a top-level undefined as null', () => {
    expect(canonicalJson({ b: 1, a: undefined, c: [undefined, 2] })).toBe('{"b":1,"c":[null,2]}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson({ b: { d: 1, c: 2 }, a: [] })).toBe('{"a":[],"b":{"c":2,"d":1}}');
  });
});

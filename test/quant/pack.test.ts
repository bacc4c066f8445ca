import { describe, expect, it } from 'vitest';
import { FIELD_ORDER } from '../../src/fixed/field.ts';
import { packedCount, packValues, unpackValues } from '../../src/fixed/pack.ts';

describe('packing W-bit values into field elements', () => {
  it('round-trips the extremes and spills into further elements', () => {
    for (const w of [8, 22, 32, 64]) {
      const half = 1n << BigInt(w - 1);
      const per = Math.floor(250 / w);
      const values = Array.from({ length: 2 * per + 3 }, (_, i) => [-half, half - 1n, 0n, -1n, 1n][i % 5]);
      const packed = packValues(values, w);
      expect(packed).toHaveLength(packedCount(values.length, w));
      packed.forEach((e) => expect(e < FIELD_ORDER && e < 1n << 250n).toBe(true));
      expect(unpackValues(packed, values.length, w)).toEqual(values);
    }
  });

  it('refuses a value that does not fit, instead of packing it ambiguously', () => {
    expect(() => packValues([1n << 21n], 22)).toThrow(/does not fit 22 bits/);
    expect(() => packValues([-(1n << 21n) - 1n], 22)).toThrow(/does not fit/);
  });

  it('gives different elements for values that differ in one slot', () => {
    const a = packValues([5n, -7n, 9n], 22);
    const b = packValues([5n, -6n, 9n], 22);
    expect(a[0] - b[0]).toBe(-(1n << 22n));
  });
});

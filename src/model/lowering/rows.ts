import type { SparseLayer } from '../ir.ts';

/** Compressed rows of a sparse layer, built row by row. */
export class RowBuilder {
  readonly rowPtr: number[] = [0];
  readonly cols: number[] = [];
  readonly vals: number[] = [];
  readonly bias: number[] = [];

  copy(col: number): void {
    this.row([[col, 1]], 0);
  }

  /** One row: the terms' weights are summed per column, columns in increasing order. */
  row(terms: [number, number][], bias: number): void {
    const byCol = new Map<number, number>();
    for (const [c, v] of terms) byCol.set(c, (byCol.get(c) ?? 0) + v);
    for (const c of [...byCol.keys()].sort((a, b) => a - b)) {
      const v = byCol.get(c)!;
      if (v === 0) continue;
      this.cols.push(c);
      this.vals.push(v);
    }
    this.bias.push(bias);
    this.rowPtr.push(this.cols.length);
  }

  count(): number {
    return this.bias.length;
  }

  terms(): number {
    return this.cols.length;
  }

  layer(name: string, inSize: number, nodes: string[]): SparseLayer {
    return {
      kind: 'sparse',
      name,
      inSize,
      outSize: this.count(),
      rowPtr: Int32Array.from(this.rowPtr),
      cols: Int32Array.from(this.cols),
      vals: Float64Array.from(this.vals),
      bias: Float64Array.from(this.bias),
      nodes,
    };
  }
}

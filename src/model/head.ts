import type { Head } from './ir.ts';

/**
 * Applies a model's head to its logits: what the float model outputs. Used outside
 * the proof only (the circuit proves logits and the decision, never probabilities).
 */
export function applyHead(head: Head, logits: ArrayLike<number>): number[] {
  const z = Array.from(logits);
  if (head === 'sigmoid') return z.map((v) => 1 / (1 + Math.exp(-v)));
  if (head === 'softmax') {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  }
  // 'argmax': the outputs are the class scores as they are.
  return z;
}

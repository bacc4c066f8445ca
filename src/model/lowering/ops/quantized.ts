/**
 * Already quantized models whose activations are integers (QuantizeLinear and the QLinear /
 * Integer ops on activations) are refused with this note; only constant weights may be
 * quantized, and those are dequantized at import (DequantizeLinear folded in ./const.ts).
 */

/** Ops of already quantized models whose activations are integers. */
export const QUANTIZED_ACTIVATION_OPS = [
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'MatMulInteger',
  'QLinearMatMul',
  'ConvInteger',
  'QLinearConv',
  'QLinearAdd',
  'QLinearMul',
  'QGemm',
];

/** Why such an op is refused on an activation (appended to the unsupported-op error). */
export const QUANTIZED_REFUSAL =
  ' (quantized activations are not supported yet: only constant weights may be quantized, through DequantizeLinear; export the float model instead)';

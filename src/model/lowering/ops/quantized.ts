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

/** Ops of onnxruntime's dynamic quantization (quantize_dynamic): the activation's scale is computed per input. */
export const DYNAMIC_QUANTIZATION_OPS = ['DynamicQuantizeLinear', 'MatMulInteger', 'ConvInteger'];

/** Why the dynamic form is refused: its scale is a per-decision value, not a constant of the circuit. */
export const DYNAMIC_REFUSAL =
  " (dynamic quantization: onnxruntime computes each activation's scale and zero point at run time from that input's own " +
  'minimum and maximum, a per-decision value the circuit would have to prove (a min and max over the activation, a division ' +
  'and a round half to even) before every integer product; that is not supported: export the float model instead)';

/** Why such an op is refused on an activation (appended to the unsupported-op error). */
export const QUANTIZED_REFUSAL =
  ' (quantized activations are not supported yet: only constant weights may be quantized, through DequantizeLinear; export the float model instead)';

export * from './ir.ts';
export * from './float-eval.ts';
export * from './load-model.ts';
export * from './lower.ts';
export * from './onnx-file.ts';
export * from './ort-reference.ts';
export * from './parse-input.ts';
export * from './build-onnx.ts';

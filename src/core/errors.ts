/**
 * Domain errors. Every error a user can cause carries a stable `code` and, where it
 * applies, the `field` (parameter, ONNX node, input feature, file) that was wrong, so
 * the CLI can print it and the API can map it to a 4xx without parsing messages.
 */
export type ErrorCode =
  | 'MODEL_UNREADABLE' // truncated, garbage or not an ONNX ModelProto
  | 'MODEL_EXTERNAL_DATA' // external data file missing or too short
  | 'MODEL_UNSUPPORTED_OP' // op not in the supported list
  | 'MODEL_UNSUPPORTED_GRAPH' // supported ops in a shape the lowering cannot handle
  | 'MODEL_BAD_WEIGHTS' // NaN / Inf / absurd constants
  | 'MODEL_TOO_LARGE' // over a configured size limit (nodes, tensor data, parameters, layer width, constraints, ptau power)
  | 'INPUT_SHAPE' // wrong number of values, or unknown / missing feature names
  | 'INPUT_VALUE' // non-numeric, NaN, Inf
  | 'INPUT_RANGE' // a value that does not fit the fixed-point width
  | 'SETTINGS' // scale / bit width outside what is allowed
  | 'FIELD_OVERFLOW' // an accumulator could wrap around the field
  | 'CIRCUIT_COMPILE' // circom failed
  | 'ARTIFACT_CORRUPT' // a stored zkey / wasm / ptau no longer matches its recorded hash
  | 'BUNDLE_INVALID' // a proof bundle or verification key that cannot even be checked
  | 'VKEY_REFUSED' // a verification key that would accept forged proofs (gamma == delta)
  | 'CONTRACT_COMPILE' // solc refused a generated contract
  | 'CEREMONY' // a phase-2 contribution that does not extend the chain by one, or is not this circuit's
  | 'SIGNING_KEY' // a release signing / verification key that cannot be read or is of an unsupported type
  | 'CHAIN' // the JSON-RPC node is unreachable, or refused or reverted a call or transaction
  | 'PROPERTY_FALSE' // a property proof asked of a model whose committed parameters do not satisfy it
  | 'NOT_FOUND';

export class ZkinferError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  constructor(code: ErrorCode, message: string, field?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ZkinferError';
    this.code = code;
    this.field = field;
  }
}

export function isZkinferError(e: unknown, code?: ErrorCode): e is ZkinferError {
  return e instanceof ZkinferError && (code === undefined || e.code === code);
}

/**
 * An error as one line for a process that stops at startup (no stack trace): its message, else
 * the messages of the errors it aggregates (a connection refused on every address), else its code.
 */
export function startupMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const inner = e instanceof AggregateError ? e.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))).join('; ') : '';
  return e.message || inner || (e as NodeJS.ErrnoException).code || e.name;
}

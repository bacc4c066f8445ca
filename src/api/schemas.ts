import { Type } from 'typebox';
import { STAGES } from '../core/progress.ts';

export const ErrorSchema = Type.Object(
  { code: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  {
    $id: 'Error',
    description: 'A client error names what was wrong (code) and where (field); a server error says only "internal error".',
    examples: [
      { code: 'VALIDATION', message: "body must have required property 'input'", field: 'body.input' },
      { code: 'NOT_FOUND', message: 'the model is not registered here', field: 'id' },
    ],
  },
);

/** The error answers a route may give, by status code: each one an `ErrorSchema` body. */
export function errorResponses<C extends number>(...codes: C[]): Record<C, typeof ErrorSchema> {
  return Object.fromEntries(codes.map((c) => [c, ErrorSchema])) as Record<C, typeof ErrorSchema>;
}

const Phase1Kind = Type.Union([Type.Literal('ceremony'), Type.Literal('operator-pinned'), Type.Literal('development')], {
  description:
    "ceremony: a known public ceremony file (blake2b-512, as snarkjs publishes them); operator-pinned: the operator's " +
    'own file, matching the sha256 it pinned (ZKINFER_PTAU_SHA256); development: published secrets, anyone can forge proofs',
});
const CheckedBy = Type.Literal('service', {
  description: "this is the service's own check of its file, not an audit: `zkinfer audit` with the published ptau checks it for you",
});

/** The powers of tau (phase 1) of a model's key, as the service recorded it when it set the key up. */
export const ModelPhase1Schema = Type.Object(
  {
    kind: Phase1Kind,
    name: Type.String(),
    power: Type.Integer(),
    sha256: Type.String(),
    insecure: Type.Boolean({ description: 'true for a development phase 1: proofs under this key can be forged' }),
    checkedBy: CheckedBy,
    from: Type.Union([Type.Literal('key version'), Type.Literal('ceremony'), Type.Literal('service setting')], {
      description:
        'key version: the phase 1 of the latest ready key; ceremony: of the open ceremony; service setting: no key yet, ' +
        'the phase 1 the service is configured to use',
    }),
  },
  { description: 'which powers of tau (phase 1) the key was (or will be) set up on' },
);

/** The phase 1 the service sets models up on (ZKINFER_PTAU), as it checked the file at start. */
export const ServicePhase1Schema = Type.Object(
  {
    kind: Phase1Kind,
    name: Type.String(),
    power: Type.Integer({ description: "the file's power; without ZKINFER_PTAU, the largest development file the service generates" }),
    sha256: Type.Union([Type.String(), Type.Null()], { description: 'null without ZKINFER_PTAU: development files are picked per circuit' }),
    insecure: Type.Boolean(),
    source: Type.Union([Type.Literal('ZKINFER_PTAU'), Type.Literal('development files')]),
    mode: Type.Union([Type.Literal('production'), Type.Literal('development')], { description: 'ZKINFER_MODE' }),
    checkedBy: CheckedBy,
    checkedAt: Type.String(),
  },
  { description: 'the powers of tau every setup and ceremony of this service uses' },
);

const ModelStatus = Type.Union([Type.Literal('queued'), Type.Literal('compiling'), Type.Literal('ceremony'), Type.Literal('ready'), Type.Literal('failed')]);
const Settings = Type.Object({ scaleBits: Type.Integer(), bits: Type.Integer() });

const InputQuantSchema = Type.Object(
  {
    scaleBits: Type.Array(Type.Integer(), { description: 'per feature: its scale bits (feature i is round(v * 2^scaleBits[i]))' }),
    bits: Type.Array(Type.Integer(), { description: 'per feature: the bit width it is range-checked to (unsigned when lo[i] >= 0)' }),
    lo: Type.Array(Type.Number(), { description: 'per feature: the low end of the range (real units) it was sized for' }),
    hi: Type.Array(Type.Number(), { description: 'per feature: the high end of that range' }),
  },
  {
    description: 'per-feature input quantization, fixed once at upload from the calibration rows and declared ranges: what a compile replays',
  },
);

const DescriptorInput = Type.Object({
  name: Type.String(),
  size: Type.Integer({ description: 'features the circuit takes (a categorical column counts one per category)' }),
  categories: Type.Optional(
    Type.Array(Type.Union([Type.Null(), Type.Array(Type.String())]), {
      description: 'per column: its ordered categories (give one of them, as a string), or null for a numeric column',
    }),
  ),
  unknownCategory: Type.Optional(Type.Literal('refused')),
  missing: Type.Optional(
    Type.Array(Type.Union([Type.Null(), Type.Number()]), {
      description: 'per column: the value a missing entry (null) takes before quantization, or null when it may not be missing',
    }),
  ),
});

/** Proven reasons and fairness fixed at upload: the descriptor's `explain`. */
const ExplainSchema = Type.Object(
  {
    reasons: Type.Integer({ description: 'how many principal reasons each proof names (0: none)' }),
    features: Type.Array(Type.Object({ name: Type.String(), start: Type.Integer(), size: Type.Integer() }), {
      description: 'the features reasons rank, in order (a proven reason is an index into this list)',
    }),
    baseline: Type.Array(Type.Number(), { description: "each input slot's baseline in raw units (empty without reasons)" }),
    protected: Type.Array(Type.Object({ feature: Type.String(), values: Type.Array(Type.Union([Type.Number(), Type.String()])) }), {
      description: 'protected features and the values each is tested at',
    }),
  },
  { description: 'proven reasons and fairness, fixed at upload (fields "reasons", "baseline", "protected"); part of the model id' },
);

/** A version's full model descriptor with its commitment: what every bundle's `model` holds. */
export const DescriptorSchema = Type.Object(
  {
    format: Type.Literal('zkinfer.model-descriptor'),
    id: Type.String({ description: 'the model id' }),
    circuitFormat: Type.Integer(),
    circuitHash: Type.String(),
    settings: Type.Object({ scaleBits: Type.Integer(), bits: Type.Integer() }),
    inputs: Type.Array(DescriptorInput),
    outputSize: Type.Integer(),
    decisionSize: Type.Integer(),
    head: Type.String(),
    publicInput: Type.Boolean(),
    packing: Type.Object({ width: Type.Integer(), perElement: Type.Integer() }),
    inputQuant: Type.Optional(InputQuantSchema),
    labels: Type.Optional(Type.Array(Type.String())),
    explain: Type.Optional(ExplainSchema),
    parameters: Type.Optional(
      Type.Object(
        { visibility: Type.Literal('private'), commitment: Type.String(), count: Type.Integer() },
        { description: 'a private model: Poseidon over its parameters and a secret blinding value equals commitment (a constant of the circuit)' },
      ),
    ),
    commitment: Type.String({
      description: 'the model commitment public signal: top 248 bits of sha256 of the canonical descriptor (every field but this one)',
    }),
  },
  {
    additionalProperties: true,
    description:
      "the version's full model descriptor, as every bundle's `model` holds it: settings, inputs (categories, imputed " +
      'values), per-feature input quantization, labels, head, circuit hash. `zkinfer audit --descriptor` compiles from it ' +
      'and checks the key against that circuit',
  },
);

export const ModelSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    status: ModelStatus,
    stage: Type.Optional(
      Type.Union(
        STAGES.map((s) => Type.Literal(s)),
        { description: 'while compiling: the stage its compile or setup is in (the last entry of `progress`)' },
      ),
    ),
    progress: Type.Optional(
      Type.Array(
        Type.Object({
          stage: Type.Union(STAGES.map((s) => Type.Literal(s))),
          detail: Type.Optional(Type.String({ description: 'what the stage works on, e.g. `1,306 constraints`' })),
          at: Type.String({ format: 'date-time', description: 'when the stage started' }),
        }),
        {
          description:
            'the stages the last compile and setup went through, in order: import, quantize, circom, fidelity, ptau, then (when the key ' +
            'is made, not reused) phase2, contribution, beacon, export-key, and contracts',
        },
      ),
    ),
    reason: Type.Optional(Type.String()),
    fileName: Type.String(),
    externalFiles: Type.Optional(
      Type.Array(Type.String(), { description: 'the external data files uploaded with the model (GET /v1/models/{id}/artifacts/external/{name})' }),
    ),
    settings: Settings,
    publicInput: Type.Optional(Type.Boolean()),
    visibility: Type.Optional(
      Type.Union([Type.Literal('public'), Type.Literal('private')], {
        description: 'private: the parameters are a private witness bound by a commitment, and the ONNX file is not served',
      }),
    ),
    setupMode: Type.Optional(
      Type.Union([Type.Literal('service'), Type.Literal('ceremony')], { description: 'who makes the phase-2 key: the service alone, or a ceremony over REST' }),
    ),
    ceremony: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'the ceremony (setupMode ceremony): as GET /v1/models/{id}/ceremony' })),
    labels: Type.Optional(Type.Array(Type.String(), { description: 'decision names fixed at upload (0, then 1 for a sigmoid head; one per class otherwise)' })),
    inputQuant: Type.Optional(InputQuantSchema),
    explain: Type.Optional(ExplainSchema),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    inputs: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String(),
          size: Type.Integer({ description: 'features the circuit takes (a categorical column counts one per category)' }),
          categories: Type.Optional(
            Type.Array(Type.Union([Type.Null(), Type.Array(Type.String())]), {
              description: 'per column: its ordered categories (give one of them, as a string), or null for a numeric column',
            }),
          ),
          unknownCategory: Type.Optional(Type.Literal('refused')),
          missing: Type.Optional(
            Type.Array(Type.Union([Type.Null(), Type.Number()]), {
              description: 'per column: the value a missing entry (null) takes before quantization, or null when it may not be missing',
            }),
          ),
        }),
      ),
    ),
    outputSize: Type.Optional(Type.Integer()),
    head: Type.Optional(Type.String()),
    decisionSize: Type.Optional(Type.Integer()),
    commitment: Type.Optional(Type.String({ description: 'the model commitment public signal' })),
    layers: Type.Optional(
      Type.Array(Type.Object({ name: Type.String(), kind: Type.String(), size: Type.Integer(), constraints: Type.Integer(), formula: Type.String() })),
    ),
    constraints: Type.Optional(Type.Integer()),
    fidelity: Type.Optional(Type.Union([Type.Null(), Type.Object({}, { additionalProperties: true })])),
    vkeyHash: Type.Optional(Type.String()),
    setup: Type.Optional(Type.Object({}, { additionalProperties: true })),
    phase1: Type.Optional(ModelPhase1Schema),
    version: Type.Optional(Type.Integer({ description: 'the latest ready key version, which the fields above describe' })),
    descriptor: Type.Optional(DescriptorSchema),
    versions: Type.Array(
      Type.Object({
        version: Type.Integer(),
        status: Type.String(),
        vkeyHash: Type.String(),
        circuitHash: Type.String(),
        commitment: Type.String(),
        createdAt: Type.String(),
        descriptor: DescriptorSchema,
      }),
      { description: 'every key this model has had, oldest first: a key never changes; a new circuit or setup is a new version' },
    ),
  },
  { $id: 'Model' },
);

export const ModelPageSchema = Type.Object({ items: Type.Array(ModelSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) });

const Limit = Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: 'page size, 1 to 200 (default 50)' });
const Cursor = Type.String({ maxLength: 400, description: 'nextCursor of the previous page' });
export const ModelListQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, { additionalProperties: false });
export const ProofListQuery = Type.Object(
  { modelId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);
/** Picks one tenant's record when several tenants registered the same model (verifier and admin roles). */
export const TenantQuery = Type.Object({ tenant: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })) }, { additionalProperties: false });
export const VersionQuery = Type.Object(
  {
    tenant: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
    version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}$', description: 'key version (default: the latest ready one)' })),
  },
  { additionalProperties: false },
);
export const VkeyQuery = Type.Object(
  {
    tenant: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
    version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}$', description: 'key version (default: the latest ready one)' })),
    vkeyHash: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{64}$', description: "the version whose key has this hash (a bundle's vkeyHash), whichever tenant registered it" }),
    ),
  },
  { additionalProperties: false },
);

export const ProofRequestSchema = Type.Object(
  {
    input: Type.Union([Type.Array(Type.Unknown()), Type.Record(Type.String(), Type.Unknown())], {
      description:
        '{"input_data": [[...]]}, a flat array, or named features; a categorical column is given as one of its categories ' +
        '(a string), a missing value as null (only where the model imputes one)',
    }),
    salt: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,76})$' })),
    nonce: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,76})$' })),
  },
  {
    additionalProperties: false,
    $id: 'ProofRequest',
    // The loan example's applicant (examples/loan/applicant.json), with a nonce.
    examples: [
      {
        input: {
          age: 40,
          income: 38.5,
          loan_amount: 44.7,
          debt_to_income: 26.2,
          credit_history_years: 2.3,
          late_payments: 0,
          employment_years: 11.9,
          credit_score: 674,
        },
        nonce: '42',
      },
    ],
  },
);

export const ProofSchema = Type.Object(
  {
    id: Type.String(),
    modelId: Type.String(),
    status: Type.Union([Type.Literal('queued'), Type.Literal('proving'), Type.Literal('done'), Type.Literal('failed')]),
    stage: Type.String(),
    reason: Type.Optional(Type.String()),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    timings: Type.Optional(Type.Object({ witnessMs: Type.Number(), proveMs: Type.Number(), verifyMs: Type.Number(), totalMs: Type.Number() })),
    worker: Type.Optional(Type.String({ description: 'host:pid of the worker that made the proof' })),
    warnings: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'prover-side notes, not proven and not in the bundle: an input feature so close to a tree split that rounding it to its grid ' +
          'may decide the split otherwise than float (onnxruntime)',
      }),
    ),
    modelVersion: Type.Optional(Type.Integer({ description: "the model's key version the proof was made with" })),
    bundle: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'the proof bundle (schemas/proof-bundle.schema.json) once done' })),
  },
  { $id: 'Proof' },
);

export const ProofPageSchema = Type.Object({ items: Type.Array(ProofSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) });

/** A field element or coordinate as the bundle schema has it: decimal, no leading zeros, at most 78 digits. */
const Decimal = Type.String({ pattern: '^(0|[1-9][0-9]{0,77})$', maxLength: 78 });
const Groth16Proof = Type.Object(
  {
    pi_a: Type.Array(Decimal, { minItems: 3, maxItems: 3 }),
    pi_b: Type.Array(Type.Array(Decimal, { minItems: 2, maxItems: 2 }), { minItems: 3, maxItems: 3 }),
    pi_c: Type.Array(Decimal, { minItems: 3, maxItems: 3 }),
    protocol: Type.Literal('groth16'),
    curve: Type.Literal('bn128'),
  },
  { additionalProperties: false, description: 'a snarkjs Groth16 proof' },
);

const VerifyTenant = Type.Optional(
  Type.String({
    pattern: '^[A-Za-z0-9_-]{1,64}$',
    description: "whose registration of the model to verify against; by default the caller's own tenant, else the only one (a 409 when several registered it)",
  }),
);
const ExpectVkeyHash = Type.Optional(
  Type.String({
    pattern: '^[0-9a-f]{64}$',
    description: 'the key hash the verifier expects (the one the model owner published): a proof checked with any other key is invalid',
  }),
);

export const VerifyRequestSchema = Type.Union(
  [
    Type.Object(
      { bundle: Type.Object({}, { additionalProperties: true }), tenant: VerifyTenant, expectVkeyHash: ExpectVkeyHash },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        modelId: Type.String({ pattern: '^[0-9a-f]{64}$' }),
        proof: Groth16Proof,
        publicSignals: Type.Array(Decimal, { minItems: 3, maxItems: 4096 }),
        version: Type.Optional(
          Type.Integer({ minimum: 1, description: 'the key version; by default each version whose commitment is publicSignals[0], newest first' }),
        ),
        tenant: VerifyTenant,
        expectVkeyHash: ExpectVkeyHash,
      },
      { additionalProperties: false },
    ),
  ],
  { $id: 'VerifyRequest', description: 'A proof bundle, or a proof with its public signals and the model id' },
);

export const VerifyResultSchema = Type.Object(
  {
    valid: Type.Boolean(),
    reason: Type.String(),
    field: Type.Optional(Type.String({ description: 'the bundle (or key) field that failed a check' })),
    modelId: Type.String(),
    vkeyHash: Type.String({ description: 'hash of the registered key the proof was checked against' }),
    version: Type.Optional(Type.Integer({ description: 'the key version that was used' })),
    outputs: Type.Union([Type.Null(), Type.Object({}, { additionalProperties: true })], {
      description:
        'decoded from the proven public signals through the registered model descriptor; null unless valid. `decision` holds the ' +
        'decision values, `decisionLabels` names each as `zkinfer verify` and the verification page show it ("0: decline (logit < 0)"); ' +
        '`reasons` and `fairness` are there for a model whose descriptor has `explain`',
    }),
    reasonsText: Type.Optional(Type.String({ description: 'valid proofs with reasons only: "Principal reasons: 1. feature (contribution), ..." (proven)' })),
    reasonsNote: Type.Optional(Type.String({ description: "what a reason's number means (the score change at the model's baseline)" })),
    fairnessText: Type.Optional(
      Type.Array(Type.String(), {
        description: 'valid proofs with fairness only: "Decision unchanged for every value of: ..." and/or "Decision CHANGES with the value of: ..." (proven)',
      }),
    ),
    inputCommitment: Type.Union([Type.Null(), Type.String()], {
      description: 'proven input commitment (public signal 1); null unless valid, or when the input is public',
    }),
    nonce: Type.Union([Type.Null(), Type.String()], { description: 'proven nonce; null unless valid' }),
    parameters: Type.Optional(
      Type.Object(
        { visibility: Type.Literal('private'), commitment: Type.String(), count: Type.Integer() },
        {
          description:
            'a private model (valid proofs only): its parameters are not published, and the proof shows they are the ones committed to by ' +
            'commitment, the same for every decision under this key',
        },
      ),
    ),
    tenant: Type.String({ description: 'the tenant whose registered key the proof was checked against' }),
    phase1: Type.Object(
      {
        kind: Type.Union(['ceremony', 'auditor-trusted', 'operator-pinned', 'development', 'unrecognised', 'not-checked'].map((k) => Type.Literal(k))),
        name: Type.String(),
        label: Type.String(),
        trusted: Type.Boolean(),
        checkedBy: Type.Union([Type.Literal('service'), Type.Literal('key'), Type.Literal('file')]),
      },
      {
        description:
          "the key's powers of tau as this service established it when it set the key up: by the hash of its configured ptau " +
          "file (checkedBy: service, the service's word); a regulator establishes it from the file itself with zkinfer audit",
      },
    ),
    trust: Type.String({
      description: "one line on how far the setup can be trusted (development, phase 1, phase-2 contributions), from the service's records",
    }),
    setup: Type.Object(
      {},
      {
        additionalProperties: true,
        description: "the service's record of how it made the key (phase-2 contributions, ptau file): check it with zkinfer audit",
      },
    ),
  },
  { $id: 'VerifyResult' },
);

export const Accepted = Type.Object({ id: Type.String(), status: Type.String() });

const Word = Type.String({ pattern: '^0x[0-9a-f]{64}$', description: '32-byte word, 0x-prefixed hex' });
const Contract = Type.Object({
  name: Type.String(),
  source: Type.String({ description: 'Solidity source' }),
  abi: Type.Array(Type.Object({}, { additionalProperties: true })),
  bytecode: Type.String({ description: 'creation bytecode, 0x-prefixed hex' }),
});

export const ContractsSchema = Type.Object(
  {
    modelId: Type.String(),
    compiler: Type.Object({ name: Type.Literal('solc'), version: Type.String(), settings: Type.Object({}, { additionalProperties: true }) }),
    verifier: Contract,
    registry: Contract,
  },
  { description: "The model's Groth16 verifier (snarkjs template) and its attestation registry, compiled with the pinned solc" },
);

export const CalldataSchema = Type.Object(
  {
    modelId: Type.String(),
    pA: Type.Array(Word, { minItems: 2, maxItems: 2 }),
    pB: Type.Array(Type.Array(Word, { minItems: 2, maxItems: 2 }), { minItems: 2, maxItems: 2 }),
    pC: Type.Array(Word, { minItems: 2, maxItems: 2 }),
    pubSignals: Type.Array(Word),
    calldata: Type.Object({
      verifyProof: Type.String({ description: "transaction data for the verifier's verifyProof" }),
      attest: Type.String({ description: "transaction data for the registry's attest" }),
    }),
  },
  { description: 'The proof as the Solidity verifier takes it (pB coordinate pairs in the EVM order), and ready-made transaction data' },
);

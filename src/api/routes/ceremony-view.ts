import { Type } from 'typebox';
import type { CeremonyRow } from '../../store/ceremonies.ts';

/** A ceremony as the API shows it: its schema (OpenAPI `Ceremony`) and the view of a stored one. */

const Contribution = Type.Object({
  index: Type.Integer({ description: '1-based position in the chain' }),
  name: Type.String(),
  hash: Type.String({ description: 'blake2b-512 contribution hash (snarkjs): what the contributor publishes' }),
  zkeySha256: Type.String({ description: 'sha256 of the key this contribution made' }),
  baseSha256: Type.String({ description: 'sha256 of the key it extends' }),
  uploadedBy: Type.String({ description: 'role:tenant of the API key that uploaded it' }),
  checkMs: Type.Number({ description: 'time the service took to check it against the r1cs and ptau' }),
  createdAt: Type.String(),
});

export const CeremonySchema = Type.Object(
  {
    modelId: Type.String(),
    state: Type.Union([Type.Literal('open'), Type.Literal('finalized')]),
    circuitHash: Type.String(),
    r1csSha256: Type.String(),
    csHash: Type.String({ description: 'snarkjs csHash of the initial key: every key of this circuit and ptau shares it' }),
    ptau: Type.Object({ kind: Type.String(), name: Type.String(), power: Type.Integer(), sha256: Type.String() }),
    baseSha256: Type.String({ description: 'sha256 of the initial key (no contribution)' }),
    currentSha256: Type.String({ description: 'sha256 of the latest key: the base the next contribution must extend (x-zkinfer-base-sha256)' }),
    contributions: Type.Array(Contribution),
    resets: Type.Array(
      Type.Object({
        n: Type.Integer({ description: '1 for the first reset' }),
        fromSha256: Type.String({ description: 'the current key when it was reset' }),
        contributions: Type.Array(Contribution, { description: 'the contributions the reset dropped from the chain' }),
        resetBy: Type.String({ description: 'role:tenant of the API key that reset it' }),
        reason: Type.String(),
        createdAt: Type.String(),
      }),
      { description: 'resets of the ceremony to its initial key (POST .../ceremony/reset), oldest first' },
    ),
    beacon: Type.Union([
      Type.Null(),
      Type.Object({ hash: Type.String(), iterationsExp: Type.Integer(), contributionHash: Type.String(), finalZkeySha256: Type.String() }),
    ]),
    version: Type.Union([Type.Null(), Type.Integer({ description: 'the key version finalize made' })]),
    trust: Type.String({ description: 'who the key depends on, in words' }),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'Ceremony' },
);

/** A ceremony as callers see it. */
export function ceremonyView(c: CeremonyRow) {
  const n = c.contributions.length;
  const trust =
    c.state === 'finalized'
      ? `finalized: ${n} contribution(s) and a public beacon; the key is sound if one contributor destroyed their entropy`
      : n === 0
        ? 'open: no contribution yet (anyone holding the key could forge proofs); no proofs until it is finalized'
        : `open: ${n} contribution(s) so far; no proofs until it is finalized`;
  return {
    modelId: c.modelId,
    state: c.state,
    circuitHash: c.circuitHash,
    r1csSha256: c.r1csSha256,
    csHash: c.csHash,
    ptau: c.ptau,
    baseSha256: c.baseSha256,
    currentSha256: c.currentSha256,
    contributions: c.contributions,
    resets: c.resets,
    beacon: c.beacon,
    version: c.version,
    trust,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

/** in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md). */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';

/** The predicate type of a zkinfer model release attestation. */
export const RELEASE_PREDICATE_TYPE = 'https://zkinfer.dev/attestation/release/v1';

export interface Subject {
  /** Path of the file relative to the release directory, '/' separated. */
  name: string;
  digest: { sha256: string };
}

export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

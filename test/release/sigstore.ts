// Checks a DSSE envelope with sigstore-js (@sigstore/verify), an implementation zkinfer did
// not write: it computes the PAE itself and verifies the signature with the public key named
// by the bundle's hint. No transparency log or timestamp is asked for (a keyed, offline check).
import { createPublicKey } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** Throws (a sigstore VerificationError) unless the envelope is signed by `publicKeyPem`. */
export function sigstoreVerify(env: Envelope, publicKeyPem: string): void {
  const hint = 'release-key';
  const bundle = bundleFromJSON({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: { payload: env.payload, payloadType: env.payloadType, signatures: env.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid })) },
  });
  const publicKey = createPublicKey(publicKeyPem);
  const verifier = new Verifier(
    {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: (h: string) => {
        if (h !== hint) throw new Error(`unknown key hint ${h}`);
        return { publicKey, validFor: () => true };
      },
    },
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  verifier.verify(toSignedEntity(bundle));
}

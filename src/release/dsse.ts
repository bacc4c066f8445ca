import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ZkinferError } from '../core/errors.ts';

/** The payload type of an in-toto statement inside a DSSE envelope. */
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse, envelope.md): payload and signatures base64. */
export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal bytes. */
export function preAuthEncoding(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), Buffer.from(body)]);
}

/** Where a key comes from: a PEM file, or `env:NAME` for a PEM held in an environment variable (a CI secret). */
async function readPem(spec: string, field: string): Promise<string> {
  if (spec.startsWith('env:')) {
    const name = spec.slice(4);
    const v = process.env[name];
    if (!v) throw new ZkinferError('SIGNING_KEY', `environment variable ${name} is not set`, field);
    return v;
  }
  try {
    return await readFile(spec, 'utf8');
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${spec}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
}

function checkType(k: KeyObject, field: string): KeyObject {
  const ok = k.asymmetricKeyType === 'ed25519' || (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!ok) {
    const what = k.asymmetricKeyType === 'ec' ? `EC ${k.asymmetricKeyDetails?.namedCurve}` : k.asymmetricKeyType;
    throw new ZkinferError('SIGNING_KEY', `a release is signed with Ed25519 or ECDSA P-256; this key is ${what}`, field);
  }
  return k;
}

/** A private signing key (Ed25519 or ECDSA P-256, PEM: PKCS#8, or SEC1 for EC keys). */
export async function loadSigningKey(spec: string): Promise<KeyObject> {
  const pem = await readPem(spec, 'sign-key');
  let k: KeyObject;
  try {
    k = createPrivateKey(pem);
  } catch (e) {
    throw new ZkinferError('SIGNING_KEY', `not a private key in PEM form: ${(e as Error).message}`, 'sign-key');
  }
  return checkType(k, 'sign-key');
}

/**
 * A public key to verify with. A private key is refused, not reduced to its public half: it
 * is the secret that signs releases, and whoever passes it here is sharing it by mistake.
 */
export async function loadVerifyKey(spec: string): Promise<KeyObject> {
  const pem = await readPem(spec, 'pub-key');
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem.toString()))
    throw new ZkinferError(
      'SIGNING_KEY',
      `${spec} is a private key: --pub-key takes the public key only (openssl pkey -in key.pem -pubout -out key.pub.pem); keep the private key secret`,
      'pub-key',
    );
  let k: KeyObject;
  try {
    k = createPublicKey(pem);
  } catch (e) {
    throw new ZkinferError('SIGNING_KEY', `not a public key in PEM form: ${(e as Error).message}`, 'pub-key');
  }
  return checkType(k, 'pub-key');
}

/** The key id written in the envelope: sha256 of the public key's DER SubjectPublicKeyInfo, hex. */
export function keyIdOf(k: KeyObject): string {
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** ECDSA signs the PAE's SHA-256 (DER signature); Ed25519 signs the PAE itself. */
const algorithmOf = (k: KeyObject) => (k.asymmetricKeyType === 'ed25519' ? null : 'sha256');

/** Signs a payload as a DSSE envelope with one signature. */
export function signEnvelope(payloadType: string, payload: Uint8Array, key: KeyObject): DsseEnvelope {
  const sig = sign(algorithmOf(key), preAuthEncoding(payloadType, payload), key);
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [{ keyid: keyIdOf(key), sig: sig.toString('base64') }] };
}

/** Checks that one of the envelope's signatures is `key`'s over the PAE; returns the payload bytes, or null. */
export function verifyEnvelope(env: DsseEnvelope, key: KeyObject): Buffer | null {
  const payload = Buffer.from(env.payload, 'base64');
  const pae = preAuthEncoding(env.payloadType, payload);
  for (const s of env.signatures) {
    if (verify(algorithmOf(key), pae, key, Buffer.from(s.sig, 'base64'))) return payload;
  }
  return null;
}

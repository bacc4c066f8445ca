// `zkinfer release` on the loan example: fidelity gates on its labelled held-out rows, two
// sample proofs, and a DSSE-signed in-toto statement checked by sigstore-js and by openssl
// (implementations zkinfer did not write); then `release verify` refuses any changed file.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { INTOTO_PAYLOAD_TYPE, signEnvelope, verifyRelease } from '../../src/release/index.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_MODEL, REPO } from '../helpers/paths.ts';
import { type Envelope, sigstoreVerify } from './sigstore.ts';

const run = promisify(execFile);
const TEST_SET = path.join(REPO, 'examples', 'loan', 'test-set.csv');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The DSSE pre-authentication encoding, written here from the spec (not imported from src). */
const pae = (type: string, body: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

describe('zkinfer release', () => {
  let dir: string;
  let out: string;
  let ec: { priv: string; pub: string; pubFile: string };
  let result: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-release-'));
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    ec = {
      priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      pub: k.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      pubFile: path.join(dir, 'release.pub.pem'),
    };
    await writeFile(path.join(dir, 'release.pem'), ec.priv);
    await writeFile(ec.pubFile, ec.pub);
    out = path.join(dir, 'release');
    result = await cli([
      'release',
      LOAN_MODEL,
      '--test-set',
      TEST_SET,
      '--label-column',
      'approved',
      '--max-flip-rate',
      '0.02',
      '--min-accuracy',
      '0.85',
      '--prove',
      '2',
      '--sign-key',
      path.join(dir, 'release.pem'),
      '-o',
      out,
      '--json',
    ]);
  });

  const envelope = async (d = out) => JSON.parse(await readFile(path.join(d, 'attestation.dsse.json'), 'utf8')) as Envelope;

  it('measures fidelity on the labelled test set, proves two rows and signs the artifacts', async () => {
    expect(result.code, result.stderr).toBe(0);
    // Every file snarkjs opened is closed (#25, item 9): no warning from Node's garbage collector.
    expect(result.stderr).not.toMatch(/Closing file descriptor|DEP0137|FileHandle/);
    const r = JSON.parse(result.stdout);
    expect(r.ok).toBe(true);
    expect(r.fidelity).toMatchObject({ samples: 200, labelled: 200, outOfRange: 0 });
    expect(r.fidelity.quantizedAccuracy).toBeGreaterThan(0.85);
    expect(r.fidelity.floatAccuracy).toBeGreaterThan(0.85);
    expect(r.gates.map((g: { name: string; ok: boolean }) => [g.name, g.ok])).toEqual([
      ['max-flip-rate', true],
      ['min-accuracy', true],
    ]);
    const names = r.subjects.map((s: { name: string }) => s.name);
    for (const n of [
      'model/loan-model.onnx',
      'circuit/main.circom',
      'circuit/main.r1cs',
      'keys/circuit.zkey',
      'keys/vkey.json',
      'contracts/Groth16Verifier.sol',
      'contracts/ZkinferRegistry.sol',
      'contracts/contracts.json',
    ]) {
      expect(names).toContain(n);
    }
    expect(names.filter((n: string) => n.startsWith('proofs/'))).toHaveLength(2);
  });

  it('writes a DSSE envelope that sigstore-js and openssl verify, over an in-toto statement whose digests are the files', async () => {
    const env = await envelope();
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    sigstoreVerify(env, ec.pub);
    // openssl: ECDSA P-256 with SHA-256 over the PAE bytes, DER signature.
    await writeFile(path.join(dir, 'pae.bin'), pae(env.payloadType, Buffer.from(env.payload, 'base64')));
    await writeFile(path.join(dir, 'sig.der'), Buffer.from(env.signatures[0].sig, 'base64'));
    const o = await run('openssl', ['dgst', '-sha256', '-verify', ec.pubFile, '-signature', path.join(dir, 'sig.der'), path.join(dir, 'pae.bin')]);
    expect(o.stdout).toMatch(/Verified OK/);
    // Another key does not verify it.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(() => sigstoreVerify(env, other)).toThrow();

    const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    expect(st._type).toBe('https://in-toto.io/Statement/v1');
    expect(st.predicateType).toBe('https://zkinfer.dev/attestation/release/v1');
    for (const s of st.subject) expect(s.digest.sha256, s.name).toBe(sha256(await readFile(path.join(out, s.name))));
    const p = st.predicate;
    expect(p.model.descriptor.id).toBe(p.model.id);
    const bundle = JSON.parse(await readFile(path.join(out, p.proofs[0].file), 'utf8'));
    expect(bundle.model.commitment).toBe(p.model.commitment);
    expect(p.setup.audit.ok).toBe(true);
    expect(p.setup.phase2.map((c: { name: string }) => c.name)).toEqual(['zkinfer phase 2 contribution', 'zkinfer phase 2 beacon']);
    expect(p.setup.ptau).toMatchObject({ kind: 'development', name: 'zkinfer-dev-13' });
    expect(p.tools).toHaveProperty('snarkjs', '0.7.6');
    expect(p.fidelity.decisionFlips).toBe(0);
  });

  it('release verify passes the untouched release (exit 0)', async () => {
    const r = await cli(['release', 'verify', out, '--pub-key', ec.pubFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^VALID: signed release of model [0-9a-f]{64}: 11 files and 2 proof\(s\) check/);
  });

  it('release verify refuses the release after one byte of any subject changes, naming it (exit 1)', async () => {
    const st = JSON.parse(Buffer.from((await envelope()).payload, 'base64').toString('utf8'));
    const names: string[] = st.subject.map((s: { name: string }) => s.name);
    expect(names.length).toBe(11);
    for (const [i, name] of names.entries()) {
      const copy = path.join(dir, `tampered-${i}`);
      await cp(out, copy, { recursive: true });
      const file = path.join(copy, name);
      const bytes = await readFile(file);
      bytes[bytes.length >> 1] ^= 0x01;
      await writeFile(file, bytes);
      const r = await verifyRelease(copy, ec.pubFile);
      expect(r.status, name).toBe('invalid');
      expect(r.subject).toBe(name);
      expect(r.reason).toContain(`subject ${name} was changed`);
    }
    // The CLI, for one of them.
    const r = await cli(['release', 'verify', path.join(dir, `tampered-${names.indexOf('keys/circuit.zkey')}`), '--pub-key', ec.pubFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^INVALID: subject keys\/circuit.zkey was changed/);
  });

  it('release verify refuses another key (exit 1), a changed statement (exit 1) and a missing envelope (exit 2)', async () => {
    const otherKey = path.join(dir, 'other.pub.pem');
    await writeFile(otherKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    expect((await cli(['release', 'verify', out, '--pub-key', otherKey])).code).toBe(1);

    const copy = path.join(dir, 'edited-statement');
    await cp(out, copy, { recursive: true });
    const env = await envelope();
    const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    st.predicate.fidelity.flipRate = 0.5;
    await writeFile(path.join(copy, 'attestation.dsse.json'), JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(st)).toString('base64') }));
    const r = await cli(['release', 'verify', copy, '--pub-key', ec.pubFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/not signed by this key/);

    expect((await cli(['release', 'verify', path.join(dir, 'nowhere'), '--pub-key', ec.pubFile])).code).toBe(2);
  });

  it('release verify refuses the private signing key as --pub-key (exit 2, saying so), in a file or from env: (#25, item 14)', async () => {
    const file = await cli(['release', 'verify', out, '--pub-key', path.join(dir, 'release.pem')]);
    expect(file.code).toBe(2);
    expect(file.stdout).toMatch(/^UNUSABLE: \S*release\.pem is a private key: --pub-key takes the public key only/);
    const env = await cli(['release', 'verify', out, '--pub-key', 'env:RELEASE_KEY', '--json'], { ...process.env, RELEASE_KEY: ec.priv });
    expect(env.code).toBe(2);
    expect(JSON.parse(env.stdout)).toMatchObject({ status: 'unusable', reason: expect.stringMatching(/^env:RELEASE_KEY is a private key/) });
  });

  it('release verify refuses a file no signature covers (exit 1, naming it) and an envelope entry without sig (exit 2, no TypeError)', async () => {
    const extra = path.join(dir, 'extra-file');
    await cp(out, extra, { recursive: true });
    // A proof slipped in beside the signed ones, and a file at the top.
    await writeFile(path.join(extra, 'proofs', 'row-forged.json'), '{}\n');
    const r = await cli(['release', 'verify', extra, '--pub-key', ec.pubFile]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^INVALID: proofs\/row-forged.json is in the release folder but no signature covers it/);
    await writeFile(path.join(extra, 'NOTES.txt'), 'trust me\n');
    const both = await verifyRelease(extra, ec.pubFile);
    expect(both).toMatchObject({ status: 'invalid', subject: 'NOTES.txt' });
    expect(both.reason).toContain('and 1 more: proofs/row-forged.json');

    const nosig = path.join(dir, 'no-sig');
    await cp(out, nosig, { recursive: true });
    const env = await envelope();
    await writeFile(path.join(nosig, 'attestation.dsse.json'), JSON.stringify({ ...env, signatures: [{ keyid: '' }, ...env.signatures] }));
    const n = await cli(['release', 'verify', nosig, '--pub-key', ec.pubFile]);
    expect(n.code, n.stdout + n.stderr).toBe(2);
    expect(n.stdout).toMatch(/^UNUSABLE: cannot read attestation.dsse.json .*signature entry #1 has no sig/);
    expect(n.stderr).not.toMatch(/TypeError|internal error/);
  });

  it('an Ed25519 key from an environment variable signs the same statement; sigstore-js and release verify accept it', async () => {
    const ed = generateKeyPairSync('ed25519');
    const copy = path.join(dir, 'ed25519');
    await cp(out, copy, { recursive: true });
    const payload = Buffer.from((await envelope()).payload, 'base64');
    const env = signEnvelope(INTOTO_PAYLOAD_TYPE, payload, ed.privateKey);
    await writeFile(path.join(copy, 'attestation.dsse.json'), JSON.stringify(env));
    const pub = ed.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    sigstoreVerify(env, pub);
    process.env.ZKINFER_TEST_RELEASE_PUB = pub;
    try {
      expect((await verifyRelease(copy, 'env:ZKINFER_TEST_RELEASE_PUB')).status).toBe('valid');
      expect((await verifyRelease(copy, ec.pubFile)).status).toBe('invalid');
    } finally {
      delete process.env.ZKINFER_TEST_RELEASE_PUB;
    }
  });

  it('states the setup first and applies the trust policy: a development release is refused by --require-trusted-setup', async () => {
    const plain = await cli(['release', 'verify', out, '--pub-key', ec.pubFile]);
    expect(plain.stdout.split('\n')[1]).toMatch(/^SETUP: DEVELOPMENT/);
    const strict = await cli(['release', 'verify', out, '--pub-key', ec.pubFile, '--require-trusted-setup', '--json']);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toMatchObject({
      status: 'invalid',
      subject: 'keys/vkey.json',
      reason: expect.stringMatching(/trust policy: the setup is a development one/),
    });
    // With the ptau file it is established from the file: still development.
    const withPtau = await cli([
      'release',
      'verify',
      out,
      '--pub-key',
      ec.pubFile,
      '--ptau',
      path.join(REPO, 'ptau', 'dev-13.ptau'),
      '--require-trusted-setup',
    ]);
    expect(withPtau.code).toBe(1);
    const contributions = await cli(['release', 'verify', out, '--pub-key', ec.pubFile, '--min-independent-contributions', '1']);
    expect(contributions.code).toBe(1);
    expect(contributions.stdout).toMatch(/no phase-2 contribution is known to be independent/);
    // The release itself refuses before proving or signing anything.
    const refused = path.join(dir, 'refused');
    const r = await cli([
      'release',
      LOAN_MODEL,
      '--test-set',
      TEST_SET,
      '--label-column',
      'approved',
      '--prove',
      '1',
      '--sign-key',
      path.join(dir, 'release.pem'),
      '-o',
      refused,
      '--require-trusted-setup',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RELEASE REFUSED: the setup does not meet the trust policy: the setup is a development one/);
    expect(await readdir(refused)).not.toContain('attestation.dsse.json');
  });

  it('stops (exit 1) when a gate fails, writing the report but nothing signed', async () => {
    const stopped = path.join(dir, 'stopped');
    const r = await cli([
      'release',
      LOAN_MODEL,
      '--test-set',
      TEST_SET,
      '--label-column',
      'approved',
      '--min-accuracy',
      '0.99',
      '--sign-key',
      path.join(dir, 'release.pem'),
      '-o',
      stopped,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^RELEASE STOPPED: a fidelity gate failed/);
    expect(r.stdout).toMatch(/FAIL min-accuracy 0.99: measured 0\.9\d+/);
    const report = JSON.parse(await readFile(path.join(stopped, 'release-report.json'), 'utf8'));
    expect(report).toMatchObject({ ok: false, gates: [{ name: 'min-accuracy', threshold: 0.99, ok: false }] });
    expect(await readdir(stopped)).toEqual(['release-report.json']);
  });

  it('refuses unusable input before any work (exit 2): an RSA key, a test set missing a model input', async () => {
    const rsa = path.join(dir, 'rsa.pem');
    await writeFile(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const bad = await cli(['release', LOAN_MODEL, '--test-set', TEST_SET, '--sign-key', rsa, '-o', path.join(dir, 'rsa')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Ed25519 or ECDSA P-256; this key is rsa/);
    const csv = path.join(dir, 'missing.csv');
    await writeFile(csv, (await readFile(TEST_SET, 'utf8')).replace(/^age,/, 'years,'));
    const missing = await cli(['release', LOAN_MODEL, '--test-set', csv, '--sign-key', path.join(dir, 'release.pem'), '-o', path.join(dir, 'missing')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no column "age"/);
  });
});

// A file-based phase-2 ceremony on the loan model, through the CLI as contributors use it:
// two contributors, a public beacon, proofs under the final key, and the contributions a
// coordinator must refuse (two at once, an old base, another circuit).
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as snarkjs from 'snarkjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ceremonySetup, checkContribution, contribute, readChain } from '../../src/ceremony/index.ts';
import { compileModel, type CompiledModel, proveModel } from '../../src/pipeline/index.ts';
import { BUNDLED_DEV_PTAU } from '../../src/prover/ptau.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const run = promisify(execFile);
const PTAU = BUNDLED_DEV_PTAU.file;
const BEACON = '0f'.repeat(32);

const json = (r: { code: number; stdout: string; stderr: string }) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('file-based ceremony', () => {
  let dir: string;
  let m: CompiledModel;
  const z = (name: string) => path.join(dir, name);
  const hashes: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ceremony-'));
    m = await compileModel(LOAN_MODEL, { fidelity: false });
    const init = json(await cli(['setup', LOAN_MODEL, '--ceremony', dir]));
    expect(init).toMatchObject({ format: 'zkinfer.ceremony', modelId: m.modelId, commitment: m.modelCommitment.toString(), chain: [] });
    expect(init.ptau).toMatchObject({ name: 'zkinfer-dev-13', sha256: BUNDLED_DEV_PTAU.sha256 });
    // Two contributors in turn, each on the previous key, as an air-gapped contributor would.
    hashes.alice = json(
      await cli(['ceremony', 'contribute', '--in', z('circuit_0000.zkey'), '--out', z('alice.zkey'), '--name', 'alice (regulator)']),
    ).contributionHash;
    hashes.bob = json(await cli(['ceremony', 'contribute', '--in', z('alice.zkey'), '--out', z('bob.zkey'), '--name', 'bob (bank)'])).contributionHash;
  });

  it('prints the contribution hash snarkjs computed, and the coordinator accepts each step', async () => {
    expect(hashes.alice).toMatch(/^[0-9a-f]{128}$/);
    const r = await cli(['ceremony', 'verify', z('bob.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--base', z('alice.zkey'), '--json']);
    const v = json(r);
    expect(v.valid).toBe(true);
    expect(v.chain.map((c: { name: string; hash: string }) => [c.name, c.hash])).toEqual([
      ['alice (regulator)', hashes.alice],
      ['bob (bank)', hashes.bob],
    ]);
    const record = JSON.parse(await readFile(z('ceremony.json'), 'utf8'));
    expect(record).toMatchObject({ zkey: 'bob.zkey', chain: [{ hash: hashes.alice }, { hash: hashes.bob }] });
  });

  it('finalizes with a beacon; the chain lists both contributions and the beacon, as snarkjs itself reports them', async () => {
    const f = json(
      await cli([
        'ceremony',
        'finalize',
        '--in',
        z('bob.zkey'),
        '--beacon',
        BEACON,
        '--iterations',
        '10',
        '-o',
        z('final'),
        '--model',
        LOAN_MODEL,
        '--ptau',
        PTAU,
      ]),
    );
    expect(f.verified).toBe(true);
    expect(f.chain.map((c: { name: string }) => c.name)).toEqual(['alice (regulator)', 'bob (bank)', 'final beacon']);
    expect(f.chain[2].beacon).toEqual({ hash: BEACON, iterationsExp: 10 });
    expect(f.chain[2].hash).toBe(f.beaconHash);
    // `zkinfer audit` reads the list from snarkjs' own verifier log, not from readChain.
    const audit = json(
      await cli([
        'audit',
        LOAN_MODEL,
        '--vkey',
        path.join(dir, 'final', 'vkey.json'),
        '--zkey',
        path.join(dir, 'final', 'circuit_final.zkey'),
        '--ptau',
        PTAU,
        '--json',
      ]),
    );
    expect(audit.ok).toBe(true);
    expect(audit.contributions.map((c: { hash: string }) => c.hash)).toEqual([hashes.alice, hashes.bob, f.beaconHash]);
    expect(audit.contributions[2].beacon).toEqual({ hash: BEACON, iterationsExp: 10 });
    const text = await cli(['ceremony', 'verify', path.join(dir, 'final', 'circuit_final.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^VALID \(DEVELOPMENT ONLY\): .* through 3 verified contribution\(s\)/);
    expect(text.stdout).toContain(`#1 alice (regulator): ${hashes.alice}`);
    expect(text.stdout).toMatch(/finalized with a public beacon/);
  });

  it("the final key proves: the prover's proof verifies under the exported vkey.json, with the snarkjs CLI too", async () => {
    const finalZkey = path.join(dir, 'final', 'circuit_final.zkey');
    const vkey = JSON.parse(await readFile(path.join(dir, 'final', 'vkey.json'), 'utf8'));
    const setup = await ceremonySetup(m, finalZkey, PTAU);
    expect(setup.provenance.phase2.map((p) => p.hash)).toEqual([hashes.alice, hashes.bob, (await readChain(finalZkey)).contributions[2].hash]);
    const { bundle } = await proveModel(m, setup, JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')));
    expect(await snarkjs.groth16.verify(vkey, bundle.publicSignals, bundle.proof)).toBe(true);
    await writeFile(z('public.json'), JSON.stringify(bundle.publicSignals));
    await writeFile(z('proof.json'), JSON.stringify(bundle.proof));
    const snark = await run(process.execPath, [
      path.join(REPO, 'node_modules', 'snarkjs', 'cli.js'),
      'groth16',
      'verify',
      path.join(dir, 'final', 'vkey.json'),
      z('public.json'),
      z('proof.json'),
    ]);
    expect(snark.stdout).toMatch(/OK!/);
    // A key from bob's (unfinalized) step is another key: the proof does not verify under it.
    const bobKey = await snarkjs.zKey.exportVerificationKey(z('bob.zkey'));
    expect(await snarkjs.groth16.verify(bobKey, bundle.publicSignals, bundle.proof)).toBe(false);
  });

  it('a release with the ceremony key (--zkey, --ptau) attests its contributions', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const signing = generateKeyPairSync('ed25519');
    await writeFile(z('sign.pem'), signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await writeFile(z('sign.pub.pem'), signing.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const testSet = path.join(REPO, 'examples', 'loan', 'test-set.csv');
    const finalZkey = path.join(dir, 'final', 'circuit_final.zkey');
    const r = await cli([
      'release',
      LOAN_MODEL,
      '--test-set',
      testSet,
      '--label-column',
      'approved',
      '--zkey',
      finalZkey,
      '--ptau',
      PTAU,
      '--prove',
      '1',
      '--sign-key',
      z('sign.pem'),
      '-o',
      z('release'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const env = JSON.parse(await readFile(z('release/attestation.dsse.json'), 'utf8'));
    const p = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')).predicate;
    expect(p.setup.source).toBe('ceremony');
    expect(p.setup.phase2.map((c: { name: string }) => c.name)).toEqual(['alice (regulator)', 'bob (bank)', 'final beacon']);
    expect(await readFile(z('release/keys/circuit.zkey'))).toEqual(await readFile(finalZkey));
    expect((await cli(['release', 'verify', z('release'), '--pub-key', z('sign.pub.pem')])).code).toBe(0);
    // A key of another circuit is refused before anything is signed.
    const other = await cli([
      'release',
      LOAN_MODEL,
      '--scale',
      '9',
      '--test-set',
      testSet,
      '--label-column',
      'approved',
      '--zkey',
      finalZkey,
      '--ptau',
      PTAU,
      '--sign-key',
      z('sign.pem'),
      '-o',
      z('release-other'),
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/RELEASE REFUSED: the key does not encode this model: the zkey link broke/);
  });

  it('refuses a key that adds two contributions at once', async () => {
    await contribute(z('alice.zkey'), z('carol1.zkey'), 'carol');
    await contribute(z('carol1.zkey'), z('carol2.zkey'), 'carol again');
    const r = await cli(['ceremony', 'verify', z('carol2.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--base', z('alice.zkey')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/REFUSED: contribution refused: it adds 2 contributions at once/);
    await expect(checkContribution(z('alice.zkey'), z('carol2.zkey'), m.compiled.r1cs, PTAU)).rejects.toThrow(/adds 2 contributions at once/);
    // Each step on its own is fine.
    await expect(checkContribution(z('carol1.zkey'), z('carol2.zkey'), m.compiled.r1cs, PTAU)).resolves.toMatchObject({ added: { name: 'carol again' } });
  });

  it('refuses a contribution built on an old base', async () => {
    // The ceremony is at bob's key; dave contributed to alice's, which bob's already extends.
    await contribute(z('alice.zkey'), z('dave.zkey'), 'dave');
    const r = await cli(['ceremony', 'verify', z('dave.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--base', z('bob.zkey')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/it does not build on the base key: contribution #2 is "dave" .* where the base has "bob \(bank\)"/);
    // The initial key again (a contribution that drops every earlier one) is refused too.
    await contribute(z('circuit_0000.zkey'), z('eve.zkey'), 'eve');
    await expect(checkContribution(z('bob.zkey'), z('eve.zkey'), m.compiled.r1cs, PTAU)).rejects.toThrow(
      /does not build on the base key: contribution #1 is "eve"/,
    );
  });

  it('refuses a contribution from another circuit, with or without a base', async () => {
    const other = path.join(dir, 'other');
    await mkdir(other);
    json(await cli(['setup', LOAN_MODEL, '--scale', '9', '--ceremony', other]));
    await contribute(path.join(other, 'circuit_0000.zkey'), z('mallory.zkey'), 'mallory');
    const withBase = await cli(['ceremony', 'verify', z('mallory.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--base', z('alice.zkey')]);
    expect(withBase.code).toBe(1);
    expect(withBase.stderr).toMatch(/it is a key of another circuit or ptau/);
    const alone = await cli(['ceremony', 'verify', z('mallory.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU]);
    expect(alone.code).toBe(1);
    expect(alone.stdout).toMatch(/^INVALID: the key was not made from this circuit and this ptau/);
    // Same history, but a zkey of another circuit copied over the name the ceremony expects.
    await copyFile(z('mallory.zkey'), z('copied.zkey'));
    await expect(checkContribution(z('circuit_0000.zkey'), z('copied.zkey'), m.compiled.r1cs, PTAU)).rejects.toThrow(/another circuit/);
  });

  it('the development ptau: setup --ceremony and ceremony verify both take it and say DEVELOPMENT first; --require-trusted-setup refuses it', async () => {
    // setup on the repository's file, named as an operator's ptau: recorded as development, whatever the pin.
    const setup = await cli(['setup', LOAN_MODEL, '--ptau', PTAU, '--ceremony', z('dev-setup')]);
    expect(setup.code, setup.stderr).toBe(0);
    expect(json(setup).ptau).toMatchObject({ kind: 'development', name: 'zkinfer-dev-13' });
    const allowed = await cli(['ceremony', 'verify', z('bob.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^VALID \(DEVELOPMENT ONLY\): [^\n]*\nSETUP: DEVELOPMENT: anyone can forge/);
    const j = json(await cli(['ceremony', 'verify', z('bob.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--json']));
    expect(j).toMatchObject({ valid: true, development: true, ptau: { kind: 'development' }, trust: { level: 'development' } });
    const refused = await cli(['ceremony', 'verify', z('bob.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--require-trusted-setup']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^REFUSED BY THE TRUST POLICY: the setup is a development one/);
    // One verdict (#25, item 13): the refused key is not called VALID on the next line.
    expect(refused.stdout).not.toMatch(/^VALID/m);
    expect(refused.stdout.split('\n')[1]).toMatch(/^INVALID under the trust policy: this key is the model's circuit on .*, but its setup is refused$/);
    // Two contributions, none known independent unless the checker names one by its hash.
    const few = await cli(['ceremony', 'verify', z('bob.zkey'), '--model', LOAN_MODEL, '--ptau', PTAU, '--min-independent-contributions', '1', '--json']);
    expect(few.code).toBe(1);
    const mine = JSON.parse(few.stdout).chain[0].hash;
    const enough = await cli([
      'ceremony',
      'verify',
      z('bob.zkey'),
      '--model',
      LOAN_MODEL,
      '--ptau',
      PTAU,
      '--min-independent-contributions',
      '1',
      '--independent-contribution',
      mine,
      '--json',
    ]);
    expect(enough.code, enough.stdout).toBe(0);
    expect(json(enough).trust).toMatchObject({ contributions: 2, independent: 1 });
  });

  it('a beacon is not a contribution: a key that adds a beacon is refused as the next step, but checks as the finalization of its base', async () => {
    const { finalize } = await import('../../src/ceremony/index.ts');
    await finalize(z('bob.zkey'), z('beacon-as-contribution'), { beacon: 'cd'.repeat(32), iterationsExp: 10 });
    const beaconKey = path.join(dir, 'beacon-as-contribution', 'circuit_final.zkey');
    expect((await readChain(beaconKey)).types).toEqual([0, 0, 1]);
    await expect(checkContribution(z('bob.zkey'), beaconKey, m.compiled.r1cs, PTAU)).rejects.toThrow(
      /contribution refused: its new contribution "final beacon" .* is a beacon, not a contribution/,
    );
    // `ceremony verify --base` checks a finalized key against the key it closed.
    const v = await cli(['ceremony', 'verify', beaconKey, '--model', LOAN_MODEL, '--ptau', PTAU, '--base', z('bob.zkey')]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/finalized with a public beacon/);
  });

  it('finalize takes a 0x beacon (as block hashes are written); a beacon that is not hex is a usage error (exit 2)', async () => {
    const f = json(await cli(['ceremony', 'finalize', '--in', z('bob.zkey'), '--beacon', `0x${'AB'.repeat(32)}`, '--iterations', '10', '-o', z('final-0x')]));
    expect(f.chain[2].beacon).toEqual({ hash: 'ab'.repeat(32), iterationsExp: 10 });
    for (const bad of ['0x', 'xyz', '0xabc', '0x0xab']) {
      const r = await cli(['ceremony', 'finalize', '--in', z('bob.zkey'), '--beacon', bad, '--iterations', '10', '-o', z('final-bad')]);
      expect([bad, r.code]).toEqual([bad, 2]);
      expect(r.stderr).toMatch(/error \[SETTINGS\] \(beacon\): the beacon must be 1 to 255 bytes of hex/);
    }
    const iters = await cli(['ceremony', 'finalize', '--in', z('bob.zkey'), '--beacon', BEACON, '--iterations', '5', '-o', z('final-bad')]);
    expect(iters.code).toBe(2);
    expect(iters.stderr).toMatch(/\(iterations\)/);
  });

  it('refuses to contribute to a finalized key, or to finalize a key nobody contributed to', async () => {
    const after = await cli(['ceremony', 'contribute', '--in', path.join(dir, 'final', 'circuit_final.zkey'), '--out', z('late.zkey'), '--name', 'late']);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/finalized/);
    const empty = await cli(['ceremony', 'finalize', '--in', z('circuit_0000.zkey'), '--beacon', BEACON, '--iterations', '10', '-o', z('empty')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/no contribution/);
  });
});

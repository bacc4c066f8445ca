// Small CLI fixes (#20, item 7): duplicate decision names are refused naming `labels`; the
// applicant's receipt is written readable by its owner only.
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';

describe('zkinfer labels', () => {
  it('refuses the same decision name twice (exit 2, SETTINGS naming labels) before any compile', async () => {
    const r = await cli(['compile', LOAN_MODEL, '--labels', 'approve,approve']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/error \[SETTINGS\] \(labels\): labels name "approve" twice/);
    // Surrounding spaces do not make two names different.
    const spaced = await cli(['compile', LOAN_MODEL, '--labels', 'approve, approve']);
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toMatch(/\(labels\).*"approve" twice/);
  });
});

describe('zkinfer prove receipt', () => {
  it("writes bundle.receipt.json with mode 0600 (it holds the applicant's salt and features), whatever the umask", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-receipt-'));
    const out = path.join(dir, 'bundle.json');
    const r = await cli(['prove', LOAN_MODEL, LOAN_APPLICANT, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const receipt = JSON.parse(r.stdout).receipt as string;
    expect(receipt).toBe(path.join(dir, 'bundle.receipt.json'));
    expect((await stat(receipt)).mode & 0o777).toBe(0o600);
    // The bundle is public: it keeps the usual mode.
    expect((await stat(out)).mode & 0o077).not.toBe(0);

    // verify --json: `valid` says the proof verifies, `accepted` is the whole answer (the exit
    // code): a receipt over other data refuses it.
    const ok = await cli(['verify', out, '--receipt', receipt, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ accepted: true, valid: true, receipt: { matches: true } });
    const other = JSON.parse(await readFile(receipt, 'utf8'));
    other.salt = (BigInt(other.salt) + 1n).toString();
    await writeFile(path.join(dir, 'other.receipt.json'), JSON.stringify(other));
    const refused = await cli(['verify', out, '--receipt', path.join(dir, 'other.receipt.json'), '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ accepted: false, valid: true, receipt: { matches: false } });
  }, 240_000);
});

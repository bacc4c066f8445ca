import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_BASELINE as BASELINE, LOAN_MODEL } from '../helpers/paths.ts';

describe('zkinfer prove --reasons --baseline --protected, then verify', () => {
  it('proves and shows the principal reasons and the fairness verdict; refuses bad settings with exit 2 naming the flag', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-explain-'));
    const base = path.join(dir, 'baseline.json');
    await writeFile(base, JSON.stringify(BASELINE));
    const out = path.join(dir, 'bundle.json');
    const p = await cli(['prove', LOAN_MODEL, LOAN_APPLICANT, '--reasons', '4', '--baseline', base, '--protected', 'age=25,60', '-o', out]);
    expect(p.code, p.stderr).toBe(0);
    const v = await cli(['verify', out]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/Principal reasons: 1\. \w+ \([-+][\d.]+\), 2\. \w+ \([-+][\d.]+\), 3\. \w+ \([-+][\d.]+\), 4\. \w+ \([-+][\d.]+\)/);
    expect(v.stdout).toContain('Decision unchanged for every value of: age (proven)');
    const bundle = JSON.parse(await readFile(out, 'utf8'));
    expect(bundle.model.explain.reasons).toBe(4);
    // A reason edited in the bundle: INVALID, exit 1.
    bundle.outputs.reasons[0].feature = 'credit_score';
    await writeFile(out, JSON.stringify(bundle));
    const bad = await cli(['verify', out]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('INVALID');
    for (const [args, flag] of [
      [['--protected', 'zip'], 'protected'],
      [['--reasons', '3'], 'baseline'],
      [['--baseline', base], 'baseline'],
    ] as const) {
      const r = await cli(['compile', LOAN_MODEL, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`(${flag})`);
    }
  });
});

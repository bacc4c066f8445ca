// The CLI applies the model limits the service applies: the ZKINFER_MAX_* settings its own
// MODEL_TOO_LARGE message names, and a --max-* flag per limit that wins over the setting.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

const artifacts = await mkdtemp(path.join(tmpdir(), 'zkinfer-cli-limits-'));
const env = (over: Record<string, string>) => {
  const e: NodeJS.ProcessEnv = { ...process.env, ZKINFER_ARTIFACTS: artifacts, ...over };
  for (const k of Object.keys(e)) if (k.startsWith('ZKINFER_MAX_') && !(k in over)) delete e[k];
  return e;
};

describe('zkinfer model limits', () => {
  it('reads ZKINFER_MAX_CONSTRAINTS and ZKINFER_MAX_NODES, as its MODEL_TOO_LARGE message says', async () => {
    const r = await cli(['compile', LOAN_MODEL], env({ ZKINFER_MAX_CONSTRAINTS: '100' }));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/MODEL_TOO_LARGE.*over the limit maxConstraints = 100 \(setting ZKINFER_MAX_CONSTRAINTS\)/);
    const nodes = await cli(['compile', LOAN_MODEL], env({ ZKINFER_MAX_NODES: '1' }));
    expect(nodes.code).toBe(2);
    expect(nodes.stderr).toMatch(/MODEL_TOO_LARGE.*maxNodes = 1 /);
  });

  it('a --max-* flag wins over the setting, both ways; a bad setting or flag is a usage error naming it', async () => {
    const flag = await cli(['compile', LOAN_MODEL, '--max-constraints', '100'], env({}));
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/maxConstraints = 100 /);
    const raised = await cli(['compile', LOAN_MODEL, '--max-constraints', '1_000_000', '--json'], env({ ZKINFER_MAX_CONSTRAINTS: '100' }));
    expect(raised.code, raised.stderr).toBe(0);
    expect(JSON.parse(raised.stdout).constraints).toBeGreaterThan(100);
    const bad = await cli(['compile', LOAN_MODEL], env({ ZKINFER_MAX_CONSTRAINTS: 'lots' }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ZKINFER_MAX_CONSTRAINTS must be a positive whole number/);
    const badFlag = await cli(['compile', LOAN_MODEL, '--max-parameters', '0'], env({}));
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--max-parameters must be a positive whole number/);
  });

  it('setup reads ZKINFER_MAX_PTAU_POWER (and --max-ptau-power) before generating a development ptau', async () => {
    const r = await cli(['setup', LOAN_MODEL], env({ ZKINFER_MAX_PTAU_POWER: '8' }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/over the limit maxPtauPower = 8 \(setting ZKINFER_MAX_PTAU_POWER\)/);
    const flag = await cli(['setup', LOAN_MODEL, '--max-ptau-power', '8'], env({}));
    expect(flag.stderr).toMatch(/maxPtauPower = 8 /);
  });

  it('--help of every command that builds a circuit lists the flags with their settings', async () => {
    for (const cmd of ['compile', 'setup', 'prove', 'audit', 'release', 'export-verifier']) {
      const r = await cli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--max-constraints <n>/);
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/ZKINFER_MAX_CONSTRAINTS/);
      expect(r.stdout).toMatch(/--max-model-bytes <n>/);
    }
    expect((await cli(['setup', '--help'])).stdout).toMatch(/--max-ptau-power <n>/);
  });
});

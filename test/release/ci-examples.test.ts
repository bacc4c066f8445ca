// The example pipelines in examples/ci, used as they are: every `run:` (GitHub Actions) or
// `script:` (GitLab CI) line that invokes zkinfer runs here with this repository's CLI, in a
// temporary checkout laid out as the pipeline expects (model, test set, public key).
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLI, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const run = promisify(execFile);

interface Step {
  lines: string[];
  env: Record<string, string>;
}

/** Shell lines of a `run:` block, with backslash continuations joined. */
function shellLines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

function githubSteps(doc: { jobs: Record<string, { steps: { run?: string; env?: Record<string, string> }[] }> }): Step[] {
  return Object.values(doc.jobs).flatMap((j) => j.steps.filter((s) => s.run).map((s) => ({ lines: shellLines(s.run!), env: s.env ?? {} })));
}

function gitlabSteps(doc: Record<string, unknown>): Step[] {
  return Object.values(doc)
    .filter((j): j is { script: string[] } => !!j && typeof j === 'object' && Array.isArray((j as { script?: unknown }).script))
    .flatMap((j) => j.script.map((l) => ({ lines: shellLines(l), env: {} })));
}

async function runPipeline(file: string, steps: (doc: never) => Step[]): Promise<{ ran: string[]; skipped: string[]; dir: string }> {
  const doc = parse(await readFile(path.join(REPO, 'examples', 'ci', file), 'utf8')) as never;
  const dir = await mkdtemp(path.join(tmpdir(), `zkinfer-ci-${path.basename(file, '.yml')}-`));
  // The repository the pipeline expects.
  await mkdir(path.join(dir, 'models'));
  await mkdir(path.join(dir, 'data'));
  await mkdir(path.join(dir, 'keys'));
  await copyFile(LOAN_MODEL, path.join(dir, 'models', 'loan-model.onnx'));
  await copyFile(path.join(REPO, 'examples', 'loan', 'test-set.csv'), path.join(dir, 'data', 'test-set.csv'));
  const k = generateKeyPairSync('ed25519');
  await writeFile(path.join(dir, 'keys', 'release-signing.pub.pem'), k.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  // The secret the CI system injects: GitLab into every job (a CI/CD variable), GitHub into
  // the steps whose env names it (`${{ secrets.NAME }}`).
  const secrets: Record<string, string> = { ZKINFER_SIGN_KEY: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  const env: NodeJS.ProcessEnv = { ...process.env, ...(file.startsWith('gitlab') ? secrets : {}) };
  const ran: string[] = [];
  const skipped: string[] = [];
  for (const step of steps(doc)) {
    for (const line of step.lines) {
      if (!/\bzkinfer\b/.test(line)) {
        skipped.push(line);
        continue;
      }
      const cmd = line.replace(/^npx zkinfer\b/, `"${process.execPath}" "${CLI}"`);
      const stepEnv = Object.fromEntries(
        Object.entries(step.env).map(([name, v]) => [name, v.replace(/\$\{\{\s*secrets\.(\w+)\s*\}\}/g, (_, s: string) => secrets[s] ?? '')]),
      );
      const r = await run('bash', ['-eo', 'pipefail', '-c', cmd], { cwd: dir, env: { ...env, ...stepEnv }, maxBuffer: 1 << 24 }).catch(
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect('code' in r ? r.code : 0, `${line}\n${r.stderr}`).toBe(0);
      ran.push(line);
    }
  }
  return { ran, skipped, dir };
}

describe('example CI pipelines', () => {
  for (const [file, steps] of [
    ['github-actions.yml', githubSteps],
    ['gitlab-ci.yml', gitlabSteps],
  ] as const) {
    it(`${file}: its zkinfer lines release the loan model and verify the release`, async () => {
      const { ran, skipped, dir } = await runPipeline(file, steps as (doc: never) => Step[]);
      expect(ran.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(['npx zkinfer release', 'npx zkinfer release']);
      expect(ran[1]).toMatch(/^npx zkinfer release verify /);
      // Only the dependency install is left out.
      expect(skipped.every((l) => l.startsWith('npm ci'))).toBe(true);
      expect((await stat(path.join(dir, 'release', 'attestation.dsse.json'))).size).toBeGreaterThan(0);
      const report = JSON.parse(await readFile(path.join(dir, 'release', 'release-report.json'), 'utf8'));
      expect(report.ok).toBe(true);
      expect(report.proofs).toHaveLength(2);
    });
  }
});

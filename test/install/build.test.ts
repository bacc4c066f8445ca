import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/paths.ts';

const run = promisify(execFile);
const DESCRIPTION = 'Prove quantized neural network inferences with Circom and Groth16';

// bin/zkinfer.js runs the built CLI (dist/) only when it was built from exactly the sources
// beside it, else the TypeScript through tsx: checked on a copy of the package, by editing
// the built file (its edit shows only if dist/ runs) and then a source (the edit must show).
describe('the built CLI', () => {
  it('runs dist/ when its stamp matches src/, and the sources when they changed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-build-'));
    try {
      for (const f of ['package.json', 'bin', 'src', 'schemas', 'scripts/build.mjs', 'circuits'])
        await cp(path.join(REPO, f), path.join(dir, f), { recursive: true });
      await symlink(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
      await run(process.execPath, ['scripts/build.mjs'], { cwd: dir });
      const help = async () => (await run(process.execPath, ['bin/zkinfer.js', '--help'], { cwd: dir })).stdout;
      expect(await help()).toContain(DESCRIPTION);

      const built = path.join(dir, 'dist', 'cli', 'main.js');
      await writeFile(built, (await readFile(built, 'utf8')).replaceAll(DESCRIPTION, `built: ${DESCRIPTION}`));
      expect(await help()).toContain(`built: ${DESCRIPTION}`);

      const source = path.join(dir, 'src', 'cli', 'main.ts');
      await writeFile(source, (await readFile(source, 'utf8')).replace(DESCRIPTION, `edited: ${DESCRIPTION}`));
      const stale = await help();
      expect(stale).toContain(`edited: ${DESCRIPTION}`);
      expect(stale).not.toContain('built:');

      await run(process.execPath, ['scripts/build.mjs'], { cwd: dir });
      expect(await help()).toContain(`edited: ${DESCRIPTION}`);
      // A single command loads alone, and runs from the build.
      const version = await run(process.execPath, ['bin/zkinfer.js', 'verify', '--help'], { cwd: dir });
      expect(version.stdout).toMatch(/^Usage: zkinfer verify/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

import { defineConfig } from 'vitest/config';

// Circuit compiles and proofs are CPU bound and the CI machine has 2 cores:
// run test files one at a time in forked processes, with generous per-test timeouts
// (the timeouts guard against hangs; speed targets live in `npm run bench`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});

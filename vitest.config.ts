import { defineConfig } from 'vitest/config';

// Circuit compiles and proofs are CPU bound and the CI machine has 2 cores: test files run
// in forked processes, two at a time, with generous per-test timeouts (the timeouts guard
// against hangs; speed targets live in `npm run bench`). Compiled circuits and setups are
// shared by content hash under artifacts/ (see src/store/paths.ts), so a circuit two files
// use is compiled once per run.
//
// SERIAL files run one at a time after all the others: they assert wall-clock budgets
// (a request answered within 500 ms, a model refused within 2 s), hold a worker or Redis
// down on purpose, time an `npm ci` or an `npm install` of the packed package, or drive
// Chromium; sharing the 2 cores with another file would make their timings flaky
// (test/api/compile-lanes only compares the order of its own jobs, so it runs in parallel
// with the rest).
const SERIAL = [
  'test/api/hostile.test.ts',
  'test/api/worker-crash.test.ts',
  'test/browser/explain-page.test.ts',
  'test/browser/verify-page.test.ts',
  'test/chaos/chaos.test.ts',
  'test/chaos/outage.test.ts',
  'test/install/npm-ci.test.ts',
  'test/install/npm-pack.test.ts',
  'test/model/conv.test.ts',
  'test/model/input-privacy.test.ts',
  'test/model/limits.test.ts',
];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    projects: [
      { extends: true, test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: SERIAL, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'serial', include: SERIAL, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});

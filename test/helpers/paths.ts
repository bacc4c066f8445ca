import { existsSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '..', '..');
/** Third-party models, read in place (see ../shared/fixtures/README.md). */
export const SHARED_FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures');
export const HAVE_SHARED = existsSync(SHARED_FIXTURES);
export const LOAN_MODEL = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
export const LOAN_APPLICANT = path.join(REPO, 'examples', 'loan', 'applicant.json');
/** A reference applicant the loan examples' reasons compare each feature with (their baseline). */
export const LOAN_BASELINE = {
  age: 45,
  income: 60,
  loan_amount: 80,
  debt_to_income: 30,
  credit_history_years: 10,
  late_payments: 1,
  employment_years: 10,
  credit_score: 650,
};
export const CLI = path.join(REPO, 'bin', 'zkinfer.js');

if (!HAVE_SHARED) console.warn(`third-party fixtures not found at ../shared/fixtures: their conformance tests are skipped`);

// ESLint flat config: eslint's and typescript-eslint's recommended rules (syntax only, not
// type-aware, so `npm run lint` stays fast). `npm run typecheck` does the type checking.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig([
  globalIgnores(['node_modules/', 'artifacts/', 'dist/', 'scratch/', 'test-results/', 'test/fixtures/', 'src/api/openapi-types.ts']),
  {
    files: ['**/*.{ts,js,mjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `any` marks deliberate untyped boundaries (database rows, JSON bodies in tests, snarkjs);
      // strict tsc covers the rest, and narrowing each one would change code for no behaviour.
      '@typescript-eslint/no-explicit-any': 'off',
      // A leading underscore names a value kept on purpose: a destructured field dropped from a
      // rest object (`const { secret: _s, ...shown } = row`) or a callback parameter by position.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
]);

// Lint rules, including the folder import rules of docs/architecture.md:
// a folder may import only the folders listed for it.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Folders of src/ and the src/ folders each may import. */
const allowedImports = {
  shared: [],
  mux: ['shared'],
  transport: ['shared'],
  http: ['shared'],
  agent: ['shared', 'mux', 'transport', 'http'],
  relay: ['shared', 'mux', 'transport', 'http'],
};
const allFolders = ['shared', 'mux', 'transport', 'http', 'agent', 'relay', 'cli'];

function importRulesFor(folder) {
  const banned = allFolders.filter((f) => f !== folder && !allowedImports[folder].includes(f));
  const patterns = banned.flatMap((f) => [`../${f}/*`, `../../${f}/*`, `**/src/${f}/*`]);
  patterns.push('../index.js', '../../index.js');
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: patterns, message: `src/${folder} may import only: ${allowedImports[folder].join(', ') || 'nothing in src'} (docs/architecture.md)` }] }],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.interop-bin/**', 'test/interop/go-peer/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
  ...Object.keys(allowedImports).map(importRulesFor),
  {
    files: ['**/*.js', '**/*.mjs'],
    ignores: ['src/relay/dashboard/web/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The dashboard's browser modules: plain ES modules run by the browser as written.
    files: ['src/relay/dashboard/web/**/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
    rules: { 'no-console': 'error' },
  },
);

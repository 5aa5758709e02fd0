// The linter (npm run lint, run before npm test): typescript-eslint's type-checked rules,
// and the shape of the code: no import cycles, and no module importing a layer above its
// own. The layers, from the top (may import any below) to the bottom (imports none);
// README's "How the code is laid out" lists them the other way up.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const LAYERS = [
  ['src/cli.ts', 'src/cli'],
  ['src/server.ts', 'src/http'],
  ['src/exporter.ts'],
  ['src/metrics'],
  // the listeners
  ['src/accounting', 'src/attribution', 'src/detect', 'src/workloads', 'src/lifecycle'],
  ['src/pipeline'],
  ['src/processes'],
  ['src/kernel'],
];
// Leaves any layer may import; they import no layer.
const SHARED = ['src/log.ts', 'src/package.ts', 'src/startup-error.ts'];

/**
 * The rules that keep the layers, for the package at `root` (test/lint/architecture.test.ts
 * applies them to a broken copy of src/).
 */
export function architecture(root = import.meta.dirname) {
  return {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    languageOptions: { parser: tseslint.parser },
    settings: {
      // `./table.js` in the source names table.ts, as TypeScript resolves it; no-cycle follows
      // imports into .ts files only with a parser for them.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'], extensionAlias: { '.js': ['.ts', '.js'] } })],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: root,
          zones: [
            ...LAYERS.slice(1).map((layer, i) => ({
              target: layer,
              from: LAYERS.slice(0, i + 1).flat(),
              message: 'a lower layer imports a higher one (see the layers in eslint.config.js).',
            })),
            { target: SHARED, from: LAYERS.flat(), message: 'a shared leaf module imports a layer.' },
            { target: 'src', from: ['test', 'bench', 'dashboards', 'scripts'], message: 'the package (src/) imports a file it does not ship.' },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dist-bench/', 'build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // fastify's plugins and hooks are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      // `const { a: _, ...rest } = x` leaves out a field on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests print what they read back from YAML, JSON and the SDKs' unions into messages.
      '@typescript-eslint/no-base-to-string': 'off',
      // The dashboard read back has the SDK's enums; the tests compare it with literals.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // vitest's asymmetric matchers (expect.objectContaining, expect.stringMatching) are typed any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Tests hand methods of test doubles around as plain functions, which use no `this`.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  architecture(),
);

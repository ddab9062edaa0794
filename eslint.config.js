// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', 'renderer/dist/**', 'test/artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Layering: the engine, CLI and helper run without Electron.
    files: ['main/common/**', 'main/engine/**', 'main/cli/**', 'helper/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'The engine must run as a plain Node daemon.' }] },
      ],
    },
  },
  {
    // The privileged helper imports only the protocol types from main/.
    files: ['helper/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The helper runs as root without Electron.' }],
          patterns: [
            {
              group: ['../main/engine/*', '../main/cli/*', '../../main/engine/*', '../../main/cli/*'],
              message: 'helper/ may import only main/common protocol types.',
            },
          ],
        },
      ],
    },
  },
);

// @ts-check
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Layers, lowest first; each may import only the layers listed for it (and itself):
 *   main/common     pure: contract, errors, validators                      -> nothing
 *   main/system     OS code run by the daemon and the helper alike          -> common
 *   helper/         the root daemon and its installer                       -> common, system
 *   helper/client/  the app's side of the helper protocol                   -> common, system, helper
 *   main/engine     the Electron-free core                                  -> common, system, helper/client
 *   main/cli, main/electron   siblings over the engine (never each other)   -> common, system, helper, engine
 *   renderer/       the UI, through the typed bridge                        -> main/common (contract types)
 */
const LAYERS = {
  './main/common': [
    './main/system',
    './main/engine',
    './main/cli',
    './main/electron',
    './helper',
    './renderer',
  ],
  './main/system': ['./main/engine', './main/cli', './main/electron', './helper', './renderer'],
  './helper/!(client)/**': [
    './main/engine',
    './main/cli',
    './main/electron',
    './renderer',
    './helper/client',
  ],
  './helper/*.ts': ['./main/engine', './main/cli', './main/electron', './renderer', './helper/client'],
  './helper/client': ['./main/engine', './main/cli', './main/electron', './renderer'],
  './main/engine': ['./main/cli', './main/electron', './renderer'],
  './main/cli': ['./main/electron', './renderer'],
  './main/electron': ['./main/cli', './renderer'],
  './renderer': ['./main/system', './main/engine', './main/cli', './main/electron', './helper'],
};

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
    files: ['main/**', 'helper/**', 'renderer/**'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.tsx', '.js'] })],
    },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: Object.entries(LAYERS).map(([target, from]) => ({
            target,
            from,
            message: 'Layers import only downwards: see the table at the top of eslint.config.js.',
          })),
        },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Only the shell loads Electron: the engine, CLI and helper run as plain Node.
    files: ['main/common/**', 'main/system/**', 'main/engine/**', 'main/cli/**', 'helper/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'Below the shell everything runs as a plain Node daemon.' }] },
      ],
    },
  },
);

// Module hooks for the bundled-app smoke test: `electron` (imported by the app's bundle and by
// electron-store) resolves to the recording double next to this file.
import { URL } from 'node:url';

const DOUBLE = new URL('./electron.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'electron') return { url: DOUBLE, shortCircuit: true };
  return nextResolve(specifier, context);
}

/**
 * Builds the renderer into renderer/dist with relative asset paths, so the same files load from
 * the browser-mode server and from the packaged desktop app. No inline scripts or styles: the CSP
 * (main/engine/ui-server/ and index.html) forbids them.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});

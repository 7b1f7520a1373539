/**
 * Vite config of the demo: `npm run demo` (or `npx vite`) serves demo/ and its plugin starts the tabwire server beside
 * Vite (see scripts/demo-server.ts). The tests have their own config (vitest.config.ts), which vitest prefers.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import { optionsFromEnv, tabwireDemo } from './scripts/demo-server.ts'

export default defineConfig({
  root: fileURLToPath(new URL('./demo', import.meta.url)),
  clearScreen: false,
  plugins: [tabwireDemo(optionsFromEnv())],
  // A module SharedWorker: Vite's default worker format (iife) cannot be loaded with `type: 'module'`.
  worker: { format: 'es' },
  // Pre-bundled up front, or the first worker load discovers them and Vite reloads the page mid-demo.
  optimizeDeps: { include: ['comlink', 'idb'], entries: ['index.html', 'tabwire.worker.ts'] },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
})

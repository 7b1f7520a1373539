/**
 * Serves the e2e app (test/e2e/app) with a programmatic Vite dev server.
 *
 * There is no file watcher, so nothing ever tells a tab to reload: someone editing src/ mid-run cannot disturb a test.
 */
import { fileURLToPath } from 'node:url'
import { serveVite } from './vite-behind-http.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface App {
  /** The app page for one wire: `url` is the tabwire server, `ns` the namespace. */
  pageUrl(wsUrl: string, namespace: string): string
  close(): Promise<void>
}

export async function startApp(): Promise<App> {
  const { port, close } = await serveVite((server) => ({
    configFile: false,
    root: ROOT,
    appType: 'mpa',
    logLevel: 'warn',
    cacheDir: 'node_modules/.vite-e2e',
    server: { hmr: { server }, watch: null },
    // Pre-bundle everything the page and the worker import up front, or Vite re-optimizes mid-test and reloads.
    optimizeDeps: {
      include: ['comlink', 'idb', 'yjs', 'y-protocols/awareness'],
      entries: ['test/e2e/app/index.html', 'test/fixtures/worker.ts'],
    },
    worker: { format: 'es' },
  }))
  return {
    pageUrl: (wsUrl, namespace) =>
      `http://127.0.0.1:${port}/test/e2e/app/index.html?${new URLSearchParams({ url: wsUrl, ns: namespace })}`,
    close,
  }
}

/**
 * Serves the e2e app (test/e2e/app) with a programmatic Vite dev server.
 *
 * Middleware mode behind our own HTTP server: Vite's standalone server installs a SIGTERM (and stdin-end) handler
 * that exits the process at once, which would skip closing browsers; here the harness's own handlers do cleanup.
 * Vite's client socket shares our HTTP server (no fixed port 24678 that another dev server may hold), and there is
 * no file watcher, so nothing ever tells a tab to reload: someone editing src/ mid-run cannot disturb a test.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createServer as createVite } from 'vite'
import { onCleanup } from './cleanup.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface App {
  /** The app page for one wire: `url` is the tabwire server, `ns` the namespace. */
  pageUrl(wsUrl: string, namespace: string): string
  close(): Promise<void>
}

export async function startApp(): Promise<App> {
  const server = http.createServer()
  const vite = await createVite({
    configFile: false,
    root: ROOT,
    appType: 'mpa',
    logLevel: 'warn',
    cacheDir: 'node_modules/.vite-e2e',
    server: { middlewareMode: true, hmr: { server }, watch: null },
    // Pre-bundle everything the page and the worker import up front, or Vite re-optimizes mid-test and reloads.
    optimizeDeps: {
      include: ['comlink', 'idb', 'yjs', 'y-protocols/awareness'],
      entries: ['test/e2e/app/index.html', 'test/fixtures/worker.ts'],
    },
    worker: { format: 'es' },
  })
  server.on('request', vite.middlewares)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  const close = onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await vite.close()
  })
  return {
    pageUrl: (wsUrl, namespace) =>
      `http://127.0.0.1:${port}/test/e2e/app/index.html?${new URLSearchParams({ url: wsUrl, ns: namespace })}`,
    close,
  }
}

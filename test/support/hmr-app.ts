/**
 * A Vite dev server with its file watcher and HMR on, serving a copy of an app fixture (test/e2e/hmr-*) that the
 * test may rewrite on disk. The copy, not the fixture, is edited, so a failed test leaves the repository clean.
 *
 * The copy sits at the fixture's depth below the repository root (.hmr-apps/<run>/<app>), so the fixture's relative
 * imports of src/ resolve the same from both, and react/vue resolve from the repository's node_modules. Not under
 * test-results/: Vite's watcher ignores that folder.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PluginOption } from 'vite'
import { onCleanup } from './cleanup.ts'
import { serveVite } from './vite-behind-http.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Code every fixture imports (as `../hmr-shared/…`), copied beside it. */
const SHARED = 'hmr-shared'

export interface HmrApp {
  /** The app's page with `query` (the tabwire server's `url`, the namespace `ns`, …). */
  pageUrl(query: Record<string, string>): string
  /** Replaces `from` (which must occur exactly once) with `to` in the copy's `file`, as an editor would save it. */
  edit(file: string, from: string, to: string): Promise<void>
  close(): Promise<void>
}

export interface HmrAppOptions {
  /** The fixture's folder name under test/e2e. */
  fixture: string
  /** The framework's Vite plugin (its hot-update runtime). */
  plugin: PluginOption
  /** Dependencies to pre-bundle before the first page load, so Vite never re-optimizes (and reloads) mid-test. */
  deps: string[]
}

export async function startHmrApp({ fixture, plugin, deps }: HmrAppOptions): Promise<HmrApp> {
  await mkdir(join(ROOT, '.hmr-apps'), { recursive: true })
  const run = await mkdtemp(join(ROOT, '.hmr-apps', 'run-'))
  const removeRun = onCleanup(() => rm(run, { recursive: true, force: true }))
  const root = join(run, fixture)
  for (const folder of [fixture, SHARED])
    await cp(join(ROOT, 'test', 'e2e', folder), join(run, folder), { recursive: true })

  const { port, close: closeServer } = await serveVite((server) => ({
    configFile: false,
    root,
    appType: 'mpa',
    logLevel: 'warn',
    cacheDir: join(ROOT, 'node_modules', `.vite-${fixture}`),
    plugins: [plugin],
    server: { hmr: { server }, fs: { allow: [ROOT] } },
    optimizeDeps: { include: ['comlink', 'idb', ...deps], entries: ['index.html', 'worker.ts'] },
    worker: { format: 'es' },
  }))
  return {
    pageUrl: (query) => `http://127.0.0.1:${port}/index.html?${new URLSearchParams(query)}`,
    async edit(file, from, to) {
      const path = join(root, file)
      const text = await readFile(path, 'utf8')
      const parts = text.split(from)
      if (parts.length !== 2) throw new Error(`${file}: expected one "${from}", found ${parts.length - 1}`)
      await writeFile(path, parts.join(to))
    },
    async close() {
      await closeServer()
      await removeRun()
    },
  }
}

/**
 * Issue 17's offline start, in Chromium and Firefox: an installed app — a `vite build` whose service worker precached
 * the shell and the SharedWorker's chunk (docs/pwa.md, "Offline start") — starts with no network at all. The static
 * server that served it is closed (the origin is gone, not just the socket) and the tabwire server is stopped; a new
 * page loads from the precache, the SharedWorker starts from the precached chunk (the service worker logs that it
 * answered the chunk's `sharedworker` request), `connect()` goes `connecting`, never `failed`, and sends resolve
 * (stored in IndexedDB). The tabwire server comes back (the static origin stays gone): the server holds 1..N exactly
 * once, in order, counted at its store.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { Browser, Page } from 'playwright'
import { createServer } from '../../src/server/index.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import type { OfflineApi } from './app/offline/api.ts'
import type { BrowserName } from '../support/browser-paths.ts'
import { launchPlaywright } from '../support/browsers.ts'
import { onCleanup } from '../support/cleanup.ts'
import { buildOfflineApp, serveStatic, type OfflineAppBuild } from '../support/offline-app.ts'
import { pageApi } from '../support/page-api.ts'
import { until } from '../support/wait.ts'

let app: OfflineAppBuild | undefined
beforeAll(async () => {
  app = await buildOfflineApp()
})
afterAll(() => app?.remove())

const call = <K extends keyof OfflineApi & string>(page: Page, k: K, ...args: Parameters<OfflineApi[K]>) =>
  pageApi<OfflineApi>(page, 'offline')(k, ...args)

const N = 10
const ONE_TO_N = Array.from({ length: N }, (_, i) => i + 1)

for (const name of ['chromium', 'firefox'] as const satisfies readonly BrowserName[]) {
  describe(name, () => {
    let browser: Browser | undefined
    let closeBrowser = async (): Promise<void> => undefined
    beforeAll(async () => {
      ;({ browser, close: closeBrowser } = await launchPlaywright(name))
    })
    afterAll(() => closeBrowser())

    it(`starts with no network from the precache, queues ${N} sends, and they leave once when the server is back`, async () => {
      const built = app as OfflineAppBuild
      const store = createMemoryStore()
      const counts = { published: 0, duplicate: 0, 'out-of-order': 0 }
      const accept = store.accept.bind(store)
      store.accept = async (user, client, pubs) => {
        const outcomes = await accept(user, client, pubs)
        for (const o of outcomes) counts[o.kind]++
        return outcomes
      }
      const server = await createServer({ port: 0, httpOutbox: true, store })
      const closeServer = onCleanup(() => server.close())
      const origin = await serveStatic(built.dir)
      const context = await (browser as Browser).newContext()
      const closeContext = onCleanup(() => context.close())
      onTestFinished(async () => {
        await closeContext()
        await origin.close()
        await closeServer()
      })
      const namespace = `offline-${randomUUID()}`
      const wsUrl = `ws://127.0.0.1:${server.port}`
      const pageUrl = `${origin.origin}/?app=1`
      const swUrl = `/sw.js?${new URLSearchParams({ outbox: `http://127.0.0.1:${server.port}/outbox`, ns: namespace })}`

      // Online, once: the app installs its service worker (which precaches) and runs a wire.
      const first = await context.newPage()
      await first.goto(pageUrl)
      await first.waitForFunction(() => 'offline' in globalThis)
      await call(first, 'install', swUrl)
      expect(await call(first, 'controlled')).toBe(true)
      await call(first, 'start', wsUrl, namespace)
      await until(
        'the first wire to open',
        () => call(first, 'state'),
        (s) => s === 'open',
      )
      await first.close({ runBeforeUnload: false })

      // The network goes away: the app's origin and the tabwire server.
      await origin.close()
      await server.stop()
      const servedBefore = origin.requests.length

      const page = await context.newPage()
      await page.goto(pageUrl)
      await page.waitForFunction(() => 'offline' in globalThis)
      expect(await call(page, 'controlled')).toBe(true)
      // The first page's SharedWorker has ended, so the next one starts from a fresh fetch of its script.
      await until(
        'the first SharedWorker to end',
        () => call(page, 'ownerLockHeld', namespace),
        (held) => !held,
      )
      expect(await call(page, 'start', wsUrl, namespace)).toBe('connecting')
      for (let i = 1; i <= N; i++) expect(await call(page, 'send', 'room', { n: i })).toBe(i)
      expect(await call(page, 'pending')).toBe(N)
      expect(await call(page, 'state')).not.toBe('failed')
      expect(await call(page, 'ownerLockHeld', namespace)).toBe(true)
      // Everything of the second start came from the precache, the worker's chunk as a shared worker's script.
      expect(origin.requests.length).toBe(servedBefore)
      const served = await call(page, 'servedFromCache')
      expect(served).toContainEqual({ url: `${origin.origin}${built.workerChunk}`, destination: 'sharedworker' })
      expect(served).toContainEqual({ url: pageUrl, destination: 'document' })
      expect(counts).toEqual({ published: 0, duplicate: 0, 'out-of-order': 0 })

      // The tabwire server returns; the app's origin stays gone.
      await server.start()
      await call(page, 'allAcked')
      expect(await call(page, 'pending')).toBe(0)
      expect(await call(page, 'state')).toBe('open')
      expect((await server.store.read('room', 0, 1_000)).msgs.map((m) => (m.body as { n: number }).n)).toEqual(ONE_TO_N)
      expect(counts).toEqual({ published: N, duplicate: 0, 'out-of-order': 0 })
    })
  })
}

/**
 * Version skew between a tab and its SharedWorker, against real builds of older releases: after a deploy a tab of the
 * new release can meet the worker of the old one (still running for other open tabs), and a tab of the old release
 * the worker of the new one. Each pairing, in each engine, with a real server: 50 durable messages received in order,
 * 20 sends acked and in the server's log once each in order, a volatile send that arrives, a request answered, a
 * presence join the server sees; and the route the worker's events took, counted on the page's ports (the event
 * port's one-way posts or Comlink calls; `messagesJson` only between two tabs and workers of this release).
 *
 * The older releases: 50cebd3 (event port, no `messagesJson`, nothing loaded lazily) and c886ca9 (before the event
 * port: every event a Comlink call). They are built from their fixtures in test/fixtures/releases (see
 * test/support/skew-builds.ts and scripts/release-fixture.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import { createServer } from '../../src/server/index.ts'
import type { PortTraffic, SkewApi } from './app/skew-api.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { launchBrowser, type TestBrowser } from '../support/browsers.ts'
import { onCleanup } from '../support/cleanup.ts'
import { buildSkewSite, type Release, type SkewSite } from '../support/skew-builds.ts'
import { pageErrors, type Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'
import { TestClient } from '../support/ws-client.ts'

/** With the event port, without `messagesJson`; before the event port. In full: a short id may grow ambiguous. */
const EVENT_PORT = '50cebd37a84155f92d66c6cdc17fa43bac6f5adc'
const COMLINK_ONLY = 'c886ca9cd520d0513610c8d63e6b23d57adcaae6'
const RELEASES: Release[] = ['current', EVENT_PORT, COMLINK_ONLY]

/** [page's release, worker's release]; this release with itself first, as the control of the route counts. */
const PAIRINGS: [Release, Release][] = [
  ['current', 'current'],
  ['current', EVENT_PORT],
  [EVENT_PORT, 'current'],
  ['current', COMLINK_ONLY],
  [COMLINK_ONLY, 'current'],
]

let site: SkewSite | undefined
// Built once for the three engines; closed after them, or on a signal (cleanup.ts).
const closeSite = onCleanup(() => site?.close() ?? Promise.resolve())
beforeAll(async () => {
  site = await buildSkewSite(RELEASES)
}, 240_000)
afterAll(() => closeSite())

function skewSite(): SkewSite {
  if (!site) throw new Error('the skew builds are missing: beforeAll has not run')
  return site
}

function call<K extends keyof SkewApi>(
  tab: Tab,
  method: K,
  ...args: Parameters<SkewApi[K]>
): Promise<Awaited<ReturnType<SkewApi[K]>>> {
  return (tab.call as unknown as (m: K, ...a: Parameters<SkewApi[K]>) => Promise<Awaited<ReturnType<SkewApi[K]>>>)(
    method,
    ...args,
  )
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The route counts a pairing must show for 50 durable messages, and nothing else (volatile, state, acked… aside). */
function expectedRoute(page: Release, worker: Release): PortTraffic {
  if (page === COMLINK_ONLY || worker === COMLINK_ONLY) return { 'items:call:messages': 50 }
  if (page === 'current' && worker === 'current') return { 'items:post:bodiesJson': 50 }
  return { 'items:post:messages': 50 }
}

// Not minified: the functions keep their names. Each release's page and worker have what that release brought.
it('the builds are the releases they claim', async () => {
  const pages = await Promise.all(RELEASES.map((r) => skewSite().code(r, 'page')))
  const workers = await Promise.all(RELEASES.map((r) => skewSite().code(r, 'worker')))
  const has = (code: string[], word: string) => code.map((c) => c.includes(word))
  expect(has(pages, 'jsonBodies: true')).toEqual([true, false, false])
  expect(has(pages, 'function openEventChannel(')).toEqual([true, true, false])
  expect(has(workers, 'function jsonOnce(')).toEqual([true, false, false])
  expect(has(workers, 'function portLink(')).toEqual([true, true, false])
})

describe.each(BROWSERS)('%s', (name) => {
  let browser: TestBrowser | undefined
  let closeBrowser: (() => Promise<void>) | undefined
  beforeAll(async () => {
    const launched = await launchBrowser(name)
    browser = launched.browser
    closeBrowser = launched.close
  })
  afterAll(() => closeBrowser?.())

  // Named by short commit ids; the test gets the full ones.
  const cases = PAIRINGS.map(([page, worker]) => [page.slice(0, 7), worker.slice(0, 7), page, worker] as const)
  it.each(cases)('a page of %s on a worker of %s', async (_p, _w, page, worker) => {
    if (!browser) throw new Error('no browser: beforeAll has not run')
    const server = await createServer({ port: 0 })
    const closeServer = onCleanup(() => server.close())
    const context = await browser.newContext()
    const closeContext = onCleanup(() => context.close())
    const wsUrl = `ws://127.0.0.1:${server.port}`
    const watcher = await TestClient.hello(wsUrl, 'watcher', { subs: [{ topic: 'cursor', after: 0 }] })
    try {
      server.handle('echo', ({ body }) => ({ echo: body as Json }))
      const tab = await context.newTab(
        skewSite().pageUrl(page, worker, wsUrl, `ns-${name}-${page.slice(0, 7)}-${worker.slice(0, 7)}`),
        {
          api: 'skew',
          error: 'skewError',
        },
      )
      await until(
        () => `state open${pageErrors(tab)}`,
        () => call(tab, 'state'),
        (s) => s === 'open',
      )

      // 50 durable messages, published while subscribed: each once, in order.
      await call(tab, 'subscribe', 'feed')
      for (const n of range(1, 50)) await server.publish('feed', { n })
      const got = await until(
        () => `50 messages on feed${pageErrors(tab)}`,
        () => call(tab, 'received', 'feed'),
        (r) => r.length >= 50,
      )
      expect(got).toEqual(range(1, 50).map((n) => [n, n]))

      // 20 sends: ids in call order, every one acked, the server's log has each once, in order.
      const ids = await call(tab, 'send', 'chat', range(1, 20))
      expect(ids).toEqual(range(ids[0] ?? 0, (ids[0] ?? 0) + 19))
      await call(tab, 'allAcked')
      const log = (await server.store.read('chat', 0, 1_000)).msgs.map((m) => (m.body as { n: number }).n)
      expect(log).toEqual(range(1, 20))

      // A volatile send reaches the server and is relayed to its subscribers: a raw client and the tab itself.
      await call(tab, 'subscribeVolatile', 'cursor')
      expect(await call(tab, 'sendVolatile', 'cursor', { x: 1 })).toBe(true)
      await watcher.waitFor((f) => f.some((x) => x.t === 'vmsg'))
      expect(watcher.frames.filter((f) => f.t === 'vmsg')).toEqual([{ t: 'vmsg', topic: 'cursor', body: { x: 1 } }])
      expect(
        await until(
          'the tab’s own volatile message',
          () => call(tab, 'volatileReceived', 'cursor'),
          (v) => v.length > 0,
        ),
      ).toEqual([{ x: 1 }] satisfies Json[])

      expect(await call(tab, 'request', 'echo', { q: 1 })).toEqual({ echo: { q: 1 } })

      expect(await call(tab, 'presenceJoin', 'room', { who: 'tab' })).toBe(1)
      const members = await until(
        'the tab in the server’s presence',
        () => server.presence('room'),
        (m) => m.length === 1,
      )
      expect(members.map((m) => m.state)).toEqual([{ who: 'tab' }])

      // The route the worker's events took to this page.
      const traffic = await call(tab, 'traffic')
      const route = Object.fromEntries(Object.entries(traffic).filter(([k]) => k.startsWith('items:')))
      expect(route).toEqual(expectedRoute(page, worker))
      const posts = Object.keys(traffic).filter((k) => k.startsWith('post:'))
      const calls = Object.keys(traffic).filter((k) => k.startsWith('call:'))
      if (page === COMLINK_ONLY || worker === COMLINK_ONLY) {
        expect(posts).toEqual([])
        expect(calls).toContain('call:volatile')
      } else {
        expect(calls).toEqual([])
        expect(posts).toContain('post:volatile')
      }
      expect(tab.errors).toEqual([])
    } finally {
      await watcher.close()
      await closeContext()
      await closeServer()
    }
  })
})

/**
 * Issue 17's proof, Chromium only (Background Sync is Chromium's): a registered service worker that imports
 * `tabwire/sw` delivers the outbox with every tab of the app closed. 20 sends are queued while the server is down,
 * the tab closes (its SharedWorker ends, and with it the owner lock), the server comes back, and a `sync` is fired
 * over the DevTools protocol (`ServiceWorker.dispatchSyncEvent`): the server then holds 1..20 exactly once, in order,
 * counted at the store (appends and duplicates). A tab opened while the drain is in flight sends nothing twice; a
 * sync while the server is still down leaves everything queued, and the next one delivers it.
 *
 * A page of the app's origin that runs no tabwire (`blank.html`) stays open throughout: the DevTools session lives
 * in a page, and the test reads IndexedDB and the Web Locks through it.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Page } from 'playwright'
import { createServer } from '../../src/server/index.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import type { ServerOptions } from '../../src/server/types.ts'
import type { GuardedApi } from './app/guarded-api.ts'
import type { PwaApi } from './app/pwa-api.ts'
import { onCleanup } from '../support/cleanup.ts'
import { playwrightContext } from '../support/browsers.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { pageApi } from '../support/page-api.ts'
import { until } from '../support/wait.ts'

describe('chromium', () => {
  const shared = useBrowserApp('chromium')

  /** A server that is down (stopped) to begin with, whose store counts what `accept` did with each pub. */
  async function setup(options: Partial<ServerOptions> = {}) {
    const store = createMemoryStore()
    const counts = { published: 0, duplicate: 0, 'out-of-order': 0 }
    /** The (user, client) that pubs came from. */
    let sender: { user: string; client: string } | undefined
    const accept = store.accept.bind(store)
    store.accept = async (user, client, pubs) => {
      sender = { user, client }
      const outcomes = await accept(user, client, pubs)
      for (const o of outcomes) counts[o.kind]++
      return outcomes
    }
    const server = await createServer({ port: 0, httpOutbox: true, store, ...options })
    const closeServer = onCleanup(() => server.close())
    await server.stop()
    const context = playwrightContext(await shared.browser().newContext())
    const closeContext = onCleanup(() => context.close())
    onTestFinished(async () => {
      await closeContext()
      await closeServer()
    })
    const namespace = `pwa-${randomUUID()}`
    const appUrl = new URL(shared.app().pageUrl('ws://x', 'x'))
    const origin = appUrl.origin
    const blank = await context.newPage()
    await blank.goto(`${origin}/test/e2e/app/blank.html`)
    await blank.waitForFunction(() => 'pwa' in globalThis)
    const pwa = pageApi<PwaApi>(blank, 'pwa')

    const cdp = await context.newCDPSession(blank)
    const registrations = new Map<string, string>()
    cdp.on(
      'ServiceWorker.workerRegistrationUpdated',
      (ev: { registrations: { registrationId: string; scopeURL: string }[] }) => {
        for (const r of ev.registrations) registrations.set(r.scopeURL, r.registrationId)
      },
    )
    await cdp.send('ServiceWorker.enable')
    const swUrl = `/test/fixtures/sw.ts?${new URLSearchParams({ outbox: `http://127.0.0.1:${server.port}/outbox`, ns: namespace })}`
    await pwa('register', swUrl)
    const registrationId = await until(
      'the registration id',
      () => registrations.get(`${origin}/test/fixtures/`),
      (id) => id !== undefined,
    )

    const tabUrl = `${origin}/test/e2e/app/guarded.html?${new URLSearchParams({ url: `ws://127.0.0.1:${server.port}`, ns: namespace })}`
    const openTab = async (url = tabUrl) => {
      const page = await context.newPage()
      await page.goto(url)
      await page.waitForFunction(() => 'guarded' in globalThis)
      return page
    }
    const sync = () =>
      cdp.send('ServiceWorker.dispatchSyncEvent', {
        origin,
        registrationId: registrationId as string,
        tag: `tabwire-outbox:${namespace}`,
        lastChance: false,
      })
    const drains = () => pwa('drains')
    const queued = () => pwa('queued', namespace)
    /** Every tab is closed: the SharedWorker has ended and let go of the namespace's owner lock. */
    const ownerGone = () =>
      until(
        'the SharedWorker to let go of the owner lock',
        () => pwa('ownerLock', namespace),
        (lock) => !lock.held,
      )
    const bodies = async () => (await server.store.read('room', 0, 1_000)).msgs.map((m) => (m.body as { n: number }).n)
    const ownerLock = () => pwa('ownerLock', namespace)
    /** A tab the service worker controls (inside its scope), as an installed app's pages are. */
    const controlledTabUrl = tabUrl.replace('/test/e2e/app/guarded.html', '/test/fixtures/pwa-tab.html')
    return {
      server,
      counts,
      sender: () => sender,
      openTab,
      controlledTabUrl,
      sync,
      drains,
      queued,
      ownerGone,
      ownerLock,
      bodies,
    }
  }

  const call = <K extends keyof GuardedApi & string>(page: Page, k: K, ...args: Parameters<GuardedApi[K]>) =>
    pageApi<GuardedApi>(page, 'guarded')(k, ...args)

  async function queueOffline(openTab: () => Promise<Page>, n: number): Promise<void> {
    const tab = await openTab()
    for (let i = 1; i <= n; i++) expect(await call(tab, 'send', 'room', { n: i })).toEqual({ id: i })
    expect(await call(tab, 'pending')).toBe(n)
    await tab.close({ runBeforeUnload: false })
  }

  const ONE_TO_20 = Array.from({ length: 20 }, (_, i) => i + 1)

  it('20 sends queued offline, every tab closed, the server back, a sync: 1..20 exactly once, in order', async () => {
    const s = await setup()
    await queueOffline(s.openTab, 20)
    await s.ownerGone()
    expect(await s.queued()).toEqual(ONE_TO_20)
    await s.server.start()
    await s.sync()
    await until('the drain', s.drains, (log) => log.length === 1)
    expect(await s.drains()).toEqual([
      { tag: expect.any(String), result: { busy: false, delivered: 20, refused: 0, dropped: 0, pending: 0 } },
    ])
    expect(await s.bodies()).toEqual(ONE_TO_20)
    expect(s.counts).toEqual({ published: 20, duplicate: 0, 'out-of-order': 0 })
    expect(await s.queued()).toEqual([])
  })

  it('a message cancelled among the 20 goes as a skip: the server holds the other 19 once, refuses 7 as cancelled', async () => {
    const s = await setup()
    const tab = await s.openTab()
    for (let i = 1; i <= 20; i++) expect(await call(tab, 'send', 'room', { n: i })).toEqual({ id: i })
    expect(await call(tab, 'cancel', 7)).toBeNull()
    await tab.close({ runBeforeUnload: false })
    await s.ownerGone()
    // The slot stays queued (its body gone) until the server's answer covers it.
    expect(await s.queued()).toEqual(ONE_TO_20)
    await s.server.start()
    await s.sync()
    await until('the drain', s.drains, (log) => log.length === 1)
    expect(await s.drains()).toEqual([
      { tag: expect.any(String), result: { busy: false, delivered: 19, refused: 0, dropped: 1, pending: 0 } },
    ])
    expect(await s.bodies()).toEqual(ONE_TO_20.filter((n) => n !== 7))
    expect(s.counts).toEqual({ published: 19, duplicate: 0, 'out-of-order': 0 })
    const { user, client } = s.sender() ?? { user: '', client: '' }
    expect((await s.server.store.refusals(user, client)).map((r) => [r.id, r.code])).toEqual([[7, 'cancelled']])
    expect(await s.server.store.acked(user, client)).toBe(20)
    expect(await s.queued()).toEqual([])
  })

  it('a sync while the server is still down leaves everything queued; the next sync delivers it', async () => {
    const s = await setup()
    await queueOffline(s.openTab, 20)
    await s.ownerGone()
    await s.sync().catch(() => undefined)
    await until('the failed drain', s.drains, (log) => log.length === 1)
    expect(await s.drains()).toEqual([
      {
        tag: expect.any(String),
        error: expect.stringContaining('the HTTP outbox is unreachable; the messages stay queued'),
      },
    ])
    expect(await s.queued()).toEqual(ONE_TO_20)
    await s.server.start()
    await s.sync()
    await until('the second drain', s.drains, (log) => log.length === 2)
    expect((await s.drains())[1]).toEqual({
      tag: expect.any(String),
      result: { busy: false, delivered: 20, refused: 0, dropped: 0, pending: 0 },
    })
    expect(await s.bodies()).toEqual(ONE_TO_20)
    expect(s.counts).toEqual({ published: 20, duplicate: 0, 'out-of-order': 0 })
  })

  it('a tab opened while the drain is in flight sends nothing twice, and its own sends follow in order', async () => {
    let validated = 0
    let open = (): void => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const s = await setup({
      // The drain's first request waits here, holding the owner lock, until the new tab has sent.
      validate: async () => {
        validated++
        await gate
        return true
      },
    })
    await queueOffline(s.openTab, 20)
    await s.ownerGone()
    await s.server.start()
    const syncing = s.sync()
    await until(
      'the drain to reach the server',
      () => validated,
      (n) => n > 0,
    )
    const tab = await s.openTab()
    expect(await call(tab, 'send', 'room', { n: 21 })).toEqual({ id: 21 })
    expect(await call(tab, 'send', 'room', { n: 22 })).toEqual({ id: 22 })
    // The drain holds the owner lock; the new tab's worker waits for it (a follower, with no socket).
    await until("the tab's worker to wait for the owner lock", s.ownerLock, (l) => l.held && l.waiting === 1)
    expect(s.server.connections()).toBe(0)
    open()
    await syncing
    await call(tab, 'allAcked')
    expect(await call(tab, 'pending')).toBe(0)
    const [drain] = (await until('the drain log', s.drains, (log) => log.length === 1)) as {
      result: { busy: boolean; delivered: number }
    }[]
    // The drain delivered what was queued when it began (and perhaps the new tab's sends too, if it read them first).
    expect(drain?.result.busy).toBe(false)
    expect(drain?.result.delivered).toBeGreaterThanOrEqual(20)
    expect(await s.bodies()).toEqual([...ONE_TO_20, 21, 22])
    // Each id reached the store once: whatever the drain did not take, the tab's worker sent after the drain let go.
    expect(s.counts).toEqual({ published: 22, duplicate: 0, 'out-of-order': 0 })
  })
  it('a tab hidden with messages queued registers the sync, and the browser fires it', async () => {
    const s = await setup()
    const tab = await s.openTab(s.controlledTabUrl)
    // The page's globals, typed here by what the test touches (this Node project has no DOM lib).
    type PageGlobals = { navigator: { serviceWorker: { controller: unknown } }; document: EventTarget }
    expect(
      await tab.evaluate(() => (globalThis as unknown as PageGlobals).navigator.serviceWorker.controller !== null),
    ).toBe(true)
    expect(await call(tab, 'send', 'room', { n: 1 })).toEqual({ id: 1 })
    // Hidden, as when the user switches away or closes the app (Chromium has no headless way to hide a page).
    await tab.evaluate(() => {
      const { document } = globalThis as unknown as PageGlobals
      Object.defineProperty(document, 'hidden', { value: true, configurable: true })
      document.dispatchEvent(new Event('visibilitychange'))
    })
    // The browser is online, so it fires the sync at once, while the tab's worker still owns the outbox.
    await until('the sync', s.drains, (log) => log.length > 0)
    expect((await s.drains())[0]).toEqual({
      tag: expect.any(String),
      result: { busy: true, delivered: 0, refused: 0, dropped: 0, pending: 0 },
    })
    expect(s.counts).toEqual({ published: 0, duplicate: 0, 'out-of-order': 0 })
  })
})

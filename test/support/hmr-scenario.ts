/**
 * Issue 16's hot-update check, for any framework's fixture (test/e2e/hmr-*): under a real Vite dev server with the
 * framework's HMR runtime, a hot update of a component and one of the module that calls `sharedWire` keep the page's
 * one wire: one socket at the server (and one ever accepted), one subscription on the topic, one tab attached in the
 * worker, and every message folded into the rendered state exactly once.
 *
 * A fixture renders `#state` (the wire's state), `#label` (the component's label, which `componentEdits` change),
 * `#wire-label` (wire.ts's `WIRE_LABEL`, `'wire v1'`) and `#folded` (the JSON list of every message's `n` folded in).
 */
import type { Page } from 'playwright'
import { expect, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { BrowserName } from './browser-paths.ts'
import { launchPlaywright } from './browsers.ts'
import { onCleanup } from './cleanup.ts'
import { type HmrAppOptions, startHmrApp } from './hmr-app.ts'
import type { HmrGlobal } from './hmr-global.ts'
import { startProxy } from './tcp-proxy.ts'
import { until } from './wait.ts'

const TOPIC = 'feed'

/**
 * The test's deadline: a Vite server, a browser, a warm-up load and two hot updates took up to 100 s in Firefox on
 * this 2-core machine under a load average of 27, close to the e2e project's 120 s.
 */
export const HOT_UPDATE_DEADLINE = 300_000

export interface HotUpdateOptions extends HmrAppOptions {
  /**
   * Edits of the component, in order, each followed by two messages: `to` must make `#label` show `label`. The
   * framework decides whether an edit keeps the component (and its subscription) or replaces it: a fixture lists
   * one edit of each kind its framework has.
   */
  componentEdits: { file: string; from: string; to: string; label: string }[]
}

export async function checkHotUpdates(name: Exclude<BrowserName, 'webkit'>, options: HotUpdateOptions): Promise<void> {
  const server = await createServer({ port: 0 })
  const closeServer = onCleanup(() => server.close())
  const proxy = await startProxy(server.port)
  const app = await startHmrApp(options)
  const { browser, close: closeBrowser } = await launchPlaywright(name)
  onTestFinished(async () => {
    await closeBrowser()
    await app.close()
    await proxy.close()
    await closeServer()
  })
  const url = `ws://127.0.0.1:${proxy.port}`

  // A throwaway load on the server itself (not the proxy, whose count is asserted) lets Vite transform and
  // pre-bundle everything first, so no late optimization reloads the page under test.
  const warm = await browser.newContext()
  const warmPage = await warm.newPage()
  await warmPage.goto(app.pageUrl({ url: `ws://127.0.0.1:${server.port}`, ns: 'warm-up' }))
  await text(warmPage, '#state', 'open')
  await warm.close()

  const context = await browser.newContext()
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(app.pageUrl({ url, ns: `ns-${name}`, topic: TOPIC }))
  await text(page, '#state', 'open')
  const loadedAt = await page.evaluate(() => (globalThis as HmrGlobal).loadedAt)
  expect(loadedAt).toBeTypeOf('string')

  let published = 0
  /** Publishes the next `count` messages and waits until the page shows the last; returns the folded list. */
  async function publishAndSee(count: number): Promise<string> {
    for (let i = 0; i < count; i++) await server.publish(TOPIC, { n: ++published })
    return text(page, '#folded', (t) => t.includes(`${published}]`))
  }
  expect(await publishAndSee(2)).toBe('[1,2]')

  // Component edits, hot-updated in place (same page load): kept or replaced, the list is each message once.
  for (const edit of options.componentEdits) {
    await app.edit(edit.file, edit.from, edit.to)
    await text(page, '#label', edit.label)
    const want = oneTo(published + 2)
    expect(await publishAndSee(2)).toBe(want)
  }

  // An edit of the module that calls sharedWire: Vite evaluates it again (a second entry in wireEvaluations).
  await app.edit('wire.ts', "'wire v1'", "'wire v2'")
  await text(page, '#wire-label', 'wire v2')
  const folded = await publishAndSee(2)

  // Everything in one comparison, so a failure shows every count at once.
  const inPage = await page.evaluate(async () => {
    const g = globalThis as HmrGlobal
    const evaluations = g.wireEvaluations ?? []
    return {
      loadedAt: g.loadedAt,
      evaluations: evaluations.length,
      sameWire: evaluations.every((w) => w === evaluations[0]),
      liveSubscriptions: g.liveSubscriptions,
      tabsInWorker: (await evaluations[0]?.inspect())?.tabs.count,
    }
  })
  expect({
    ...inPage,
    folded,
    serverConnections: server.connections(),
    acceptedByProxy: proxy.accepted(),
    serverSubscribers: server.subscribers(TOPIC),
  }).toEqual({
    loadedAt,
    evaluations: 2,
    sameWire: true,
    liveSubscriptions: 1,
    tabsInWorker: 1,
    folded: oneTo(published),
    serverConnections: 1,
    acceptedByProxy: 1,
    serverSubscribers: 1,
  })
  expect(errors).toEqual([])
}

/** The folded list of messages 1..n, each once, as the page shows it. */
function oneTo(n: number): string {
  return JSON.stringify(Array.from({ length: n }, (_, i) => i + 1))
}

/** Waits until `selector`'s text is `want` (or passes it); returns the text. */
function text(page: Page, selector: string, want: string | ((t: string) => boolean)): Promise<string> {
  const ok = typeof want === 'string' ? (t: string) => t === want : want
  return until(
    `${selector} to show ${String(want)}`,
    async () => (await page.locator(selector).textContent()) ?? '',
    ok,
  )
}

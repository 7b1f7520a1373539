/**
 * Issue 16: under a real Vite dev server with React Fast Refresh, hot updates of a component and of the module that
 * calls `sharedWire` keep the page's one wire: one socket at the server (and one ever accepted), one subscription
 * on the topic, one tab attached in the worker, and every message folded into the rendered state exactly once.
 */
import react from '@vitejs/plugin-react'
import type { Page } from 'playwright'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { launchPlaywright } from '../support/browsers.ts'
import { onCleanup } from '../support/cleanup.ts'
import { startHmrApp } from '../support/hmr-app.ts'
import { startProxy } from '../support/tcp-proxy.ts'
import { until } from '../support/wait.ts'
import type { HmrGlobal } from './hmr-react/hmr-global.ts'

const TOPIC = 'feed'

describe.each(PLAYWRIGHT_BROWSERS)('%s', (name) => {
  it('hot updates of the component and of the sharedWire module keep one wire, one subscription, each message once', async () => {
    const server = await createServer({ port: 0 })
    const closeServer = onCleanup(() => server.close())
    const proxy = await startProxy(server.port)
    const app = await startHmrApp({
      fixture: 'hmr-react',
      plugin: react(),
      deps: ['react', 'react/jsx-dev-runtime', 'react-dom/client'],
    })
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

    // A component edit: Fast Refresh re-renders in place (same page load), and its effects run again.
    await app.edit('App.tsx', '>Feed v1<', '>Feed v2<')
    await text(page, '#label', 'Feed v2')
    expect(await publishAndSee(2)).toBe('[1,2,3,4]')

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
      tabsInWorker: 1,
      folded: '[1,2,3,4,5,6]',
      serverConnections: 1,
      acceptedByProxy: 1,
      serverSubscribers: 1,
    })
    expect(errors).toEqual([])
  })
})

/** Waits until `selector`'s text is `want` (or passes it); returns the text. */
function text(page: Page, selector: string, want: string | ((t: string) => boolean)): Promise<string> {
  const ok = typeof want === 'string' ? (t: string) => t === want : want
  return until(
    `${selector} to show ${String(want)}`,
    async () => (await page.locator(selector).textContent()) ?? '',
    ok,
  )
}

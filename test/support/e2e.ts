/**
 * The e2e harness: per `describe` one browser, one Vite app and a warm-up page load; per test a fresh tabwire
 * server (memory store, port 0), a fresh browser context (its own IndexedDB and SharedWorker) and a unique
 * namespace. Everything is closed after the test, and on signals (see cleanup.ts).
 */
import { randomUUID } from 'node:crypto'
import type { Browser, BrowserContext } from 'playwright'
import type { Delivery } from '../../src/protocol/port.ts'
import { afterAll, beforeAll, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { TabwireServer } from '../../src/server/types.ts'
import type { BrowserName } from './browser-paths.ts'
import { launchBrowser } from './browsers.ts'
import { onCleanup } from './cleanup.ts'
import { openTab, type Tab } from './tab.ts'
import { startProxy, type Proxy } from './tcp-proxy.ts'
import { startApp, type App } from './vite-app.ts'
import { until } from './wait.ts'

export interface Scenario {
  server: TabwireServer
  context: BrowserContext
  namespace: string
  /** Present when asked for: the tabs connect through it, so it counts every connection they make. */
  proxy: Proxy | undefined
  /**
   * Opens a tab of the app on this scenario's server (or proxy) and namespace (or `namespace`; several separated by
   * commas); `query` adds the app's other options (see test/e2e/app/main.ts: `worker`, `mode`, `minDelay`…).
   */
  openTab(namespace?: string, query?: Record<string, string>): Promise<Tab>
  /** The URL `openTab` would open, for a page the test creates itself. */
  tabUrl(namespace?: string, query?: Record<string, string>): string
}

export interface E2E {
  scenario(options?: { proxy?: boolean }): Promise<Scenario>
}

/** Call inside a `describe`: sets up the browser and app for it. */
export function useE2E(name: BrowserName): E2E {
  let browser: Browser | undefined
  let app: App | undefined
  const closers: (() => Promise<void>)[] = []

  beforeAll(async () => {
    const launched = await launchBrowser(name)
    browser = launched.browser
    closers.push(launched.close)
    app = await startApp()
    closers.push(app.close)
    await warmUp(browser, app)
  })

  afterAll(async () => {
    for (const close of closers.reverse()) await close()
  })

  return {
    async scenario(options = {}) {
      if (!browser || !app) throw new Error('useE2E: beforeAll has not run')
      const pageApp = app
      const server = await createServer({ port: 0 })
      const closeServer = onCleanup(() => server.close())
      const proxy = options.proxy ? await startProxy(server.port) : undefined
      const context = await browser.newContext()
      const closeContext = onCleanup(() => context.close())
      onTestFinished(async () => {
        await closeContext()
        await proxy?.close()
        await closeServer()
      })
      const namespace = `ns-${randomUUID()}`
      const wsUrl = `ws://127.0.0.1:${proxy ? proxy.port : server.port}`
      return {
        server,
        context,
        namespace,
        proxy,
        openTab: (ns = namespace, query = {}) => openTab(context, withQuery(pageApp.pageUrl(wsUrl, ns), query)),
        tabUrl: (ns = namespace, query = {}) => withQuery(pageApp.pageUrl(wsUrl, ns), query),
      }
    },
  }
}

function withQuery(url: string, query: Record<string, string>): string {
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v)
  return u.toString()
}

/**
 * One full page load (page, worker, socket open) in a throwaway context before any counted work, so Vite has
 * transformed and pre-bundled everything and no test page is reloaded by a late dependency optimization.
 */
async function warmUp(browser: Browser, app: App): Promise<void> {
  const server = await createServer({ port: 0 })
  const context = await browser.newContext()
  try {
    const tab = await openTab(context, app.pageUrl(`ws://127.0.0.1:${server.port}`, 'warm-up'))
    await waitForState(tab, 'open')
  } finally {
    await context.close()
    await server.close()
  }
}

/** Waits until the tab's wire reports `state`. */
export function waitForState(tab: Tab, state: string, timeout?: number): Promise<unknown> {
  return until(
    () => `state "${state}"${pageErrors(tab)}`,
    () => tab.call('state'),
    (s) => s === state,
    timeout === undefined ? {} : { timeout },
  )
}

/** A unique `{ n }` body series 1..count, tagged so one test's messages cannot be mistaken for another's. */
export function bodies(count: number, tag: string): { n: number; tag: string }[] {
  return Array.from({ length: count }, (_, i) => ({ n: i + 1, tag }))
}

/** The tab's page errors so far, for failure messages. */
export function pageErrors(tab: Tab): string {
  return tab.errors.length ? ` (page errors: ${tab.errors.join(' | ')})` : ''
}

/** Waits until the tab has received `seq` on `topic`; returns everything it received on the topic. */
export function receivedUpTo(tab: Tab, topic: string, seq: number): Promise<Delivery[]> {
  return until(
    () => `seq ${seq} on ${topic}${pageErrors(tab)}`,
    () => tab.call('received', topic),
    (got) => got.some((m) => m.seq === seq),
  )
}

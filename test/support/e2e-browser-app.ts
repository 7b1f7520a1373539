/**
 * The browser and the Vite app of e2e tests: per `describe`, one browser, one app and a warm-up page load, closed
 * after it (and on signals, see cleanup.ts). `useE2E` adds a server per test on top; tests that build their own
 * servers (several nodes, admission control, a guarded server) use this directly.
 */
import { afterAll, beforeAll } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { BrowserName } from './browser-paths.ts'
import { launchBrowser, type TestBrowser } from './browsers.ts'
import { openTab, waitForState } from './tab.ts'
import { startApp, type App } from './vite-app.ts'

export interface BrowserApp {
  browser(): TestBrowser
  app(): App
}

/** Call inside a `describe`. `more` runs after the app is up (start services there); its closers run first. */
export function useBrowserApp(
  name: BrowserName,
  more?: (closers: (() => Promise<void>)[]) => Promise<void>,
): BrowserApp {
  let browser: TestBrowser | undefined
  let app: App | undefined
  const closers: (() => Promise<void>)[] = []

  beforeAll(async () => {
    const launched = await launchBrowser(name)
    browser = launched.browser
    closers.push(launched.close)
    app = await startApp()
    closers.push(app.close)
    await more?.(closers)
    await warmUp(browser, app)
  })

  afterAll(async () => {
    for (const close of closers.reverse()) await close()
  })

  return {
    browser() {
      if (!browser) throw new Error('useBrowserApp: beforeAll has not run')
      return browser
    },
    app() {
      if (!app) throw new Error('useBrowserApp: beforeAll has not run')
      return app
    },
  }
}

/**
 * One full page load (page, worker, socket open) in a throwaway context before any counted work, so Vite has
 * transformed and pre-bundled everything and no test page is reloaded by a late dependency optimization.
 */
async function warmUp(browser: TestBrowser, app: App): Promise<void> {
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

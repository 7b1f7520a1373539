/**
 * The e2e tests' browsers behind one interface: Debian's Chromium and Firefox ESR through Playwright (which cannot
 * download its own browsers here), and WebKitGTK through W3C WebDriver (Playwright's WebKit build cannot be had
 * here; see TOOLCHAIN.md, "WebKit"). A context is an isolated profile (its own IndexedDB and SharedWorkers); a tab
 * is a page of it (a WebDriver window in WebKit).
 */
import { chromium, firefox, type Browser, type BrowserContext } from 'playwright'
import { CHROMIUM_ARGS, CHROMIUM_PATH, FIREFOX_PATH, type BrowserName } from './browser-paths.ts'
import { onCleanup } from './cleanup.ts'
import { PlaywrightTab, TEST_APP, type AppGlobals, type Tab } from './tab.ts'
import { launchWebKit } from './webdriver-browser.ts'

export interface ContextOptions {
  /**
   * A folder that keeps the context's storage across `close()` and the next `newContext` on it: a browser restart.
   * WebKit only (scripts/webkit-launcher.py, which also gives each tab its own web process, as Safari does).
   */
  profile?: string
}

export interface TestBrowser {
  readonly name: BrowserName
  newContext(options?: ContextOptions): Promise<TestContext>
}

export interface TestContext {
  /** Opens `url` in a new tab and waits for the app in it (its `globals`; the e2e app's by default) to be ready. */
  newTab(url: string, globals?: AppGlobals): Promise<Tab>
  close(): Promise<void>
  /** The Playwright context behind it, for what only Playwright can do (DevTools, console); absent in WebKit. */
  readonly playwright: BrowserContext | undefined
}

export async function launchBrowser(name: BrowserName): Promise<{ browser: TestBrowser; close: () => Promise<void> }> {
  if (name === 'webkit') {
    const webkit = launchWebKit()
    return { browser: webkit, close: onCleanup(() => webkit.close()) }
  }
  const launched = await launchPlaywright(name)
  const browser: TestBrowser = {
    name,
    async newContext(options = {}) {
      if (options.profile !== undefined) throw new Error('a persistent profile is wired for WebKit only')
      const context = await launched.browser.newContext()
      return {
        playwright: context,
        newTab: async (url, globals = TEST_APP) => {
          const tab = new PlaywrightTab(await context.newPage(), globals)
          await tab.page.goto(url)
          await tab.ready()
          return tab
        },
        close: () => context.close(),
      }
    },
  }
  return { browser, close: launched.close }
}

/** A Playwright browser, for tests that need Playwright's own API (the consumer-package build checks). */
export async function launchPlaywright(
  name: Exclude<BrowserName, 'webkit'>,
): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser =
    name === 'chromium'
      ? await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
      : // Firefox ESR only through the WebDriver BiDi channel (Playwright 1.64.1; see TOOLCHAIN.md).
        await firefox.launch({ channel: 'moz-firefox', executablePath: FIREFOX_PATH })
  const close = onCleanup(() => browser.close())
  return { browser, close }
}

/** The Playwright context behind `context`, for a test registered only for the engines Playwright drives. */
export function playwrightContext(context: TestContext): BrowserContext {
  if (!context.playwright) throw new Error('this test needs a Playwright context (Chromium or Firefox)')
  return context.playwright
}

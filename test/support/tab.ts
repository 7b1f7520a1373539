/**
 * One browser tab of the e2e app, with a typed bridge to its `window.tabwireTest` API. `Tab` is what the tests use;
 * `PlaywrightTab` drives a Playwright page (Chromium, Firefox), `WebDriverTab` a WebDriver window (WebKit).
 */
import type { Page } from 'playwright'
import type { AppGlobal, TestApi } from '../e2e/app/api.ts'
import type { TestContext } from './browsers.ts'
import { until } from './wait.ts'

export type Method = keyof TestApi
export type Result<K extends Method> = Awaited<ReturnType<TestApi[K]>>

/**
 * Where a page puts its test API and its start-up error: the e2e app's (`tabwireTest`) unless a page says otherwise
 * (the chaos page: `chaos`). `Tab.call` calls into `api`; its types are the e2e app's, so another page's harness
 * wraps it with its own.
 */
export interface AppGlobals {
  api: string
  error: string
}
export const TEST_APP: AppGlobals = { api: 'tabwireTest', error: 'tabwireTestError' }

export interface Tab {
  /** Uncaught page errors and console errors seen so far, shown when a wait fails so a broken worker is visible. */
  readonly errors: string[]
  /** Calls `window.tabwireTest[method](...args)` in the page and returns its (JSON-serialized) result. */
  call<K extends Method>(method: K, ...args: Parameters<TestApi[K]>): Promise<Result<K>>
  /** Like `call`, on the wire of namespace `ns` in a page opened with several namespaces. */
  callIn<K extends Method>(ns: string, method: K, ...args: Parameters<TestApi[K]>): Promise<Result<K>>
  /** Reloads the page and waits for the app in it to be ready again. */
  reload(): Promise<void>
  /**
   * Navigates to `url`, then back through the history (where the browser may restore the page from its back/forward
   * cache), and waits for the app to be ready again. `whileAway` runs between the two, while the page is not shown.
   */
  awayAndBack(url: string, whileAway?: () => Promise<void>): Promise<void>
  close(): Promise<void>
}

export class PlaywrightTab implements Tab {
  /** Uncaught page errors and console errors, shown when a wait fails so a broken worker is visible. */
  readonly errors: string[] = []

  constructor(
    readonly page: Page,
    private readonly globals: AppGlobals = TEST_APP,
  ) {
    page.on('pageerror', (err) => this.errors.push(`pageerror: ${err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.errors.push(`console: ${msg.text()}`)
    })
  }

  /** Calls `window.tabwireTest[method](...args)` in the page and returns its (serialized) result. */
  call<K extends Method>(method: K, ...args: Parameters<TestApi[K]>): Promise<Result<K>> {
    return this.page.evaluate(
      async ([g, m, a]) => {
        const api = (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown> | undefined>)[
          g
        ]
        if (!api) throw new Error(`window.${g} is missing`)
        return (api[m] as (...x: unknown[]) => unknown)(...a)
      },
      [this.globals.api, method, args] as [string, Method, unknown[]],
    ) as Promise<Result<K>>
  }

  /** Like `call`, on the wire of namespace `ns` in a page opened with several namespaces. */
  callIn<K extends Method>(ns: string, method: K, ...args: Parameters<TestApi[K]>): Promise<Result<K>> {
    return this.page.evaluate(
      async ([n, m, a]) => {
        const api = (globalThis as AppGlobal).tabwireTestFor?.[n]
        if (!api) throw new Error(`window.tabwireTestFor[${n}] is missing`)
        return (api[m] as (...x: unknown[]) => unknown)(...a)
      },
      [ns, method, args] as [string, Method, unknown[]],
    ) as Promise<Result<K>>
  }

  /** Waits for the app module to have run, and fails with its error if it threw. */
  async ready(): Promise<void> {
    const { api, error: errorName } = this.globals
    await this.page.waitForFunction(
      ([a, e]) => {
        const g = globalThis as unknown as Record<string, unknown>
        return g[a] !== undefined || g[e] !== undefined
      },
      [api, errorName] as const,
    )
    const error = await this.page.evaluate((e) => (globalThis as unknown as Record<string, unknown>)[e], errorName)
    if (error) throw new Error(`app failed to start: ${String(error)}`)
  }

  async reload(): Promise<void> {
    await this.page.reload()
    await this.ready()
  }

  async awayAndBack(url: string, whileAway?: () => Promise<void>): Promise<void> {
    await this.page.goto(url)
    await whileAway?.()
    await this.page.goBack()
    await this.ready()
  }

  close(): Promise<void> {
    return this.page.close()
  }
}

/** Opens the e2e app at `url` in a new tab of `context`, ready to be called. */
export function openTab(context: TestContext, url: string): Promise<Tab> {
  return context.newTab(url)
}

/** The Playwright page behind `tab`, for a test registered only for the engines Playwright drives. */
export function playwrightPage(tab: Tab): Page {
  if (!(tab instanceof PlaywrightTab)) throw new Error('this test needs a Playwright page (Chromium or Firefox)')
  return tab.page
}

/** The tab's page errors so far, for failure messages. */
export function pageErrors(tab: Tab): string {
  return tab.errors.length ? ` (page errors: ${tab.errors.join(' | ')})` : ''
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

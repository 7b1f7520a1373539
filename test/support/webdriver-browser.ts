/**
 * WebKit for the e2e harness over W3C WebDriver: a context is one WebDriver session of WebKitGTK's MiniBrowser (its
 * own throwaway storage, so its own IndexedDB and SharedWorkers), and a tab is one window of that session. A context
 * with a profile runs scripts/webkit-launcher.py instead: storage kept in the profile folder, a web process per window.
 *
 * WebKitWebDriver serves one session at a time, so each context runs its own driver (and display). The session's
 * first window stays on about:blank for the context's lifetime: closing the last window would end the session and
 * with it the storage a test may expect to outlive every tab of the app.
 *
 * WebDriver answers one command at a time per session and acts on the "current" window, so commands are queued
 * and each switches to its tab's window first. A tab call that waits long (`allAcked` against a server that is
 * down) therefore holds up the other tabs of its context.
 */
import { WEBKIT_BROWSER_PATH, WEBKIT_LAUNCHER_PATH } from './browser-paths.ts'
import type { TestBrowser, TestContext } from './browsers.ts'
import { TEST_APP, type AppGlobals, type Method, type Result, type Tab } from './tab.ts'
import { until } from './wait.ts'
import { startWebKitDriver, WEBKIT_SESSION_TIMEOUT_MS, type WebKitDriver } from './webkit-driver.ts'

/** Longest tab call (the session's script timeout) and longest page load. */
const SCRIPT_TIMEOUT_MS = 120_000
const PAGE_LOAD_TIMEOUT_MS = 60_000

export function launchWebKit(): TestBrowser & { close(): Promise<void> } {
  const contexts = new Set<WebDriverContext>()
  return {
    name: 'webkit',
    async newContext(options = {}) {
      const context = await WebDriverContext.open(options.profile)
      contexts.add(context)
      return {
        playwright: undefined,
        newTab: (url, globals) => context.newTab(url, globals),
        close: async () => {
          contexts.delete(context)
          await context.close()
        },
      } satisfies TestContext
    },
    async close() {
      for (const context of [...contexts]) await context.close()
      contexts.clear()
    },
  }
}

class WebDriverContext {
  private queue: Promise<unknown> = Promise.resolve()
  private current: string | undefined
  private closed: Promise<void> | undefined

  private constructor(
    private readonly driver: WebKitDriver,
    private readonly session: string,
    /** The session's first window, kept on about:blank (see the top of this file). */
    private readonly holder: string,
  ) {
    this.current = holder
  }

  /** MiniBrowser with throwaway storage, or with `profile` the launcher that keeps it there. */
  static async open(profile?: string): Promise<WebDriverContext> {
    const driver = await startWebKitDriver()
    try {
      const created = (await request(
        driver.port,
        'POST',
        '/session',
        {
          capabilities: {
            alwaysMatch: {
              ...(profile === undefined
                ? {
                    browserName: 'MiniBrowser',
                    'webkitgtk:browserOptions': { binary: WEBKIT_BROWSER_PATH, args: ['--automation'] },
                  }
                : {
                    browserName: 'safari',
                    'webkitgtk:browserOptions': {
                      binary: WEBKIT_LAUNCHER_PATH,
                      args: ['--automation', `--profile=${profile}`, '--name=safari'],
                    },
                  }),
              timeouts: { script: SCRIPT_TIMEOUT_MS, pageLoad: PAGE_LOAD_TIMEOUT_MS },
            },
          },
        },
        WEBKIT_SESSION_TIMEOUT_MS,
      )) as { sessionId: string }
      const path = `/session/${created.sessionId}/window`
      const holder = (await request(driver.port, 'GET', path, undefined, WEBKIT_SESSION_TIMEOUT_MS)) as string
      return new WebDriverContext(driver, created.sessionId, holder)
    } catch (err) {
      await driver.close()
      throw err
    }
  }

  async newTab(url: string, globals: AppGlobals = TEST_APP): Promise<Tab> {
    const handle = await this.serial(async () => {
      // "New window" acts from the current window, which must still exist.
      if (this.current === undefined) await this.switchTo(this.holder)
      const { handle } = (await this.command('POST', '/window/new', { type: 'tab' })) as { handle: string }
      await this.switchTo(handle)
      await this.command('POST', '/url', { url })
      return handle
    })
    const tab = new WebDriverTab(this, handle, globals)
    await tab.ready()
    return tab
  }

  /** Runs `fn` with the session to itself, on window `handle`. */
  onWindow<T>(handle: string, fn: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.switchTo(handle)
      return fn()
    })
  }

  command(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    timeout = SCRIPT_TIMEOUT_MS + 10_000,
  ): Promise<unknown> {
    return request(this.driver.port, method, `/session/${this.session}${path}`, body, timeout)
  }

  /** Marks the current window gone (after closing it), so the next command switches first. */
  forgetCurrent(): void {
    this.current = undefined
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      try {
        await this.command('DELETE', '', undefined, 10_000)
      } catch {
        // the driver is stopped below either way
      }
      await this.driver.close()
    })()
    return this.closed
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }

  private async switchTo(handle: string): Promise<void> {
    if (this.current === handle) return
    await this.command('POST', '/window', { handle })
    this.current = handle
  }
}

/** Collects uncaught errors and console errors in the page, for `Tab.errors` (WebDriver has no event for them). */
const INSTALL_ERROR_TRAP = `
  const g = globalThis
  if (!g.__tabErrors) {
    g.__tabErrors = []
    addEventListener('error', (e) => g.__tabErrors.push('pageerror: ' + e.message))
    addEventListener('unhandledrejection', (e) => g.__tabErrors.push('pageerror: ' + (e.reason && e.reason.message || e.reason)))
    const original = console.error
    console.error = (...args) => { g.__tabErrors.push('console: ' + args.join(' ')); original.apply(console, args) }
  }`

/**
 * Calls `window[name][method]` (or `window[name][ns][method]`); answers with the result (undefined as null, as JSON
 * has it) and the errors trapped since the last call.
 */
const CALL = `
  const [name, ns, method, args, done] = arguments
  const g = globalThis
  const drain = () => (g.__tabErrors || []).splice(0)
  const api = ns === null ? g[name] : g[name] && g[name][ns]
  if (!api) return done({ error: 'window.' + name + (ns === null ? '' : '[' + ns + ']') + ' is missing', errors: drain() })
  Promise.resolve()
    .then(() => api[method](...args))
    .then((value) => done({ value: value === undefined ? null : value, errors: drain() }),
          (e) => done({ error: (e && e.name ? e.name + ': ' : '') + (e && e.message !== undefined ? e.message : String(e)), errors: drain() }))`

class WebDriverTab implements Tab {
  readonly errors: string[] = []

  constructor(
    private readonly context: WebDriverContext,
    private readonly handle: string,
    private readonly globals: AppGlobals,
  ) {}

  call<K extends Method>(method: K, ...args: unknown[]): Promise<Result<K>> {
    return this.invoke(this.globals.api, null, method, args) as Promise<Result<K>>
  }

  callIn<K extends Method>(ns: string, method: K, ...args: unknown[]): Promise<Result<K>> {
    return this.invoke('tabwireTestFor', ns, method, args) as Promise<Result<K>>
  }

  /** Waits for the app module to have run, and fails with its error if it threw. */
  async ready(): Promise<void> {
    const error = await until(
      'the e2e app to start',
      () =>
        this.context.onWindow(this.handle, () =>
          this.script(
            `const [api, error] = arguments; const g = globalThis
            return g[api] !== undefined || g[error] !== undefined
              ? { started: true, error: g[error] === undefined ? null : String(g[error]) } : { started: false }`,
            [this.globals.api, this.globals.error],
          ),
        ) as Promise<{ started: boolean; error?: string | null }>,
      (r) => r.started,
    )
    if (error.error) throw new Error(`app failed to start: ${error.error}`)
    await this.context.onWindow(this.handle, () => this.script(INSTALL_ERROR_TRAP))
  }

  async reload(): Promise<void> {
    await this.context.onWindow(this.handle, () => this.context.command('POST', '/refresh', {}))
    await this.ready()
  }

  async awayAndBack(url: string, whileAway?: () => Promise<void>): Promise<void> {
    await this.context.onWindow(this.handle, () => this.context.command('POST', '/url', { url }))
    // Outside the window's turn: `whileAway` may call into other windows, each of which takes its own.
    await whileAway?.()
    await this.context.onWindow(this.handle, () => this.context.command('POST', '/back', {}))
    await this.ready()
  }

  close(): Promise<void> {
    return this.context.onWindow(this.handle, async () => {
      await this.context.command('DELETE', '/window')
      this.context.forgetCurrent()
    })
  }

  private async invoke(api: string, ns: string | null, method: string, args: unknown[]): Promise<unknown> {
    const answer = (await this.context.onWindow(this.handle, () =>
      this.context.command('POST', '/execute/async', { script: CALL, args: [api, ns, method, args] }),
    )) as { value?: unknown; error?: string; errors: string[] }
    this.errors.push(...answer.errors)
    if (answer.error !== undefined) throw new Error(answer.error)
    return answer.value
  }

  private script(script: string, args: unknown[] = []): Promise<unknown> {
    return this.context.command('POST', '/execute/sync', { script, args })
  }
}

/** One W3C WebDriver request; a WebDriver error becomes an Error with its code and message. */
async function request(port: number, method: string, path: string, body: unknown, timeout: number): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeout),
  })
  const json = (await res.json()) as { value: unknown }
  if (!res.ok) {
    const { error, message } = json.value as { error?: string; message?: string }
    throw new Error(`WebDriver ${method} ${path}: ${error ?? res.status}: ${message ?? ''}`)
  }
  return json.value
}

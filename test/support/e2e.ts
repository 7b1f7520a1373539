/**
 * The e2e harness: per `describe` one browser, one Vite app and a warm-up page load; per test a fresh tabwire
 * server (memory store, port 0), a fresh browser context (its own IndexedDB and SharedWorker) and a unique
 * namespace. Everything is closed after the test, and on signals (see cleanup.ts).
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Delivery } from '../../src/protocol/port.ts'
import { onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { ServerOptions, TabwireServer } from '../../src/server/types.ts'
import type { BrowserName } from './browser-paths.ts'
import type { TestContext } from './browsers.ts'
import { onCleanup } from './cleanup.ts'
import { useBrowserApp } from './e2e-browser-app.ts'
import { openTab, pageErrors, type Tab } from './tab.ts'
import { startProxy, type TcpProxy } from './tcp-proxy.ts'
import { until } from './wait.ts'

export { pageErrors, waitForState } from './tab.ts'

export interface Scenario {
  server: TabwireServer
  /** The current context (a new one after `restartBrowser`). */
  readonly context: TestContext
  namespace: string
  /** Present when asked for: the tabs connect through it, so it counts every connection they make. */
  proxy: TcpProxy | undefined
  /**
   * Opens a tab of the app on this scenario's server (or proxy) and namespace (or `namespace`; several separated by
   * commas); `query` adds the app's other options (see test/e2e/app/main.ts: `worker`, `mode`, `minDelay`…).
   */
  openTab(namespace?: string, query?: Record<string, string>): Promise<Tab>
  /** The URL `openTab` would open, for a page the test creates itself. */
  tabUrl(namespace?: string, query?: Record<string, string>): string
  /** Another browser profile (a fresh context: its own IndexedDB, SharedWorker and client id) on the same server. */
  profile(): Promise<{ context: TestContext; openTab(namespace?: string): Promise<Tab> }>
  /**
   * Closes the browser (every tab) and starts it again on the same profile: only in a scenario with `profile`, so
   * the storage outlives it. Tabs opened before are gone.
   */
  restartBrowser(): Promise<void>
}

export interface ScenarioOptions {
  /** The tabs connect through a TCP proxy that counts their connections. */
  proxy?: boolean
  /**
   * A persistent profile (a fresh temporary folder), so `restartBrowser` keeps IndexedDB; WebKit only (see
   * `ContextOptions.profile`: it also gives each tab its own web process, as Safari does).
   */
  profile?: boolean
  /** Options for this scenario's server (its port is always 0). */
  server?: Omit<ServerOptions, 'port'>
}

export interface E2E {
  scenario(options?: ScenarioOptions): Promise<Scenario>
}

/** Call inside a `describe`: sets up the browser and app for it. */
export function useE2E(name: BrowserName): E2E {
  const shared = useBrowserApp(name)

  return {
    async scenario(options = {}) {
      const browser = shared.browser()
      const pageApp = shared.app()
      const server = await createServer({ ...options.server, port: 0 })
      const closeServer = onCleanup(() => server.close())
      const proxy = options.proxy ? await startProxy(server.port) : undefined
      const profile = options.profile ? await mkdtemp(join(tmpdir(), 'tabwire-profile-')) : undefined
      const removeProfile = onCleanup(() =>
        profile ? rm(profile, { recursive: true, force: true }) : Promise.resolve(),
      )
      let context = await browser.newContext({ profile })
      let closeContext = onCleanup(() => context.close())
      onTestFinished(async () => {
        await closeContext()
        await removeProfile()
        await proxy?.close()
        await closeServer()
      })
      const namespace = `ns-${randomUUID()}`
      const wsUrl = `ws://127.0.0.1:${proxy ? proxy.port : server.port}`
      return {
        server,
        get context() {
          return context
        },
        namespace,
        proxy,
        openTab: (ns = namespace, query = {}) => openTab(context, withQuery(pageApp.pageUrl(wsUrl, ns), query)),
        tabUrl: (ns = namespace, query = {}) => withQuery(pageApp.pageUrl(wsUrl, ns), query),
        async profile() {
          const other = await browser.newContext()
          onTestFinished(onCleanup(() => other.close()))
          return { context: other, openTab: (ns = namespace) => openTab(other, pageApp.pageUrl(wsUrl, ns)) }
        },
        async restartBrowser() {
          if (!profile) throw new Error('restartBrowser needs a scenario with a profile')
          await closeContext()
          context = await browser.newContext({ profile })
          closeContext = onCleanup(() => context.close())
        },
      }
    },
  }
}

function withQuery(url: string, query: Record<string, string>): string {
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v)
  return u.toString()
}

/** A unique `{ n }` body series 1..count, tagged so one test's messages cannot be mistaken for another's. */
export function bodies(count: number, tag: string): { n: number; tag: string }[] {
  return Array.from({ length: count }, (_, i) => ({ n: i + 1, tag }))
}

/** Waits until the tab has received `seq` on `topic`; returns everything it received on the topic. */
export function receivedUpTo(tab: Tab, topic: string, seq: number): Promise<Delivery[]> {
  return until(
    () => `seq ${seq} on ${topic}${pageErrors(tab)}`,
    () => tab.call('received', topic),
    (got) => got.some((m) => m.seq === seq),
  )
}

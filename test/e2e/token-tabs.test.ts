/**
 * Ten real tabs of one origin share one SharedWorker and so one connection; each tab's app has a token provider.
 * A 4401 (here `server.disconnect(user, { code: 4401 })`) makes the worker ask one tab once for a fresh token, not
 * every tab: the providers of all ten pages are counted.
 */
import type { IncomingMessage } from 'node:http'
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { GuardedApi } from './app/guarded-api.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import type { AppGlobals, Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

type Api = GuardedApi
const TABS = 10
/** guarded.html sets `window.guarded` and no error global. */
const GUARDED: AppGlobals = { api: 'guarded', error: 'guardedError' }

// Every engine: the pages are driven through `Tab` (Playwright, or WebDriver windows for WebKit); nothing here needs
// the console or DevTools.
describe.each(BROWSERS)('%s', (name) => {
  const shared = useBrowserApp(name)

  it('ten tabs, two 4401s: three token fetches in all, three sockets', { timeout: 120_000 }, async () => {
    const sockets = new Set<IncomingMessage>()
    const server = await createServer({
      port: 0,
      authenticate: (t, req) => {
        sockets.add(req)
        return { user: t ?? 'nobody' }
      },
    })
    const closeServer = onCleanup(() => server.close())
    const context = await shared.browser().newContext()
    const closeContext = onCleanup(() => context.close())
    onTestFinished(async () => {
      await closeContext()
      await closeServer()
    })
    const q = new URLSearchParams({ url: `ws://127.0.0.1:${server.port}`, ns: `tabs-${randomUUID()}`, token: 'bob' })
    const pageUrl = shared
      .app()
      .pageUrl('ws://x', 'x')
      .replace(/index\.html\?.*$/, `guarded.html?${q}`)
    const pages: Tab[] = []
    for (let i = 0; i < TABS; i++) pages.push(await context.newTab(pageUrl, GUARDED))
    // `Tab.call` is typed for the e2e app's API; this page's is `GuardedApi` (methods without arguments here).
    const call = <K extends 'state' | 'tokenCalls' | 'pending'>(tab: Tab, k: K) =>
      (tab.call as unknown as (m: K) => Promise<Awaited<ReturnType<Api[K]>>>).call(tab, k)
    const states = () => Promise.all(pages.map((p) => call(p, 'state')))
    const fetches = async () => (await Promise.all(pages.map((p) => call(p, 'tokenCalls')))).reduce((a, b) => a + b)
    await until('every tab open', states, (s) => s.every((x) => x === 'open'))
    // Every tab has answered the worker, so all ten are attached before the first 4401.
    for (const p of pages) await call(p, 'pending')
    expect([await fetches(), sockets.size]).toEqual([1, 1])
    for (const round of [2, 3]) {
      await server.disconnect('bob', { code: 4401, reason: 'token revoked' })
      await until(
        'the reconnect',
        async () => [sockets.size, server.connections()],
        ([s, c]) => s === round && c === 1,
      )
      await until('every tab open again', states, (s) => s.every((x) => x === 'open'))
      expect(await fetches()).toBe(round)
    }
  })
})

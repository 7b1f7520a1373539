/**
 * Ten real tabs of one origin share one SharedWorker and so one connection; each tab's app has a token provider.
 * A 4401 (here `server.disconnect(user, { code: 4401 })`) makes the worker ask one tab once for a fresh token, not
 * every tab: the providers of all ten pages are counted.
 */
import type { IncomingMessage } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Page } from 'playwright'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { GuardedApi } from './app/guarded-api.ts'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { playwrightContext } from '../support/browsers.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { until } from '../support/wait.ts'

type Api = GuardedApi
const TABS = 10

describe.each(PLAYWRIGHT_BROWSERS)('%s', (name) => {
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
    const context = playwrightContext(await shared.browser().newContext())
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
    const pages: Page[] = []
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage()
      await page.goto(pageUrl)
      await page.waitForFunction(() => 'guarded' in globalThis)
      pages.push(page)
    }
    const call = <K extends keyof Api>(page: Page, k: K) =>
      page.evaluate(
        (k2: string) => (globalThis as unknown as { guarded: Record<string, () => unknown> }).guarded[k2]?.(),
        k as string,
      ) as Promise<Awaited<ReturnType<Api[K]>>>
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

/**
 * Security (RELIABILITY.md, "Bad-input catalogue"): the token a tab's provider returns is sent in `hello` and used by
 * the server, but never written to IndexedDB nor to any log. With `debug: true` the worker logs every frame, hello
 * included, with the token replaced by `[redacted]`; a dedicated worker's console reaches Playwright, so every line
 * of it (and of the page) is checked.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { GuardedApi } from './app/guarded-api.ts'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { playwrightContext } from '../support/browsers.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { pageApi } from '../support/page-api.ts'
import { until } from '../support/wait.ts'

type Api = GuardedApi

// Not WebKit: the test reads every console line of the page and of its workers, which WebDriver cannot (WebKit is
// driven over WebDriver here). WebKit's IndexedDB holding no token is not checked by this file.
describe.each(PLAYWRIGHT_BROWSERS)('%s', (name) => {
  const shared = useBrowserApp(name)

  it.each(['shared', 'dedicated'])(
    '%s worker: the token reaches the server but no IndexedDB record and no console line',
    async (mode) => {
      const token = `secret-token-${randomUUID()}`
      const seen: (string | undefined)[] = []
      const server = await createServer({
        port: 0,
        authenticate: (t) => {
          seen.push(t)
          return { user: 'alice' }
        },
      })
      const closeServer = onCleanup(() => server.close())
      const context = playwrightContext(await shared.browser().newContext())
      const closeContext = onCleanup(() => context.close())
      onTestFinished(async () => {
        await closeContext()
        await closeServer()
      })
      const page = await context.newPage()
      const lines: string[] = []
      page.on('console', (m) => lines.push(`page ${m.type()}: ${m.text()}`))
      page.on('worker', (w) => w.on('console', (m) => lines.push(`worker ${m.type()}: ${m.text()}`)))
      const ns = `token-${randomUUID()}`
      const q = new URLSearchParams({ url: `ws://127.0.0.1:${server.port}`, ns, token, debug: '1', mode })
      const pageUrl = shared
        .app()
        .pageUrl('ws://x', 'x')
        .replace(/index\.html\?.*$/, `guarded.html?${q}`)
      await page.goto(pageUrl)
      await page.waitForFunction(() => 'guarded' in globalThis)
      const call = pageApi<Api>(page, 'guarded')

      await until(
        'open',
        () => call('state'),
        (s) => s === 'open',
      )
      await call('subscribe', 'room')
      expect(await call('send', 'room', { text: 'hello', n: 1 })).toEqual({ id: 1 })
      await call('allAcked')
      await until(
        'own message back',
        () => call('received', 'room'),
        (r) => r.length === 1,
      )
      // The server got the token (so it was really in play), once per connection.
      expect(seen).toEqual([token])
      expect(await call('tokenCalls')).toBe(1)

      const dump = JSON.stringify(await call('dumpIndexedDB', 'tabwire'))
      // The dump is not empty: it holds this namespace's records (client id, cursor, local log), just not the token.
      expect(dump).toContain(ns)
      expect(dump).toContain('hello')
      expect(dump).not.toContain(token)

      if (mode === 'dedicated' && name === 'chromium') {
        // The debug log is there (the hello frame, redacted) and nothing anywhere shows the token.
        await until(
          'the debug log of hello',
          () => lines,
          (l) => l.some((x) => x.includes('"t":"hello"')),
        )
        expect(lines.filter((l) => l.includes('"t":"hello"')).every((l) => l.includes('"token":"[redacted]"'))).toBe(
          true,
        )
      }
      expect(lines.filter((l) => l.includes(token))).toEqual([])
    },
  )
})

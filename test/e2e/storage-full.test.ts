/**
 * IndexedDB full (RELIABILITY.md, "Bad-input catalogue"), Chromium only: the origin's quota is shrunk over the
 * DevTools protocol (`Storage.overrideQuotaForOrigin`, through Playwright's CDP session). `send()` then rejects with
 * `storage-full` and stores nothing; what was accepted before is still delivered; once the quota is back, sends work.
 *
 * Chromium caches an origin's remaining space while its IndexedDB is open, so the first override (a small quota) is
 * set before the page opens anything, in a fresh context: the cache then holds little, and a large write re-checks.
 * The large write must be incompressible: Chromium compresses IndexedDB values (snappy) and checks the quota against
 * the stored size, so 8 MiB of one repeated character is ~400 kB on disk, fits the cached 4 MiB and is never
 * re-checked (Chromium 150 stores it and `send()` resolves; 156 happens to re-check). Random base64 stays ~8 MiB.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import type { GuardedApi } from './app/guarded-api.ts'
import { onCleanup } from '../support/cleanup.ts'
import { playwrightContext } from '../support/browsers.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { pageApi } from '../support/page-api.ts'
import { until } from '../support/wait.ts'

type Api = GuardedApi

describe('chromium', () => {
  const shared = useBrowserApp('chromium')

  it('send() rejects with storage-full; earlier sends are delivered; after the quota is restored sends work', async () => {
    const server = await createServer({ port: 0 })
    const closeServer = onCleanup(() => server.close())
    const context = playwrightContext(await shared.browser().newContext())
    const closeContext = onCleanup(() => context.close())
    onTestFinished(async () => {
      await closeContext()
      await closeServer()
    })
    const page = await context.newPage()
    const q = new URLSearchParams({
      url: `ws://127.0.0.1:${server.port}`,
      ns: `full-${randomUUID()}`,
      maxMessageBytes: String(16 << 20),
    })
    const pageUrl = shared
      .app()
      .pageUrl('ws://x', 'x')
      .replace(/index\.html\?.*$/, `guarded.html?${q}`)
    const origin = new URL(pageUrl).origin
    const cdp = await context.newCDPSession(page)
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 4 << 20 })
    await page.goto(pageUrl)
    await page.waitForFunction(() => 'guarded' in globalThis)
    const call = pageApi<Api>(page, 'guarded')

    await until(
      'open',
      () => call('state'),
      (s) => s === 'open',
    )
    await server.stop()
    await until(
      'reconnecting',
      () => call('state'),
      (s) => s === 'reconnecting',
    )
    expect(await call('send', 'q', { n: 1 })).toEqual({ id: 1 })
    expect(await call('send', 'q', { n: 2 })).toEqual({ id: 2 })

    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 })
    const full = await call('send', 'q', { n: 3, pad: randomBytes(6 << 20).toString('base64') })
    expect(full).toEqual({
      code: 'storage-full',
      message: "send() was not stored: the origin's storage quota is used up",
    })
    expect(await call('pending')).toBe(2)

    await cdp.send('Storage.overrideQuotaForOrigin', { origin })
    await server.start()
    await call('allAcked')
    expect(await call('send', 'q', { n: 3 })).toEqual({ id: 3 })
    await call('allAcked')
    expect((await server.store.read('q', 0, 100)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
  })
})

/**
 * Admission control end to end: a server over its connection rate closes a tab's new socket with 4429
 * `retry-after=<ms>`, and the worker waits that long instead of its own (much shorter) backoff, so its next attempt
 * is the one that gets in. The proof is a count: exactly two attempts reach the server — one turned away, one
 * admitted. A worker that ignored retry-after would retry within its 250 ms maxDelay, before the bucket refills
 * (one token per second), and be turned away again.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { pageErrors, waitForState } from '../support/e2e.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { createFaultProxy } from '../support/fault-proxy.ts'
import { openTab } from '../support/tab.ts'
import { until } from '../support/wait.ts'
import { TestClient } from '../support/ws-client.ts'

describe.each(BROWSERS)('%s', (name) => {
  const env = useBrowserApp(name)

  it('a tab turned away with 4429 retry-after comes back once, after the wait, and is admitted', async () => {
    const server = await createServer({ port: 0, admission: { ratePerSecond: 1, burst: 1 } })
    const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: server.port } })
    const context = await env.browser().newContext()
    const closers = [onCleanup(() => context.close()), onCleanup(() => proxy.close()), onCleanup(() => server.close())]
    const raw: TestClient[] = []
    onTestFinished(async () => {
      await Promise.all(raw.map((c) => c.close()))
      for (const close of closers) await close()
    })

    // The tab's attempts are refused below the server until the bucket is empty, whatever its page load took.
    proxy.refuse(true)
    const tab = await openTab(context, env.app().pageUrl(`ws://127.0.0.1:${proxy.port}`, `ns-${randomUUID()}`))
    await until(
      'a refused attempt',
      () => proxy.stats().faults.refused,
      (n) => n >= 1,
    )
    raw.push(await TestClient.hello(`ws://127.0.0.1:${server.port}`, 'takes-the-only-token'))
    proxy.refuse(false)

    await waitForState(tab, 'open')
    const { accepted, faults } = proxy.stats()
    expect(accepted - faults.refused).toBe(2)
    expect(server.connections()).toBe(2)
    expect(tab.errors, pageErrors(tab)).toEqual([])
  })
})

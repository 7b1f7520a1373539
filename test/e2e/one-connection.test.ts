/** Scenario 1: three tabs of one browser context share one WebSocket. */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { bodies, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('three tabs: the server sees exactly one connection, and every tab sends through it', async () => {
    const s = await e2e.scenario({ proxy: true })
    const tabs = [await s.openTab(), await s.openTab(), await s.openTab()]
    for (const tab of tabs) await waitForState(tab, 'open')

    // Each tab's send is acked over the shared socket.
    const tag = s.namespace
    for (const [i, tab] of tabs.entries()) {
      await tab.call('send', 'tabs', [{ n: i + 1, tag }])
      await tab.call('allAcked', 'tabs')
    }
    const log = await until(
      'three bodies in the log',
      () => s.server.store.read('tabs', 0, 10_000),
      (r) => r.msgs.length >= 3,
    )
    expect(log.msgs.map((m) => m.body)).toEqual(bodies(3, tag))

    expect(s.server.connections()).toBe(1)
    // The proxy counts every TCP connection ever made, so a second socket that came and went shows too.
    expect(s.proxy?.accepted()).toBe(1)
  })
})

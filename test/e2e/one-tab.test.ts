/**
 * `subscribe(topic, fn, { deliver: 'one-tab' })` in real browsers: three tabs of one profile follow a topic so, the
 * server publishes 30 messages, and one tab closes mid-stream; each message is handled exactly once in all (counted in
 * localStorage, which outlives the closed tab), and the tabs that stay keep getting them.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('3 tabs, 30 messages, one tab closing mid-stream: each message handled exactly once across the tabs', async () => {
    const s = await e2e.scenario()
    const tabs = [await s.openTab(), await s.openTab(), await s.openTab()]
    for (const t of tabs) {
      await waitForState(t, 'open')
      await t.call('subscribeOneTab', 'bell', s.namespace, 30)
    }
    const [first, , last] = tabs
    if (!first || !last) throw new Error('no tab')
    const count = () => last.call('handledOnce', s.namespace)
    for (let i = 1; i <= 15; i++) await s.server.publish('bell', { i })
    await until(
      () => 'half of the messages handled',
      count,
      (c) => Object.keys(c).length >= 5,
    )
    // The first tab to subscribe is the one chosen while every tab is visible: it closes mid-stream, and what it had
    // not finished goes to another tab.
    await first.close()
    for (let i = 16; i <= 30; i++) await s.server.publish('bell', { i })
    await until(
      () => `all 30 handled${pageErrors(last)}`,
      () => last.call('handledOnce', s.namespace),
      (c) => Object.keys(c).length === 30,
    )
    const counts = await last.call('handledOnce', s.namespace)
    expect(Object.entries(counts).filter(([, n]) => n !== 1)).toEqual([])
    expect(
      Object.keys(counts)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(pageErrors(last)).toBe('')
  })
})

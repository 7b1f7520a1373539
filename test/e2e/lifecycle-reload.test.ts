/**
 * Issue 3, worker death by reload: the last tab of a namespace reloads (its SharedWorker dies with it) while 100
 * sends wait in the outbox for a server that is down; once the server is back, it has 1..100 once each, in order.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { bodies, pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('the last tab reloads with 100 messages queued offline: after the server returns it has 1..100 once each', async () => {
    const s = await e2e.scenario({ proxy: true })
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await s.server.stop()
    await waitForState(tab, 'reconnecting')

    const expected = bodies(100, s.namespace)
    // In several calls, as an app would send them: each resolves once stored.
    for (let i = 0; i < 100; i += 10) {
      const ids = await tab.call('send', 'queued', expected.slice(i, i + 10))
      expect(ids).toEqual(expected.slice(i, i + 10).map((b) => b.n))
    }
    expect(await tab.call('pending')).toBe(100)

    await tab.reload()
    expect(await tab.call('pending')).toBe(100)
    expect(await tab.call('state')).not.toBe('open')

    await s.server.start()
    await waitForState(tab, 'open')
    await until(
      () => `the outbox to drain${pageErrors(tab)}`,
      () => tab.call('pending'),
      (n) => n === 0,
    )
    const log = await s.server.store.read('queued', 0, 10_000)
    expect(log.msgs.map((m) => m.body)).toEqual(expected)
    expect(log.msgs.map((m) => m.seq)).toEqual(expected.map((b) => b.n))
    // A send after the reload takes the next id and lands after them.
    expect(await tab.call('send', 'queued', [{ n: 101, tag: s.namespace }])).toEqual([101])
    await tab.call('allAcked', 'queued')
    const after = await s.server.store.read('queued', 0, 10_000)
    expect(after.msgs.map((m) => m.body)).toEqual([...expected, { n: 101, tag: s.namespace }])
    expect(s.server.connections()).toBe(1)
  })
})

/**
 * Scenario 2: sends made while the server is down survive a reload and the death of every tab (and so of the
 * SharedWorker), and reach the server exactly once, in order, when a new tab opens after the server is back.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { bodies, pageErrors, useE2E } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('50 sends while offline, reload, all tabs closed, server back: the server gets 1..50 once, in order', async () => {
    const s = await e2e.scenario()
    await s.server.stop()
    const sender = await s.openTab()
    const other = await s.openTab()
    const expected = bodies(50, s.namespace)

    const ids = await sender.call('send', 'outbox', expected)
    expect(ids).toEqual(expected.map((b) => b.n))
    expect(await sender.call('pending')).toBe(50)

    await sender.reload()
    expect(await sender.call('pending')).toBe(50)
    await sender.close()
    await other.close()

    await s.server.start()
    const fresh = await s.openTab()
    await until(
      () => `the outbox to drain${pageErrors(fresh)}`,
      () => fresh.call('pending'),
      (n) => n === 0,
    )
    const log = await s.server.store.read('outbox', 0, 10_000)
    expect(log.msgs.map((m) => m.body)).toEqual(expected)
    expect(log.msgs.map((m) => m.seq)).toEqual(expected.map((b) => b.n))
  })
})

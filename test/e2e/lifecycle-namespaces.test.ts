/**
 * Issue 3, several namespaces in one page (two signed-in accounts, say): a socket each, an outbox each, and
 * `purge()` of one leaves the other's queued messages to be delivered.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { useE2E } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('two namespaces in one tab: two sockets, separate pending counts, purge of one delivers the other', async () => {
    const s = await e2e.scenario({ proxy: true })
    const [one, two] = [`one-${randomUUID()}`, `two-${randomUUID()}`]
    const tab = await s.openTab(`${one},${two}`)
    for (const ns of [one, two])
      await until(
        `${ns} open`,
        () => tab.callIn(ns, 'state'),
        (st) => st === 'open',
      )
    expect(s.server.connections()).toBe(2)
    expect(s.proxy?.accepted()).toBe(2)

    await s.server.stop()
    for (const ns of [one, two])
      await until(
        `${ns} reconnecting`,
        () => tab.callIn(ns, 'state'),
        (st) => st === 'reconnecting',
      )
    expect(
      await tab.callIn(
        one,
        'send',
        'chat',
        [1, 2, 3].map((n) => ({ n, ns: 'one' })),
      ),
    ).toEqual([1, 2, 3])
    const twoBodies = [1, 2, 3, 4, 5].map((n) => ({ n, ns: 'two' }))
    expect(await tab.callIn(two, 'send', 'chat', twoBodies)).toEqual([1, 2, 3, 4, 5])
    expect(await tab.callIn(one, 'pending')).toBe(3)
    expect(await tab.callIn(two, 'pending')).toBe(5)
    // Separate databases too.
    const dbs = (await tab.call('dumpIndexedDB', 'tabwire')).map((d) => d.name).sort()
    expect(dbs).toEqual([`tabwire:${one}`, `tabwire:${two}`].sort())

    await tab.callIn(one, 'purge')
    expect(await tab.callIn(one, 'state')).toBe('closed')
    expect(await tab.callIn(two, 'pending')).toBe(5)

    await s.server.start()
    await until(
      'namespace two to drain',
      () => tab.callIn(two, 'pending'),
      (n) => n === 0,
    )
    const log = await s.server.store.read('chat', 0, 10_000)
    expect(log.msgs.map((m) => m.body)).toEqual(twoBodies)
    // Only the namespace still signed in connects again.
    await until(
      'one connection',
      () => s.server.connections(),
      (n) => n === 1,
    )
    expect(await tab.callIn(two, 'state')).toBe('open')
  })
})

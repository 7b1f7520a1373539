/**
 * Scenario 4: a second tab that subscribes with `after: 200` is served 201..500 by the worker from its local log
 * over the existing socket: no second connection and no `fetch` reach the server.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'

const TOPIC = 'feed'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('a tab subscribing with after: 200 gets 201..500 and the server sees no second connection', async () => {
    const s = await e2e.scenario({ proxy: true })
    const first = await s.openTab()
    await waitForState(first, 'open')
    await first.call('subscribe', TOPIC, 0)
    for (let n = 1; n <= 500; n++) await s.server.publish(TOPIC, { n })
    await receivedUpTo(first, TOPIC, 500)

    const second = await s.openTab()
    await waitForState(second, 'open')
    const subsBefore = s.proxy?.framesUp.of('sub')
    await second.call('subscribe', TOPIC, 200)
    await receivedUpTo(second, TOPIC, 500)
    // One more: a duplicate of 201..500 still on its way would arrive before it.
    await s.server.publish(TOPIC, { n: 501 })
    const got = await receivedUpTo(second, TOPIC, 501)

    expect(got).toEqual(Array.from({ length: 301 }, (_, i) => ({ topic: TOPIC, seq: 201 + i, body: { n: 201 + i } })))
    expect(await second.call('resets', TOPIC)).toEqual([])
    expect(s.server.connections()).toBe(1)
    expect(s.proxy?.accepted()).toBe(1)
    // The mechanism: the worker's local log served it. A fetch would have fetched it from the server's log instead,
    // and a second sub would have replayed it from there; neither left the worker.
    expect(subsBefore).toBe(1)
    expect(s.proxy?.framesUp.of('sub')).toBe(1)
    expect(s.proxy?.framesUp.of('hello')).toBe(1)
    expect(s.proxy?.framesUp.of('fetch')).toBe(0)
  })
})

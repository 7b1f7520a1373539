/**
 * Scenario 3: a server-side producer publishes 500 messages while the server's listener is stopped and started
 * twice (same store): every subscribed tab gets seq 1..500 exactly once, in order.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

const TOPIC = 'feed'
const COUNT = 500

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('two subscribed tabs each receive seq 1..500 exactly once, in order, across two server restarts', async () => {
    const s = await e2e.scenario()
    const tabs = [await s.openTab(), await s.openTab()]
    for (const tab of tabs) {
      await waitForState(tab, 'open')
      await tab.call('subscribe', TOPIC, 0)
    }
    const connected = () =>
      until(
        'the tabs to reconnect',
        () => s.server.connections(),
        (n) => n === 1,
      )

    for (let n = 1; n <= COUNT; n++) {
      // Down for 100..199 and 300..399: those arrive by replay, the rest live.
      if (n === 100 || n === 300) await s.server.stop()
      if (n === 200 || n === 400) {
        await s.server.start()
        await connected()
      }
      await s.server.publish(TOPIC, { n })
    }
    // A last message: in-order delivery means once it is in, anything that could still arrive before it has.
    await s.server.publish(TOPIC, { n: 'end' })

    const expected = [
      ...Array.from({ length: COUNT }, (_, i) => ({ topic: TOPIC, seq: i + 1, body: { n: i + 1 } })),
      { topic: TOPIC, seq: COUNT + 1, body: { n: 'end' } },
    ]
    for (const tab of tabs) {
      const got = await receivedUpTo(tab, TOPIC, COUNT + 1)
      expect(got.map((m) => m.seq)).toEqual(expected.map((m) => m.seq))
      expect(got).toEqual(expected)
      expect(await tab.call('resets', TOPIC)).toEqual([])
    }
  })
})

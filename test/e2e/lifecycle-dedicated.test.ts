/**
 * Issue 3, no SharedWorker: `mode: 'dedicated'` gives each tab its own Worker; one is elected leader (Web Lock) and
 * owns the one socket, the others relay to it. Closing the leader mid-stream hands the socket to another tab:
 * every surviving tab still gets each message once, in order, and every send from every tab arrives once.
 */
import { describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import { startPublisher, stream } from '../support/publisher.ts'
import type { Tab } from '../support/tab.ts'

const DEDICATED = { mode: 'dedicated' }
const COUNT = 300

function series(label: string, from: number, count: number): Json[] {
  return Array.from({ length: count }, (_, i) => ({ tab: label, n: from + i }))
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('dedicated mode, three tabs: one connection; the leader closes mid-stream, a new leader loses and repeats nothing', async () => {
    const s = await e2e.scenario({ proxy: true })
    // The first tab's worker is the first to ask for the owner lock: it leads.
    const leader = await s.openTab(undefined, DEDICATED)
    await waitForState(leader, 'open')
    const others = [await s.openTab(undefined, DEDICATED), await s.openTab(undefined, DEDICATED)]
    const tabs: [string, Tab][] = [
      ['leader', leader],
      ['b', others[0] as Tab],
      ['c', others[1] as Tab],
    ]
    for (const [, tab] of tabs) {
      await waitForState(tab, 'open')
      await tab.call('subscribe', 'stream', 0)
    }
    expect(s.server.connections()).toBe(1)
    expect(s.proxy?.accepted()).toBe(1)

    for (const [label, tab] of tabs) await tab.call('send', 'chat', series(label, 1, 10))
    for (const [, tab] of tabs) await tab.call('allAcked', 'chat')

    const publisher = startPublisher(s.server, 'stream', COUNT)
    await publisher.reached(100)
    // Sent, resolved, not necessarily acked: then the leader goes.
    await leader.call('send', 'chat', series('leader', 11, 10))
    await leader.close()
    expect(publisher.published).toBeLessThan(COUNT)
    for (const [label, tab] of tabs.slice(1)) await tab.call('send', 'chat', series(label, 11, 10))
    await publisher.finish()
    await s.server.publish('stream', { n: COUNT + 1 })

    for (const [, tab] of tabs.slice(1)) {
      expect(await receivedUpTo(tab, 'stream', COUNT + 1)).toEqual(stream('stream', COUNT + 1))
      expect(await tab.call('resets', 'stream')).toEqual([])
    }
    // Acks are cumulative and the survivors sent last: once their sends are acked, so is everything before them
    // (the old leader's last batch included). `pending()` alone is no barrier: another worker's commit reaches
    // this one's count over the bus a moment later.
    for (const [, tab] of tabs.slice(1)) await tab.call('allAcked', 'chat')
    const log = (await s.server.store.read('chat', 0, 10_000)).msgs.map((m) => m.body as { tab: string; n: number })
    expect(log).toHaveLength(60)
    for (const [label] of tabs)
      expect(log.filter((b) => b.tab === label).map((b) => b.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))

    // The socket moved: the old leader's connection is gone and exactly one new one was made.
    expect(s.server.connections()).toBe(1)
    expect(s.proxy?.accepted()).toBe(2)
    expect(s.server.subscribers('stream')).toBe(1)
  })
})

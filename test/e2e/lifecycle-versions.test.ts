/**
 * Issue 3, two worker versions side by side (a deploy renamed the worker file while old tabs stay open): one socket
 * per namespace. The old version's worker owns it and the new one relays through it; sends from both arrive once,
 * each tab's in its order. When every old tab closes, the new version takes over: still one connection, and
 * nothing sent or published meanwhile is lost or repeated.
 */
import { describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import type { TabwireServer } from '../../src/server/types.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import { startPublisher, stream } from '../support/publisher.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

const V2 = { worker: 'v2' }

/** Tab `tab` sends `count` bodies `{ tab, n }` starting at `from`, in batches of 5, waiting for each batch. */
async function sendSeries(tab: Tab, label: string, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 5) {
    const batch: Json[] = []
    for (let k = n; k < Math.min(n + 5, from + count); k++) batch.push({ tab: label, n: k })
    await tab.call('send', 'chat', batch)
  }
}

/** The server's `chat` log split by sending tab, each in log order. */
async function chatByTab(tab: Tab, server: TabwireServer): Promise<{ total: number; by: Record<string, number[]> }> {
  await until(
    'the outbox to drain',
    () => tab.call('pending'),
    (n) => n === 0,
  )
  const log = (await server.store.read('chat', 0, 10_000)).msgs.map((m) => m.body as { tab: string; n: number })
  const by: Record<string, number[]> = {}
  for (const b of log) (by[b.tab] ??= []).push(b.n)
  return { total: log.length, by }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

// In WebKit too (issue 14): closing the old tabs can end the v2 worker under the new tabs as well (WebKit runs a
// site's SharedWorkers in one window's web process); a send in flight then is made again on the next worker, which
// stores it only if the dead one had not, so every send still counts exactly once.
describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('old and new worker versions: one connection, every send once in its tab’s order; the new version takes over', async () => {
    const s = await e2e.scenario({ proxy: true })
    const old1 = await s.openTab()
    await waitForState(old1, 'open')
    const old2 = await s.openTab()
    const new1 = await s.openTab(undefined, V2)
    const new2 = await s.openTab(undefined, V2)
    const all = { old1, old2, new1, new2 }
    for (const tab of Object.values(all)) await waitForState(tab, 'open')
    expect(s.server.connections()).toBe(1)
    expect(s.proxy?.accepted()).toBe(1)

    for (const tab of Object.values(all)) await tab.call('subscribe', 'feed', 0)
    await until(
      'one server subscription for all four tabs',
      () => s.server.subscribers('feed'),
      (n) => n === 1,
    )

    // Both versions send at once, interleaved.
    await Promise.all(Object.entries(all).map(([label, tab]) => sendSeries(tab, label, 1, 30)))
    for (const tab of Object.values(all)) await tab.call('allAcked', 'chat')
    const first = await chatByTab(new1, s.server)
    expect(first.total).toBe(120)
    for (const label of Object.keys(all)) expect(first.by[label]).toEqual(range(1, 30))

    // Mid-stream, the old tabs send once more and go without waiting for acks: the old worker dies with them.
    const publisher = startPublisher(s.server, 'feed', 300)
    await publisher.reached(50)
    await Promise.all([sendSeries(old1, 'old1', 31, 10), sendSeries(old2, 'old2', 31, 10)])
    await old1.close()
    await old2.close()
    await sendSeries(new1, 'new1', 31, 10)
    await sendSeries(new2, 'new2', 31, 10)
    expect(await publisher.finish()).toBe(300)
    await s.server.publish('feed', { n: 301 })

    for (const tab of [new1, new2]) {
      expect(await receivedUpTo(tab, 'feed', 301)).toEqual(stream('feed', 301))
      expect(await tab.call('resets', 'feed')).toEqual([])
      await tab.call('allAcked', 'chat')
    }
    const second = await chatByTab(new1, s.server)
    expect(second.total).toBe(160)
    for (const label of Object.keys(all)) expect(second.by[label]).toEqual(range(1, 40))

    // The new version owns the socket now: one connection, and exactly one more was ever made. WebKit may make one
    // more: closing the old tabs' window can end the v2 worker (or its socket) under the new tabs after the v2 worker
    // had taken over, and its successor connects again (seen in about 1 run in 3); never two at once.
    expect(s.server.connections()).toBe(1)
    if (name === 'webkit') expect(s.proxy?.accepted()).toBeOneOf([2, 3])
    else {
      expect((await new1.call('stateInfos')).filter((i) => i.error?.message === 'worker restarted')).toEqual([])
      expect(s.proxy?.accepted()).toBe(2)
    }
    expect(s.server.subscribers('feed')).toBe(1)
  })
})

/**
 * Issue 3, worker death: the SharedWorker dies under its tabs (test/fixtures/killable-worker.ts closes itself on the
 * next call of a given method, before handling it). A call in flight rejects with `worker-unavailable` instead of
 * hanging — but not a `send` (issue 14): the tab makes it again on the next worker, which stores it once, since the
 * dead one never did. Every tab attaches to a new worker by itself, its subscription goes on with no gap or
 * duplicate, and sends work again.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import { stream } from '../support/publisher.ts'
import { until } from '../support/wait.ts'

/** Far beyond the test's waits: a rejection seen sooner came from the worker's death, not from the call timeout. */
const KILLABLE = { worker: 'killable', callTimeout: '100000' }

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('worker killed: the send in flight is made again on the next worker, tabs re-attach, streams and sends go on', async () => {
    const s = await e2e.scenario({ proxy: true })
    const tabs = [await s.openTab(undefined, KILLABLE), await s.openTab(undefined, KILLABLE)]
    const [a, b] = tabs as [(typeof tabs)[0], (typeof tabs)[0]]
    for (const tab of tabs) {
      await waitForState(tab, 'open')
      await tab.call('subscribe', 'feed', 0)
    }
    for (let n = 1; n <= 50; n++) await s.server.publish('feed', { n })
    for (const tab of tabs) await receivedUpTo(tab, 'feed', 50)
    await a.call('send', 'chat', [{ n: 1 }])
    await a.call('allAcked', 'chat')

    await a.call('armWorkerKill', 'send')
    // The dead worker never stored it: the next one does, under the next id.
    expect(await a.call('trySend', 'chat', [{ n: 'killed on arrival' }])).toEqual({ ok: true, value: [2] })

    // The app sees a state change, then `open` again on a new worker: not a broken object.
    for (const tab of tabs) {
      await until(
        'a worker-unavailable state, then open',
        () => tab.call('stateInfos'),
        (infos) => {
          const died = infos.findIndex((i) => i.error?.code === 'worker-unavailable')
          return died >= 0 && infos.slice(died + 1).some((i) => i.state === 'open') && infos.at(-1)?.state === 'open'
        },
      )
    }
    for (let n = 51; n <= 100; n++) await s.server.publish('feed', { n })
    for (const tab of tabs) {
      expect(await receivedUpTo(tab, 'feed', 100)).toEqual(stream('feed', 100))
      expect(await tab.call('resets', 'feed')).toEqual([])
    }

    expect(await a.call('send', 'chat', [{ n: 2 }, { n: 3 }])).toEqual([3, 4])
    expect(await b.call('send', 'chat', [{ n: 4 }])).toEqual([5])
    for (const tab of tabs) await tab.call('allAcked', 'chat')
    const log = await s.server.store.read('chat', 0, 10_000)
    expect(log.msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 'killed on arrival' }, { n: 2 }, { n: 3 }, { n: 4 }])
    // The dead worker's socket is gone; the new worker has the only one.
    await until(
      'one connection',
      () => s.server.connections(),
      (n) => n === 1,
    )
    expect(s.proxy?.accepted()).toBe(2)
  })
})

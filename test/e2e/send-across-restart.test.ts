/**
 * Issue 14, a send across a worker restart: the worker dies with `send` calls in flight, one of them stored but not
 * answered. Every `send()` still resolves exactly once: the tab makes each unanswered call again on the next worker,
 * which answers a call the dead worker stored with its stored ids and stores the others, in call order. The server
 * counts each message once, in order.
 */
import { describe, expect, it } from 'vitest'
import type { Body } from '../../src/protocol/frames.ts'
import type { TabwireServer } from '../../src/server/types.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { bodies, useE2E, waitForState } from '../support/e2e.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

/** Far beyond the test's waits: a send that rejected did so because of the worker's death, not the call timeout. */
const KILLABLE = { worker: 'killable', callTimeout: '100000' }
const COUNT = 120

/** Waits until every one of `startSends`' sends under `key` has settled; returns the ones that rejected. */
async function settled(tab: Tab, key: string, count: number): Promise<string[]> {
  const done = await until(
    `${count} sends settled`,
    async () => ({ ok: await tab.call('resolvedSends', key), failed: await tab.call('failedSends', key) }),
    ({ ok, failed }) => ok.length + failed.length === count,
  )
  return done.failed
}

/** The server's log of `topic` once the outbox is drained. */
async function serverLog(tab: Tab, server: TabwireServer, topic: string): Promise<Body[]> {
  await until(
    'the outbox to drain',
    () => tab.call('pending'),
    (n) => n === 0,
  )
  return (await server.store.read(topic, 0, 10_000)).msgs.map((m) => m.body)
}

async function workerDied(tab: Tab): Promise<boolean> {
  return (await tab.call('stateInfos')).some((i) => i.error?.code === 'worker-unavailable')
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('worker killed mid-burst as it answers a stored send: every send resolves once, none doubled, in order', async () => {
    const s = await e2e.scenario()
    const tab = await s.openTab(undefined, KILLABLE)
    await waitForState(tab, 'open')
    // Dies about to answer the 40th send call: that call is stored, the calls behind it are in flight.
    await tab.call('armWorkerKill', 'send', 40)
    const sent = bodies(COUNT, 'kill')
    await tab.call('startSends', 'chat', sent, 'kill')
    expect(await settled(tab, 'kill', COUNT)).toEqual([])
    expect(await workerDied(tab)).toBe(true)
    expect(await serverLog(tab, s.server, 'chat')).toEqual(sent)
  })
})

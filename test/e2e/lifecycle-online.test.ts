/**
 * Issue 3, browser events: tabs forward `online`/`offline` to the worker (Chrome fires none inside workers).
 * `online` ends a backoff wait at once; `offline` moves the wire to `offline` and stops every attempt.
 */
import { describe, expect, it } from 'vitest'
import type { StateRecord } from './app/api.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { useE2E, waitForState } from '../support/e2e.ts'
import { sleep } from '../support/publisher.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

/** Backoff so long that the scheduled retry is far off: anything that connects sooner was not the timer. */
const LONG_BACKOFF = { minDelay: '60000', maxDelay: '60000' }
/** "Well before" the scheduled retry: open at least this long before it was due. */
const WELL_BEFORE = 5_000

/**
 * Waits for a scheduled retry at least 10 s away. Full jitter draws each wait from [0, 60 s]: a short draw just
 * means another failed attempt and a new draw.
 */
async function longWait(tab: Tab): Promise<StateRecord> {
  const infos = await until(
    'a retry scheduled at least 10 s ahead',
    () => tab.call('stateInfos'),
    (all) => {
      const last = all.at(-1)
      return last?.state === 'reconnecting' && last.nextRetryAt !== undefined && last.nextRetryAt - last.at >= 10_000
    },
    { timeout: 60_000 },
  )
  return infos.at(-1) as StateRecord
}

/**
 * The first `open` report after `since`. Waits past the scheduled retry, so a wire that ignored `online` still
 * opens (by its timer) and the caller's comparison with `nextRetryAt` is what fails, with both times shown.
 */
async function openedAfter(tab: Tab, since: StateRecord): Promise<StateRecord> {
  await waitForState(tab, 'open', Math.max(0, (since.nextRetryAt ?? 0) - Date.now()) + 15_000)
  const infos = await tab.call('stateInfos')
  const opened = infos.find((i) => i.at >= since.at && i.state === 'open')
  if (!opened) throw new Error(`no open after ${JSON.stringify(since)}: ${JSON.stringify(infos)}`)
  return opened
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('a forwarded online ends a long backoff wait at once, well before the scheduled retry', async () => {
    const s = await e2e.scenario({ proxy: true })
    await s.server.stop()
    const tab = await s.openTab(undefined, LONG_BACKOFF)
    const waiting = await longWait(tab)
    const attempts = s.proxy?.accepted()

    await s.server.start()
    await tab.call('dispatch', 'online')
    const opened = await openedAfter(tab, waiting)
    expect(opened.at).toBeLessThan((waiting.nextRetryAt as number) - WELL_BEFORE)
    // One attempt did it: the one `online` started.
    expect(s.proxy?.accepted()).toBe((attempts as number) + 1)
    expect(s.server.connections()).toBe(1)
  })

  it('offline then online during a long backoff wait: offline stops, online connects at once', async () => {
    const s = await e2e.scenario({ proxy: true })
    await s.server.stop()
    const tab = await s.openTab(undefined, LONG_BACKOFF)
    const waiting = await longWait(tab)

    await tab.call('dispatch', 'offline')
    await waitForState(tab, 'offline')
    await s.server.start()
    await tab.call('dispatch', 'online')
    const opened = await openedAfter(tab, waiting)
    expect(opened.at).toBeLessThan((waiting.nextRetryAt as number) - WELL_BEFORE)
    expect(s.server.connections()).toBe(1)
  })

  it('offline closes the socket and makes no attempt while offline; online reconnects', async () => {
    const s = await e2e.scenario({ proxy: true })
    // Short backoff: a wire still trying would reach the (running) server many times a second.
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    expect(s.proxy?.accepted()).toBe(1)

    await tab.call('dispatch', 'offline')
    await waitForState(tab, 'offline')
    await until(
      'the socket to close',
      () => s.server.connections(),
      (n) => n === 0,
    )
    const before = s.proxy?.accepted()
    // An absence needs a window: with maxDelay 250 ms, 1.5 s would see several attempts if any were made.
    await sleep(1_500)
    expect(s.proxy?.accepted()).toBe(before)
    expect(s.server.connections()).toBe(0)
    const states = await tab.call('states')
    expect(states.slice(states.lastIndexOf('open') + 1)).toEqual(['offline'])

    await tab.call('dispatch', 'online')
    await waitForState(tab, 'open')
    expect(s.proxy?.accepted()).toBe((before as number) + 1)
    expect(s.server.connections()).toBe(1)
    await tab.call('send', 'after-online', [{ n: 1 }])
    await tab.call('allAcked', 'after-online')
  })
})

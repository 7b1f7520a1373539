/**
 * Issue 14, restart survival in WebKit: messages queued while the server is down survive the browser itself closing
 * and starting again on the same profile (IndexedDB on disk), and reach the server once each, in order, with the
 * ids they were given. MiniBrowser keeps storage only for one automation session, so this runs on
 * scripts/webkit-launcher.py, which keeps it in the profile folder.
 *
 * Not Chromium or Firefox: the harness opens their contexts with `browser.newContext()`, which keeps nothing;
 * Playwright's `launchPersistentContext` would, and is not wired into it yet.
 */
import { describe, expect, it } from 'vitest'
import { bodies, pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

describe('webkit', () => {
  const e2e = useE2E('webkit')

  it('60 sends queued offline survive a browser restart: the server gets them once each, in order, after it', async () => {
    const s = await e2e.scenario({ profile: true })
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await s.server.stop()
    await waitForState(tab, 'reconnecting')
    const expected = bodies(60, s.namespace)
    for (let i = 0; i < 60; i += 10) {
      const ids = await tab.call('send', 'queued', expected.slice(i, i + 10))
      expect(ids).toEqual(expected.slice(i, i + 10).map((b) => b.n))
    }
    expect(await tab.call('pending')).toBe(60)

    await s.restartBrowser()
    const again = await s.openTab()
    // Read back from disk by a worker of the new browser, before any server is there to take them.
    expect(await again.call('pending')).toBe(60)
    expect(await again.call('state')).not.toBe('open')

    await s.server.start()
    await waitForState(again, 'open')
    await until(
      () => `the outbox to drain${pageErrors(again)}`,
      () => again.call('pending'),
      (n) => n === 0,
    )
    const log = await s.server.store.read('queued', 0, 10_000)
    expect(log.msgs.map((m) => m.body)).toEqual(expected)
    // The next send takes the next id: the counter came back from disk too.
    expect(await again.call('send', 'queued', [{ n: 61, tag: s.namespace }])).toEqual([61])
  })
})

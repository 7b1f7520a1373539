/**
 * Issue 14, the back/forward cache: a tab navigates away and comes back through the history, and WebKit restores it
 * from its back/forward cache (`pageshow` with `persisted`: the same page, its scripts' state intact). WebKit let go
 * of the page's Web Locks when it cached it, so the worker took the tab for gone and the tab stopped watching the
 * worker: the tab must attach anew, with its subscription (no gap, no duplicate), and send.
 *
 * WebKit only: the same steps restore nothing in Chromium (Playwright starts it with the cache off) or Firefox ESR
 * here (`pageshow` never had `persisted`: each came back as a fresh page load, which other tests cover).
 */
import { describe, expect, it } from 'vitest'
import { bodies, receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import { stream } from '../support/publisher.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

describe('webkit', () => {
  const e2e = useE2E('webkit')

  it('away and back, restored from the back/forward cache: the tab attaches anew, streams on and sends', async () => {
    const s = await e2e.scenario()
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await tab.call('subscribe', 'feed', 0)
    for (let n = 1; n <= 5; n++) await s.server.publish('feed', { n })
    await receivedUpTo(tab, 'feed', 5)
    await tab.awayAndBack('about:blank')
    expect(await tab.call('restoredFromCache')).toBe(1)
    for (let n = 6; n <= 10; n++) await s.server.publish('feed', { n })
    expect(await receivedUpTo(tab, 'feed', 10)).toEqual(stream('feed', 10))
    expect(await tab.call('resets', 'feed')).toEqual([])
    expect(await tab.call('send', 'chat', [{ n: 1 }])).toEqual([1])
    await tab.call('allAcked', 'chat')
    expect((await s.server.store.read('chat', 0, 10)).msgs.map((m) => m.body)).toEqual([{ n: 1 }])
  })

  for (const others of [0, 1])
    it(`messages published while the page sits in the cache reach it once it is back, ${others} other tab${others ? '' : 's'} open: none missed, none twice`, async () => {
      const s = await e2e.scenario()
      const tab = await s.openTab()
      const stay = others ? await s.openTab() : undefined
      await waitForState(tab, 'open')
      await tab.call('subscribe', 'feed', 0)
      await stay?.call('subscribe', 'feed', 0)
      for (let n = 1; n <= 5; n++) await s.server.publish('feed', { n })
      await receivedUpTo(tab, 'feed', 5)
      // The cached page runs no script: 6 to 10 do not reach it (the worker goes on for the other tab, or ends with
      // its only one). The restored page asks for what came after its last seq.
      await tab.awayAndBack('about:blank', async () => {
        for (let n = 6; n <= 10; n++) await s.server.publish('feed', { n })
        if (stay) await receivedUpTo(stay, 'feed', 10)
      })
      expect(await tab.call('restoredFromCache')).toBe(1)
      for (let n = 11; n <= 15; n++) await s.server.publish('feed', { n })
      expect(await receivedUpTo(tab, 'feed', 15)).toEqual(stream('feed', 15))
      expect(await tab.call('resets', 'feed')).toEqual([])
      if (stay) expect(await receivedUpTo(stay, 'feed', 15)).toEqual(stream('feed', 15))
    })

  /**
   * A cached page is not there for anyone: WebKit lets go of its lock, so the worker takes the tab for gone and its
   * presences leave. That takes a worker that runs: WebKit suspends a SharedWorker whose every page is cached (its
   * socket stays open, silent, until the server's idle timeout), so a profile's only page leaves only then
   * (docs/api.md, Presence). Here another page of the profile keeps the worker running.
   */
  it("a page's presence leaves while it sits in the cache, and joins again once it is back", async () => {
    const s = await e2e.scenario()
    const tab = await s.openTab()
    const sameProfile = await s.openTab()
    const other = await (await s.profile()).openTab()
    for (const t of [tab, sameProfile, other]) await waitForState(t, 'open')
    await tab.call('presenceJoin', 'room', { who: 'cached' })
    await other.call('presenceJoin', 'room', { who: 'other' })
    const states = (t: Tab, count: number) =>
      until(
        () => `${count} members`,
        () => t.call('presenceMembers', 'room'),
        (m) => m.length === count,
      ).then((m) => m.map(([, state]) => state))
    await states(other, 2)
    await tab.awayAndBack('about:blank', async () => {
      expect(await states(other, 1)).toEqual([{ who: 'other' }])
      expect((await s.server.presence('room')).map((m) => m.state)).toEqual([{ who: 'other' }])
    })
    expect(await tab.call('restoredFromCache')).toBe(1)
    expect(await states(other, 2)).toContainEqual({ who: 'cached' })
    expect(await states(tab, 2)).toContainEqual({ who: 'other' })
    expect((await s.server.presence('room')).length).toBe(2)
  })

  it("restored after the server closed its suspended worker's silent socket: it gets what it missed, once, and is present again", async () => {
    // WebKit suspends the worker of a profile whose every page is cached; its socket stays open and silent until the
    // server's idle timeout (short here, with pings often enough to keep a live worker's socket open).
    const s = await e2e.scenario({ server: { idleTimeout: 1_500, presenceGrace: 500 } })
    const tab = await s.openTab(undefined, { heartbeatInterval: '300' })
    await waitForState(tab, 'open')
    await tab.call('subscribe', 'feed', 0)
    await tab.call('presenceJoin', 'room', { who: 'cached' })
    for (let n = 1; n <= 3; n++) await s.server.publish('feed', { n })
    await receivedUpTo(tab, 'feed', 3)
    await tab.awayAndBack('about:blank', async () => {
      await until(
        'the member of the suspended worker gone',
        () => s.server.presence('room'),
        (m) => m.length === 0,
      )
      expect(s.server.connections()).toBe(0)
      for (let n = 4; n <= 6; n++) await s.server.publish('feed', { n })
    })
    expect(await tab.call('restoredFromCache')).toBe(1)
    for (let n = 7; n <= 9; n++) await s.server.publish('feed', { n })
    expect(await receivedUpTo(tab, 'feed', 9)).toEqual(stream('feed', 9))
    expect(await tab.call('resets', 'feed')).toEqual([])
    const back = await until(
      'the member back',
      () => s.server.presence('room'),
      (m) => m.length === 1,
    )
    expect(back.map((m) => m.state)).toEqual([{ who: 'cached' }])
    expect(s.server.connections()).toBe(1)
  })

  for (const [mode, others] of [
    ['shared', 0],
    ['shared', 1],
    ['dedicated', 1],
  ] as const)
    it(`sends made in pagehide as the page enters the cache, ${mode} workers, ${others} other tab${others ? '' : 's'} open: each stored once, in order, and resolved`, async () => {
      const s = await e2e.scenario()
      // In dedicated mode the page's worker leads, and is ended before these sends are made (tabwire's listener
      // comes first): they wait for the restored page's new worker.
      const tab = await s.openTab(undefined, { callTimeout: '100000', mode })
      const stay = others ? await s.openTab(undefined, { mode }) : undefined
      await waitForState(tab, 'open')
      if (stay) await waitForState(stay, 'open')
      expect(await tab.call('send', 'drafts', [{ n: 0 }])).toEqual([1])
      await tab.call('sendOnPagehide', 'drafts', [{ n: 1 }, { n: 2 }, { n: 3 }], 'hide')
      await tab.awayAndBack('about:blank')
      expect(await tab.call('restoredFromCache')).toBe(1)
      const done = await until(
        'the sends made in pagehide settled',
        async () => ({ ok: await tab.call('resolvedSends', 'hide'), failed: await tab.call('failedSends', 'hide') }),
        ({ ok, failed }) => ok.length + failed.length === 3,
      )
      expect(done).toEqual({ ok: [0, 1, 2], failed: [] })
      await tab.call('allAcked', 'drafts')
      expect((await s.server.store.read('drafts', 0, 10)).msgs.map((m) => m.body)).toEqual([
        { n: 0 },
        { n: 1 },
        { n: 2 },
        { n: 3 },
      ])
    })

  it("dedicated workers: the leader's page goes into the cache, another page's worker takes the socket over, streams on and sends", async () => {
    const s = await e2e.scenario({ proxy: true })
    // The first tab's worker is the first to ask for the owner lock: it leads.
    const leader = await s.openTab(undefined, { mode: 'dedicated' })
    await waitForState(leader, 'open')
    const other = await s.openTab(undefined, { mode: 'dedicated' })
    await waitForState(other, 'open')
    await other.call('subscribe', 'feed', 0)
    for (let n = 1; n <= 3; n++) await s.server.publish('feed', { n })
    await receivedUpTo(other, 'feed', 3)
    expect(s.proxy?.accepted()).toBe(1)
    await leader.awayAndBack('about:blank', async () => {
      for (let n = 4; n <= 6; n++) await s.server.publish('feed', { n })
      expect(await receivedUpTo(other, 'feed', 6)).toEqual(stream('feed', 6))
      expect(await other.call('send', 'chat', [{ n: 1 }])).toEqual([1])
      await other.call('allAcked', 'chat')
    })
    expect(await leader.call('restoredFromCache')).toBe(1)
    expect(await leader.call('send', 'chat', [{ n: 2 }])).toEqual([2])
    await leader.call('allAcked', 'chat')
    expect((await s.server.store.read('chat', 0, 10)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }])
    expect(await other.call('resets', 'feed')).toEqual([])
    expect(s.server.connections()).toBe(1)
  })

  for (const mode of ['shared', 'dedicated'])
    it(`away with send calls in flight, ${mode} worker: back, each is stored once, in order, and every send() resolves`, async () => {
      const s = await e2e.scenario()
      // Far beyond the test's waits: a call cut off by the restore is made again, never timed out. A dedicated worker
      // is ended as the page goes into the cache, mid-commit it may be.
      const tab = await s.openTab(undefined, { callTimeout: '100000', mode })
      await waitForState(tab, 'open')
      const COUNT = 400
      await tab.call('startSeries', 'chat', COUNT, 'bf', 'bf')
      await until(
        'sends under way',
        () => tab.call('sendsStarted'),
        (n) => n >= 40,
      )
      // Cached with calls posted and unanswered: WebKit lets go of the page's locks, so the worker takes the tab for
      // gone, and the restored page makes those calls again under the same tab id, after or before its next ones. Those
      // the worker had stored are answered from its record of them, not stored a second time.
      await tab.awayAndBack('about:blank')
      expect(await tab.call('restoredFromCache')).toBe(1)
      const cut = await tab.call('sendsStartedAtPagehide')
      expect(cut).toBeGreaterThanOrEqual(40)
      expect(cut).toBeLessThan(COUNT)
      const done = await until(
        `${COUNT} sends settled`,
        async () => ({ ok: await tab.call('resolvedSends', 'bf'), failed: await tab.call('failedSends', 'bf') }),
        ({ ok, failed }) => ok.length + failed.length === COUNT,
      )
      expect(done.failed).toEqual([])
      await tab.call('allAcked', 'chat')
      expect((await s.server.store.read('chat', 0, 1_000)).msgs.map((m) => m.body)).toEqual(bodies(COUNT, 'bf'))
    })
})

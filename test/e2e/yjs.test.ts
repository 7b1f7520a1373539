/**
 * `tabwire/yjs` in real browsers on a real server: two browser profiles edit one `Y.Doc` (profile A in two tabs,
 * B in one); B edits while the server is down and reloads before it is back, and its offline edit is in the
 * reloaded page at once (read back from the outbox). Both converge to the same text once the server returns, and the
 * server's log holds exactly one message per edit (no awareness, no echoes). Awareness is two users, not three tabs.
 * Then the server compacts the topic: a new profile resyncs from the snapshot after a `retention` reset.
 */
import { isDeepStrictEqual } from 'node:util'
import { describe, expect, it } from 'vitest'
import { compactDoc } from '../../src/yjs/compact.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

const DOC = 'doc:1'

function textIs(tab: Tab, text: string): Promise<string> {
  return until(
    () => `the text ${JSON.stringify(text)}${pageErrors(tab)}`,
    () => tab.call('yjsText', DOC),
    (t) => t === text,
  )
}

function awarenessIs(tab: Tab, states: unknown[]): Promise<unknown[]> {
  return until(
    () => `awareness ${JSON.stringify(states)}${pageErrors(tab)}`,
    () => tab.call('yjsAwareness', DOC),
    (s) => isDeepStrictEqual(s, states),
  )
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('two profiles converge to the same text across an offline reload; awareness is two users; a compaction resyncs a newcomer', async () => {
    const s = await e2e.scenario()
    const appended: number[] = []
    s.server.store.onAppend((m) => {
      if (m.topic === DOC) appended.push(m.seq)
    })
    const a1 = await s.openTab()
    const a2 = await s.openTab()
    const profileB = await s.profile()
    const b = await profileB.openTab()
    for (const t of [a1, a2, b]) {
      await waitForState(t, 'open')
      await t.call('yjsOpen', DOC)
    }

    // Awareness: A's two tabs are one presence member; each tab sees itself and the other profile.
    await a1.call('yjsSetAwareness', DOC, { user: 'Ann', tab: 1 })
    await a2.call('yjsSetAwareness', DOC, { user: 'Ann', tab: 2 })
    await b.call('yjsSetAwareness', DOC, { user: 'Bob' })
    await until(
      'A and B present',
      () => s.server.presence(DOC),
      (m) => m.length === 2,
    )
    await awarenessIs(b, [{ tab: 2, user: 'Ann' }, { user: 'Bob' }])
    await awarenessIs(a1, [{ tab: 1, user: 'Ann' }, { user: 'Bob' }])
    await awarenessIs(a2, [{ tab: 2, user: 'Ann' }, { user: 'Bob' }])
    expect((await s.server.presence(DOC)).length).toBe(2)

    // Online edits: one from each profile, every tab has both.
    await a1.call('yjsInsert', DOC, 0, 'Hello')
    await textIs(b, 'Hello')
    await b.call('yjsInsert', DOC, -1, ' world')
    for (const t of [a1, a2, b]) await textIs(t, 'Hello world')

    // Both edits acked before the server goes down, so what B's outbox holds after it is its offline edit alone.
    await until(
      'online edits acked',
      async () => [await a1.call('pending'), await b.call('pending')],
      (p) => p[0] === 0 && p[1] === 0,
    )

    // The server goes down. A edits at the start, B at the end, and B reloads before the server is back.
    await s.server.stop()
    for (const t of [a1, b]) await waitForState(t, 'reconnecting')
    await a1.call('yjsInsert', DOC, 0, '[A] ')
    await b.call('yjsInsert', DOC, -1, ' [B]')
    await until(
      'B to store its offline edit',
      () => b.call('pending'),
      (n) => n === 1,
    )
    await b.reload()
    expect(await b.call('state')).not.toBe('open')
    await b.call('yjsOpen', DOC)
    // With the server still down: the history from the worker's local log (kept in IndexedDB), the offline edit
    // from the outbox.
    await textIs(b, 'Hello world [B]')
    expect(await b.call('state')).not.toBe('open')
    expect(await a1.call('yjsText', DOC)).toBe('[A] Hello world')

    await s.server.start()
    for (const t of [a1, a2, b]) await textIs(t, '[A] Hello world [B]')

    // What crossed the wire: one log message per edit (2 online + 2 offline), no awareness, no echo sent back.
    await until(
      'outboxes drained',
      async () => [await a1.call('pending'), await b.call('pending')],
      (p) => p[0] === 0 && p[1] === 0,
    )
    expect(appended).toEqual([1, 2, 3, 4])
    // Each tab's own updates came back through the log and were skipped, not applied again.
    // The reloaded B had its offline edit from the outbox (and, when the worker's deferred prune of acked records had
    // not run before the reload, its acked online edit too: the new worker learns the ack only from the server). It
    // skipped exactly those when the log brought them, and applied the rest.
    const bStats = await b.call('yjsStats', DOC)
    expect(bStats.restored === 1 || bStats.restored === 2, `restored ${bStats.restored}`).toBe(true)
    expect(bStats).toMatchObject({ echoes: bStats.restored, applied: 4 - bStats.restored, resets: [], errors: [] })
    expect(await a1.call('yjsStats', DOC)).toMatchObject({ applied: 2, restored: 0, echoes: 2, errors: [] })

    // Awareness after the reload: still two users.
    await b.call('yjsSetAwareness', DOC, { user: 'Bob', back: true })
    await awarenessIs(a1, [
      { tab: 1, user: 'Ann' },
      { back: true, user: 'Bob' },
    ])
    await awarenessIs(b, [
      { tab: 2, user: 'Ann' },
      { back: true, user: 'Bob' },
    ])

    // Compaction: the 4 updates become one snapshot; a new profile starts after a retention reset and has the text.
    expect(await compactDoc(s.server, DOC)).toMatchObject({ through: 4 })
    const log = await s.server.store.read(DOC, 0, 100)
    expect([log.first, log.last, log.msgs.length]).toEqual([5, 5, 1])
    for (const t of [a1, a2, b]) await textIs(t, '[A] Hello world [B]')
    const c = await (await s.profile()).openTab()
    await waitForState(c, 'open')
    await c.call('yjsOpen', DOC)
    await textIs(c, '[A] Hello world [B]')
    expect(await c.call('yjsStats', DOC)).toMatchObject({ applied: 1, resets: ['retention'], errors: [] })
    await c.call('yjsInsert', DOC, -1, '!')
    for (const t of [a1, a2, b, c]) await textIs(t, '[A] Hello world [B]!')
    expect(appended).toEqual([1, 2, 3, 4, 5, 6])
    // The snapshot reached the live tabs as one more (idempotent) update: no reset for them.
    for (const t of [a1, b]) expect((await t.call('yjsStats', DOC)).resets).toEqual([])
  })
})

// A browser restart keeps IndexedDB only on a persistent profile, which the harness gives WebKit (see
// browser-restart.test.ts).
describe('webkit', () => {
  const e2e = useE2E('webkit')

  it('an edit made offline survives a browser restart: shown before the server is back, then delivered once', async () => {
    const s = await e2e.scenario({ profile: true })
    let tab = await s.openTab()
    await waitForState(tab, 'open')
    await tab.call('yjsOpen', DOC)
    await tab.call('yjsInsert', DOC, 0, 'online')
    await until(
      'the online edit acked',
      () => tab.call('pending'),
      (n) => n === 0,
    )
    await s.server.stop()
    await waitForState(tab, 'reconnecting')
    // 0, or 1 when WebKit restarted the worker meanwhile: a new worker counts an acked record not yet pruned until
    // the server tells it what was acked.
    const before = await tab.call('pending')
    await tab.call('yjsInsert', DOC, -1, ' offline')
    await until(
      'the offline edit stored',
      () => tab.call('pending'),
      (n) => n === before + 1,
    )

    await s.restartBrowser()
    tab = await s.openTab()
    await tab.call('yjsOpen', DOC)
    await textIs(tab, 'online offline')
    expect(await tab.call('state')).not.toBe('open')
    // The offline edit, and the acked online one too when the worker's deferred prune of acked records (1 s) had not
    // run before the browser closed: a new worker learns what was acked only from the server.
    const { restored } = await tab.call('yjsStats', DOC)
    expect(restored === 1 || restored === 2, `restored ${restored}`).toBe(true)

    await s.server.start()
    const other = await (await s.profile()).openTab()
    await other.call('yjsOpen', DOC)
    await textIs(other, 'online offline')
    const log = await s.server.store.read(DOC, 0, 100)
    expect(log.msgs.length).toBe(2)
    // Each of the 2 log messages handled once: the restored ones skipped as echoes, the rest applied.
    await until(
      'both log messages at the restarted tab',
      () => tab.call('yjsStats', DOC),
      (st) => st.echoes + st.applied === 2,
    )
    expect(await tab.call('yjsStats', DOC)).toMatchObject({
      echoes: restored,
      applied: 2 - restored,
      resets: [],
      errors: [],
    })
  })
})

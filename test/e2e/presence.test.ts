/**
 * Presence across browser profiles, real browsers and a real server: one member per profile however many tabs, a
 * reload that nobody sees, and a profile whose tabs all close leaving within the grace period plus a second.
 */
import { describe, expect, it } from 'vitest'
import type { Tab } from '../support/tab.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

const GRACE = 3_000

/** Waits until the tab's handle on `topic` shows exactly `count` members; returns them (client ids). */
function membersOf(tab: Tab, topic: string, count: number): Promise<[string, unknown][]> {
  return until(
    () => `${count} members on ${topic}${pageErrors(tab)}`,
    () => tab.call('presenceMembers', topic),
    (m) => m.length === count,
  )
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('two profiles with 3 tabs and 1 tab are 2 members; a reload is seen by nobody; closing a profile removes it within grace + 1 s', async () => {
    const s = await e2e.scenario({ server: { presenceGrace: GRACE } })
    const a = [await s.openTab(), await s.openTab(), await s.openTab()]
    const other = await s.profile()
    const b = await other.openTab()
    for (const t of [...a, b]) await waitForState(t, 'open')

    for (const [i, t] of a.entries()) await t.call('presenceJoin', 'room', { profile: 'A', tab: i })
    await b.call('presenceJoin', 'room', { profile: 'B' })
    for (const t of [...a, b]) await membersOf(t, 'room', 2)
    const members = await s.server.presence('room')
    expect(members.length).toBe(2)
    const [clientA, clientB] = [
      members.find((m) => (m.state as { profile: string }).profile === 'A'),
      members.find((m) => (m.state as { profile: string }).profile === 'B'),
    ]
    expect(clientA?.client).not.toBe(clientB?.client)
    // One member per profile: the last state any of A's tabs set.
    expect(clientA?.state).toEqual({ profile: 'A', tab: 2 })
    for (const t of [...a, b])
      expect((await t.call('presenceMembers', 'room')).map(([c]) => c).sort()).toEqual(
        [clientA?.client, clientB?.client].sort(),
      )

    // B's only tab reloads (its worker may die with it) and joins again: A's tabs see no leave and no join.
    const marks = await Promise.all(a.map((t) => t.call('presenceChanges', 'room').then((c) => c.length)))
    await b.reload()
    await waitForState(b, 'open')
    await b.call('presenceJoin', 'room', { profile: 'B' })
    await membersOf(b, 'room', 2)
    // Longer than the grace period: a leave the server had scheduled would have come by now.
    await new Promise((resolve) => setTimeout(resolve, GRACE + 1_000))
    for (const [i, t] of a.entries()) {
      const changes = (await t.call('presenceChanges', 'room')).slice(marks[i])
      expect(changes.filter((c) => c.left.length > 0 || c.joined.length > 0)).toEqual([])
    }
    expect((await s.server.presence('room')).length).toBe(2)

    // A's first tab leaves: A stays (two tabs still in), B sees nothing of it.
    const bMark = (await b.call('presenceChanges', 'room')).length
    await a[0]?.call('presenceLeave', 'room')
    expect((await s.server.presence('room')).length).toBe(2)
    // Then A's second tab sets a state: B's next change is that update, so the leave before it sent B nothing.
    await a[1]?.call('presenceUpdate', 'room', { profile: 'A', tab: 1 })
    const bChanges = await until(
      () => `the update at B${pageErrors(b)}`,
      () => b.call('presenceChanges', 'room'),
      (c) => c.length > bMark,
    )
    expect(bChanges.slice(bMark).map(({ at: _, ...c }) => c)).toEqual([
      {
        sync: false,
        members: [clientA?.client, clientB?.client].sort(),
        joined: [],
        left: [],
        updated: [clientA?.client],
      },
    ])

    // Every tab of B closes: A's tabs see B leave within the grace period plus a second.
    // Measured from when the browser says the profile is closed (Firefox takes a while to close a context).
    const closing = Date.now()
    await other.context.close()
    const closedAt = Date.now()
    for (const t of a.slice(1)) {
      const changes = await until(
        () => `B's leave${pageErrors(t)}`,
        () => t.call('presenceChanges', 'room'),
        (c) => c.some((x) => x.left.includes(clientB?.client as string)),
        { timeout: GRACE + 5_000 },
      )
      const leave = changes.find((x) => x.left.includes(clientB?.client as string))
      expect((leave?.at ?? Infinity) - closedAt, `closing took ${closedAt - closing} ms`).toBeLessThanOrEqual(
        GRACE + 1_000,
      )
      expect(leave?.members).toEqual([clientA?.client])
    }
    expect((await s.server.presence('room')).map((m) => m.client)).toEqual([clientA?.client])
  })
})

/**
 * `wire.outbox.cancel(id)` and `send(…, { ttl })` in real browsers, across tabs and a reload, with the server down
 * while they happen: a cancelled or expired message never reaches the server (its `validate` hook, which sees every
 * pub, is never asked about it, and its log never holds it), the rest arrives in order, and the ids after the gap are
 * accepted (the worker wrote `skip {id, why}` in its place).
 */
import { describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

const nOf = (body: Json): unknown => (typeof body === 'object' && body !== null && 'n' in body ? body.n : undefined)

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('cancel across a reload and from another tab: never reaches the server, the rest in order, sent ones refused', async () => {
    const judged: unknown[] = []
    const s = await e2e.scenario({ server: { validate: (_u, _t, body) => judged.push(nOf(body as Json)) > 0 } })
    await s.server.stop()
    const tab = await s.openTab()
    const ids = await tab.call('send', 'chat', [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
    await tab.reload()
    const other = await s.openTab()
    // From the other tab, for an id this tab sent before its reload.
    expect(await other.call('cancel', ids[1] as number)).toBe('ok')
    expect(await other.call('cancel', ids[1] as number)).toBe('ok')
    expect(await tab.call('cancel', 99)).toBe('invalid-argument')
    for (const t of [tab, other]) {
      expect(await t.call('status', ids[1] as number)).toEqual({ id: ids[1], state: 'cancelled' })
      expect((await t.call('list')).map((e) => e.id)).toEqual([ids[0], ids[2], ids[3]])
    }
    // Waiting before the server is back (the last calls into this tab until they settle: WebKit's driver runs one
    // script of a page at a time).
    const waiting = Promise.all(ids.map((id) => tab.call('whenAcked', id)))

    await s.server.start()
    expect(await waiting).toEqual(['acked', 'cancelled:', 'acked', 'acked'])
    expect((await s.server.store.read('chat', 0, 100)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 3 }, { n: 4 }])
    expect(judged).toEqual([1, 3, 4])
    // The server moved its counter past the gap: the next send is accepted under the next id.
    const [next] = await other.call('send', 'chat', [{ n: 5 }])
    expect(next).toBe((ids[3] as number) + 1)
    expect(await other.call('whenAcked', next as number)).toBe('acked')
    // Written (and acked) messages cannot be cancelled: what was sent is delivered.
    expect(await other.call('cancel', ids[0] as number)).toBe('already-sent')
    expect(await tab.call('dead')).toEqual([])
    expect(await tab.call('status', ids[1] as number)).toEqual({ id: ids[1], state: 'cancelled' })
    expect(pageErrors(tab) + pageErrors(other)).toBe('')
  })

  it('ttl expiry while offline: dropped and reported in every tab, never sent once the server is back', async () => {
    const judged: unknown[] = []
    const s = await e2e.scenario({ server: { validate: (_u, _t, body) => judged.push(nOf(body as Json)) > 0 } })
    const tab = await s.openTab()
    const other = await s.openTab()
    await waitForState(tab, 'open')
    await s.server.stop()
    await waitForState(tab, 'reconnecting')
    // Bad options store nothing.
    for (const bad of [{ ttl: -1 }, { ttl: Number.NaN }, { ttl: 10, expiresAt: Date.now() + 10_000 }])
      expect(await tab.call('sendWith', 'chat', { n: 0 }, bad)).toMatchObject({ ok: false, code: 'invalid-argument' })
    expect(await tab.call('pending')).toBe(0)

    const a = await tab.call('sendWith', 'chat', { n: 1 }, {})
    const b = await tab.call('sendWith', 'chat', { n: 2 }, { ttl: 1_500 })
    const c = await tab.call('sendWith', 'chat', { n: 3 }, { ttl: 10 * 60_000 })
    const [idA, idB, idC] = [a, b, c].map((r) => (r.ok ? r.value : Number.NaN))
    const listed = await other.call('list')
    expect(listed.map((e) => [e.id, e.expiresAt === undefined])).toEqual([
      [idA, true],
      [idB, false],
      [idC, false],
    ])
    for (const t of [tab, other])
      await until(
        () => `the expired event${pageErrors(t)}`,
        () => t.call('expired'),
        (seen) => seen.length === 1,
      )
    for (const t of [tab, other])
      expect(await t.call('expired')).toEqual([
        { id: idB, topic: 'chat', code: 'expired', expiresAt: listed[1]?.expiresAt },
      ])
    expect((await tab.call('list')).map((e) => e.id)).toEqual([idA, idC])
    expect(await other.call('whenAcked', idB as number)).toBe('expired:')

    await s.server.start()
    expect(await tab.call('ackOutcomes', 'chat')).toEqual(['acked', 'expired:', 'acked'])
    expect((await s.server.store.read('chat', 0, 100)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 3 }])
    expect(judged).toEqual([1, 3])
    expect(await tab.call('status', idB as number)).toEqual({ id: idB, state: 'expired' })
    expect(await tab.call('dead')).toEqual([])
    expect(pageErrors(tab) + pageErrors(other)).toBe('')
  })
})

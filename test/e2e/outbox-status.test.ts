/**
 * `wire.outbox.status(id)` and `whenAcked(id)` for ids from before a reload and from another tab: the send receipt
 * is no longer the only handle on a message.
 */
import { describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { pageErrors, useE2E } from '../support/e2e.ts'

const nOf = (body: Json): unknown => (typeof body === 'object' && body !== null && 'n' in body ? body.n : undefined)

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('status and whenAcked of ids sent before a reload, from this tab and another: queued, then acked or dead', async () => {
    const s = await e2e.scenario({
      server: { validate: (_user, _topic, body) => (nOf(body as Json) === 2 ? 'no twos' : true) },
    })
    await s.server.stop()
    const tab = await s.openTab()
    const ids = await tab.call('send', 'chat', [{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(ids).toEqual([1, 2, 3])
    await tab.reload()
    const other = await s.openTab()
    for (const t of [tab, other]) {
      expect(await Promise.all(ids.map((id) => t.call('status', id)))).toEqual(
        ids.map((id) => ({ id, state: 'queued' })),
      )
      expect(await t.call('status', 4)).toEqual({ id: 4, state: 'unknown' })
    }
    expect(await tab.call('whenAcked', 4)).toBe('invalid-argument:')

    // Waiting before the server is back: settled by the acks and the refusal as they come.
    const waiting = Promise.all(ids.map((id) => tab.call('whenAcked', id)))
    await s.server.start()
    expect(await waiting).toEqual(['acked', 'refused:invalid', 'acked'])
    for (const t of [tab, other]) {
      expect(await Promise.all(ids.map((id) => t.call('status', id)))).toEqual([
        { id: 1, state: 'acked' },
        { id: 2, state: 'dead', refusal: { id: 2, code: 'invalid', message: 'no twos' } },
        { id: 3, state: 'acked' },
      ])
    }
    // After another reload, from the disk alone.
    await other.reload()
    expect(await Promise.all(ids.map((id) => other.call('whenAcked', id)))).toEqual([
      'acked',
      'refused:invalid',
      'acked',
    ])
    expect(pageErrors(tab) + pageErrors(other)).toBe('')
  })
})

/**
 * A message the server refuses for good does not wedge the queue: it becomes a dead letter (`wire.outbox.dead()`,
 * its `acked` rejects with code `refused`), and everything queued behind it is delivered in order, on the same
 * connection, with the wire never `failed`.
 */
import { describe, expect, it } from 'vitest'
import type { Json } from '../../src/protocol/frames.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { bodies, pageErrors, useE2E, waitForState } from '../support/e2e.ts'
import { until } from '../support/wait.ts'

const nOf = (body: Json): unknown => (typeof body === 'object' && body !== null && 'n' in body ? body.n : undefined)

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('one refused message in the middle of 50 queued: 49 delivered in order, 1 dead, no failed', async () => {
    let judged25 = 0
    const s = await e2e.scenario({
      server: {
        validate: (_user, _topic, body) => {
          if (nOf(body as Json) !== 25) return true
          judged25++
          return 'number 25 is not allowed'
        },
      },
    })
    await s.server.stop()
    const tab = await s.openTab()
    const sent = bodies(50, s.namespace)
    const ids = await tab.call('send', 'chat', sent)
    expect(await tab.call('pending')).toBe(50)

    await s.server.start()
    const outcomes = await tab.call('ackOutcomes', 'chat')
    expect(outcomes.filter((o) => o === 'acked')).toHaveLength(49)
    expect(outcomes[24]).toBe('refused:invalid')

    const log = await s.server.store.read('chat', 0, 10_000)
    const delivered = sent.filter((b) => b.n !== 25)
    expect(log.msgs.map((m) => m.body)).toEqual(delivered)
    expect(log.msgs.map((m) => m.seq)).toEqual(delivered.map((_, i) => i + 1))
    const dead = await tab.call('dead')
    expect(dead).toEqual([
      {
        id: ids[24],
        topic: 'chat',
        bytes: JSON.stringify(sent[24]).length,
        queuedAt: expect.any(Number),
        deadAt: expect.any(Number),
        code: 'invalid',
        message: 'number 25 is not allowed',
      },
    ])
    // Refused once and never sent again: the queue went on past it rather than retrying it.
    expect(judged25).toBe(1)
    expect(await tab.call('pending')).toBe(0)
    expect(await tab.call('state')).toBe('open')
    expect(await tab.call('states')).not.toContain('failed')
    expect(pageErrors(tab)).toBe('')
  })

  it('a message alone larger than the server takes is skipped, not retried forever: dead with too-large', async () => {
    const s = await e2e.scenario({ server: { maxFrameBytes: 8 * 1024 } })
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await s.server.stop()
    await waitForState(tab, 'reconnecting')
    const big = 'x'.repeat(10_000)
    await tab.call('send', 'chat', [{ n: 1 }, { n: 2, big }, { n: 3 }])
    await s.server.start()
    expect(await tab.call('ackOutcomes', 'chat')).toEqual(['acked', 'refused:too-large', 'acked'])
    const log = await s.server.store.read('chat', 0, 100)
    expect(log.msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 3 }])
    expect((await tab.call('dead')).map((d) => [d.code, d.bytes])).toEqual([['too-large', 10_016]])
    // Skipped, never sent: no 4413 ever closed the connection.
    const closes = (await tab.call('stateInfos')).map((i) => i.error?.closeCode).filter((c) => c !== undefined)
    expect(closes).not.toContain(4413)
    await until(
      () => `the outbox to drain${pageErrors(tab)}`,
      () => tab.call('pending'),
      (n) => n === 0,
    )
  })
})

/**
 * A welcome's reconciliation, whose rare steps (renumbering, skipping ahead) load a chunk of their own: when that load
 * or the disk fails, nothing is written on that connection (its ids would be the ones the server does not expect),
 * the connection is closed to be retried, and the next welcome reconciles.
 */
import { describe, expect, it, vi } from 'vitest'
import { TabwireError } from '../../../src/protocol/errors.ts'
import type { WelcomeFrame } from '../../../src/protocol/frames.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import { outboxRenumberCode } from '../../../src/worker/features.ts'
import { OutboxStore, OutboxWriter } from '../../../src/worker/outbox-store.ts'
import { Resender, type ResendHost, type ResendSocket } from '../../../src/worker/resender.ts'
import { FakeClock, freshNamespace } from './fakes.ts'

const welcome = (acked: number): WelcomeFrame => ({ t: 'welcome', v: 1, acked })

async function setUp() {
  const outbox = await OutboxStore.load(new DbHandle(freshNamespace()), new FakeClock())
  const writer = new OutboxWriter(outbox, () => undefined)
  const events: string[] = []
  const socket: ResendSocket = {
    isOpen: true,
    send: (data) => {
      events.push(`send ${String(data)}`)
      return true
    },
    protocolError: (m) => events.push(`protocol error: ${m}`),
    retryLater: (m) => events.push(`retry later: ${m}`),
  }
  const host: ResendHost = {
    acked: (upTo) => events.push(`acked ${upTo}`),
    sent: (upTo) => events.push(`sent ${upTo}`),
    renumbered: (from, delta) => events.push(`renumbered ${from} ${delta}`),
    refused: () => events.push('refused'),
    dropped: () => events.push('dropped'),
    reconciled: () => events.push('reconciled'),
    log: () => undefined,
  }
  const resender = new Resender(outbox, socket, host)
  return { outbox, writer, events, resender }
}

describe('a welcome whose reconciliation fails', () => {
  it('a renumbering whose code cannot load writes nothing, closes to retry, and the next welcome renumbers', async () => {
    const { outbox, writer, events, resender } = await setUp()
    await writer.send([
      { topic: 't', body: '1' },
      { topic: 't', body: '2' },
      { topic: 't', body: '3' },
    ])
    outbox.ackFromServer(1)
    const load = vi
      .spyOn(outboxRenumberCode, 'load')
      .mockRejectedValueOnce(new TabwireError('load-failed', 'the outbox renumbering code could not be loaded'))
    try {
      // The server lost its counter (0): ids 2..3 must move to 1..2 before anything is written.
      await resender.opened(welcome(0))
      expect(events).toEqual([
        'retry later: the queue could not be reconciled with the server: TabwireError: the outbox renumbering code could not be loaded',
      ])
      events.length = 0
      await resender.opened(welcome(0))
      // The resend runs behind the welcome, from the renumbered queue.
      await expect.poll(() => events.length).toBe(4)
      expect(events).toEqual([
        'renumbered 2 1',
        'reconciled',
        'send [{"t":"pub","id":1,"topic":"t","body":2},{"t":"pub","id":2,"topic":"t","body":3}]',
        'sent 2',
      ])
      expect(load).toHaveBeenCalledTimes(2)
    } finally {
      load.mockRestore()
    }
  })

  it('a welcome that needs no renumbering never loads its code', async () => {
    const { outbox, writer, events, resender } = await setUp()
    await writer.send([
      { topic: 't', body: '1' },
      { topic: 't', body: '2' },
    ])
    outbox.ackFromServer(1)
    const load = vi.spyOn(outboxRenumberCode, 'load')
    try {
      await resender.opened(welcome(1))
      await expect.poll(() => events.length).toBe(3)
      expect(load).not.toHaveBeenCalled()
      expect(events).toEqual(['reconciled', 'send {"t":"pub","id":2,"topic":"t","body":2}', 'sent 2'])
    } finally {
      load.mockRestore()
    }
  })
})

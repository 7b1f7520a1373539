/**
 * Issue 14, a send across a worker restart: each `send` call of a tab is remembered under (tab, call number) in the
 * commit that stores it, so a tab whose worker died can make the call again on the next worker (`retry`) and have it
 * stored only if the dead worker had not. A second `OutboxStore` and `OutboxWriter` on the same database play the next
 * worker.
 */
import { describe, expect, it } from 'vitest'
import { DbHandle, type OutboxBatch } from '../../../src/worker/db.ts'
import { OutboxStore, OutboxWriter, renumberAfter, type TabCall } from '../../../src/worker/outbox-store.ts'
import { FakeClock, freshNamespace } from './fakes.ts'

const msg = (n: number | string) => ({ topic: 't', body: JSON.stringify(n) })
const call = (n: number, retry = false, settledBelow = n, tab = 'tab-a'): TabCall => ({ tab, n, settledBelow, retry })

async function open(namespace = freshNamespace(), clock = new FakeClock()) {
  const db = new DbHandle(namespace)
  const committed: OutboxBatch[] = []
  const outbox = await OutboxStore.load(db, clock)
  const writer = new OutboxWriter(outbox, (b) => committed.push(b))
  return { db, clock, outbox, writer, committed, namespace }
}

/** Every message stored, as [id, body], in id order. */
async function stored(db: DbHandle): Promise<[number, string][]> {
  const out: [number, string][] = []
  for (const b of await (await db.get()).getAll('outbox'))
    b.bodies.forEach((body, i) => {
      out.push([b.first + i, body as string])
    })
  return out
}

/** The remembered calls, as [tab, n, first, count]. */
async function calls(db: DbHandle): Promise<[string, number, number, number][]> {
  const meta = (await db.get()).transaction('meta').store
  const out: [string, number, number, number][] = []
  for (let c = await meta.openCursor(IDBKeyRange.bound(['send'], ['send', []])); c; c = await c.continue()) {
    const [, tab, n] = c.key as [string, string, number]
    const v = c.value as { first: number; count: number }
    out.push([tab, n, v.first, v.count])
  }
  return out
}

describe('send calls across a worker restart', () => {
  it('a retried call the dead worker stored is answered with its ids and stored no second time', async () => {
    const namespace = freshNamespace()
    const dead = await open(namespace)
    expect(await dead.writer.send([msg(1), msg(2)], call(1))).toEqual([1, 2])
    expect(await dead.writer.send([msg(3)], call(2, false, 1))).toEqual([3])
    const next = await open(namespace)
    expect(await next.writer.send([msg(3)], call(2, true, 2))).toEqual([3])
    expect(next.committed).toEqual([])
    expect(await stored(next.db)).toEqual([
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ])
    // The next call is stored after it, as usual.
    expect(await next.writer.send([msg(4)], call(3, false, 3))).toEqual([4])
    expect(next.outbox.counters.last).toBe(4)
  })

  it('a retried call the dead worker never stored is stored once, in call order with the calls after it', async () => {
    const namespace = freshNamespace()
    const dead = await open(namespace)
    await dead.writer.send([msg(1)], call(1))
    const next = await open(namespace)
    // One group: the retry of call 1 (stored), of call 2 (lost with the worker), and a new call 3.
    const answers = await Promise.all([
      next.writer.send([msg(1)], call(1, true, 1)),
      next.writer.send([msg(2), msg(3)], call(2, true, 1)),
      next.writer.send([msg(4)], call(3, false, 1)),
    ])
    expect(answers).toEqual([[1], [2, 3], [4]])
    expect((await stored(next.db)).map(([, body]) => body)).toEqual(['1', '2', '3', '4'])
    expect(next.committed.map((b) => [b.first, b.last])).toEqual([[2, 4]])
  })

  it('a call stays answerable after its messages were acked and pruned from the outbox', async () => {
    const namespace = freshNamespace()
    const dead = await open(namespace)
    await dead.writer.send([msg(1)], call(1))
    dead.outbox.ackFromServer(1)
    dead.clock.advance(1_000)
    await expect.poll(async () => (await stored(dead.db)).length).toBe(0)
    const next = await open(namespace)
    expect(await next.writer.send([msg(1)], call(1, true))).toEqual([1])
    expect(await stored(next.db)).toEqual([])
  })

  it('a call is forgotten once its tab settles it, and every call of a tab that is gone', async () => {
    const { outbox, writer, db, clock } = await open()
    await writer.send([msg(1)], call(1, false, 1))
    await writer.send([msg(2)], call(2, false, 1))
    await writer.send([msg(3)], call(1, false, 1, 'tab-b'))
    await writer.send([msg(4)], call(3, false, 2))
    // Settled calls are not deleted in the sends' commits, which stay a put or two, but a second later, together.
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 1, 1],
      ['tab-a', 2, 2, 1],
      ['tab-a', 3, 4, 1],
      ['tab-b', 1, 3, 1],
    ])
    // An ack meanwhile shares the timer, and the transaction: acked records and settled calls go together.
    outbox.ackFromServer(2)
    expect(clock.pending()).toEqual([1_000])
    clock.advance(1_000)
    await expect
      .poll(() => calls(db))
      .toEqual([
        ['tab-a', 2, 2, 1],
        ['tab-a', 3, 4, 1],
        ['tab-b', 1, 3, 1],
      ])
    expect((await stored(db)).map(([id]) => id)).toEqual([3, 4])
    expect(clock.pending()).toEqual([])
    // A retry of a call its tab has not settled is still answered, not stored again.
    expect(await writer.send([msg(4)], call(3, true, 2))).toEqual([4])
    expect(outbox.counters.last).toBe(4)
    await writer.forgetCalls('tab-a')
    expect(await calls(db)).toEqual([['tab-b', 1, 3, 1]])
  })

  it('the next worker drops calls older than an hour (a tab that died with its worker never settles them)', async () => {
    const namespace = freshNamespace()
    const clock = new FakeClock()
    const dead = await open(namespace, clock)
    await dead.writer.send([msg(1)], call(1))
    clock.advance(30 * 60_000)
    await dead.writer.send([msg(1)], call(1, false, 1, 'tab-b'))
    clock.advance(30 * 60_000 + 1)
    const next = await open(namespace, clock)
    expect(await calls(next.db)).toEqual([['tab-b', 1, 2, 1]])
  })

  it('renumbering the queue moves the remembered ids with it', async () => {
    const { outbox, writer, db } = await open()
    await writer.send([msg(1), msg(2)], call(1))
    await writer.send([msg(3)], call(2, false, 1))
    outbox.ackFromServer(1)
    expect(await renumberAfter(outbox, 0)).toEqual({ from: 2, delta: 1 })
    // Call 2 moved with the queue, and its retry answers with the new id (call 1 began in the acked part: it stays).
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 1, 2],
      ['tab-a', 2, 2, 1],
    ])
    expect(await writer.send([msg(3)], call(2, true))).toEqual([2])
  })
})

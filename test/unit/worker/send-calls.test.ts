/**
 * Issue 14, a send across a worker restart: each `send` call of a tab is remembered in the commit that stores it (in
 * the writer's one record for that tab), so a tab whose worker died can make the call again on the next worker
 * (`retry`) and have it stored only if the dead worker had not. A second `OutboxStore` and `OutboxWriter` on the same
 * database play the next worker.
 */
import { describe, expect, it } from 'vitest'
import { DbHandle, type OutboxBatch, type StoredCall, type StoredCallKey } from '../../../src/worker/db.ts'
import { OutboxStore, OutboxWriter, type TabCall } from '../../../src/worker/outbox-store.ts'
import { followRenumber, renumberAfter, skipTo } from '../../../src/worker/outbox-renumber.ts'
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

/** The call records: their keys, in key order. */
async function callKeys(db: DbHandle): Promise<StoredCallKey[]> {
  return (await (await db.get()).getAllKeys('meta', IDBKeyRange.bound(['send'], ['send', []]))) as StoredCallKey[]
}

/** The remembered calls, as [tab, n, first, count], by tab and call number. */
async function calls(db: DbHandle): Promise<[string, number, number, number][]> {
  const meta = (await db.get()).transaction('meta').store
  const out: [string, number, number, number][] = []
  for (let c = await meta.openCursor(IDBKeyRange.bound(['send'], ['send', []])); c; c = await c.continue()) {
    const [, tab, n] = c.key as StoredCallKey
    const v = c.value as StoredCall
    if (typeof n === 'number') out.push([tab, n, v.first, v.count])
    for (const [m, first, count] of v.calls ?? []) out.push([tab, m, first, count])
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1])
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

  it('a call is forgotten once its tab settles it, in its next commit; a gone tab leaves memory, its record stays', async () => {
    const { outbox, writer, db, clock } = await open()
    await writer.send([msg(1)], call(1, false, 1))
    await writer.send([msg(2)], call(2, false, 1))
    await writer.send([msg(3)], call(1, false, 1, 'tab-b'))
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 1, 1],
      ['tab-a', 2, 2, 1],
      ['tab-b', 1, 3, 1],
    ])
    // Call 3 says call 1 has its answer: the commit that stores call 3 rewrites tab-a's record without call 1.
    await writer.send([msg(4)], call(3, false, 2))
    expect(await calls(db)).toEqual([
      ['tab-a', 2, 2, 1],
      ['tab-a', 3, 4, 1],
      ['tab-b', 1, 3, 1],
    ])
    // One record per tab for this writer, whatever the number of calls: a commit adds no key and deletes none.
    expect((await callKeys(db)).map(([, tab]) => tab)).toEqual(['tab-a', 'tab-b'])
    // The ack's prune deletes acked messages only, a second later; the calls stay until their tabs settle them.
    outbox.ackFromServer(2)
    expect(clock.pending()).toEqual([1_000])
    clock.advance(1_000)
    await expect.poll(async () => (await stored(db)).map(([id]) => id)).toEqual([3, 4])
    expect(clock.pending()).toEqual([])
    // A retry of a call its tab has not settled is still answered, not stored again.
    expect(await writer.send([msg(4)], call(3, true, 2))).toEqual([4])
    expect(outbox.counters.last).toBe(4)
    // A tab that is gone leaves memory, but its record stays until it expires: a page restored from the
    // back/forward cache under the same tab id makes its unanswered calls again, and they are answered.
    await writer.forgetCalls('tab-a')
    expect(await calls(db)).toEqual([
      ['tab-a', 2, 2, 1],
      ['tab-a', 3, 4, 1],
      ['tab-b', 1, 3, 1],
    ])
    expect(await writer.send([msg(4)], call(3, true, 2))).toEqual([4])
    // Its next call reads that record back, less what the tab has settled (here, everything before it).
    await writer.send([msg(5)], call(4, false, 4))
    expect(await calls(db)).toEqual([
      ['tab-a', 4, 5, 1],
      ['tab-b', 1, 3, 1],
    ])
  })

  it('each worker keeps its own records: a later one never overwrites what a dead one stored', async () => {
    const namespace = freshNamespace()
    const first = await open(namespace)
    await first.writer.send([msg(1)], call(1))
    // The tab goes on with a second worker, which has not heard of call 1 (its retry may still come).
    const second = await open(namespace)
    await second.writer.send([msg(2)], call(2, false, 1))
    expect(await callKeys(second.db)).toHaveLength(2)
    const third = await open(namespace)
    expect(await third.writer.send([msg(1)], call(1, true, 1))).toEqual([1])
    expect(await third.writer.send([msg(2)], call(2, true, 1))).toEqual([2])
    expect(third.committed).toEqual([])
    // A retry whose message count differs from the stored call's is a different call: stored, not answered.
    expect(await third.writer.send([msg(2), msg(3)], call(2, true, 1))).toEqual([3, 4])
  })

  it('a retry finds a call stored by an earlier build, one record per call', async () => {
    const { db, namespace } = await open()
    const record: StoredCall = { first: 1, count: 2, at: new FakeClock().now() }
    const conn = await db.get()
    await conn.put('outbox', { first: 1, last: 2, topics: ['t', 't'], bodies: ['1', '2'], at: record.at })
    await conn.put('meta', 2, 'lastId')
    await conn.put('meta', record, ['send', 'tab-a', 7])
    const next = await open(namespace)
    expect(await next.writer.send([msg(1), msg(2)], call(7, true, 7))).toEqual([1, 2])
    expect(await stored(next.db)).toHaveLength(2)
    // Forgetting the tab keeps its record until it expires; a later forgetting, of any tab, deletes it then.
    await next.writer.forgetCalls('tab-a')
    expect(await callKeys(next.db)).toEqual([['send', 'tab-a', 7]])
    next.clock.advance(60 * 60_000 + 1)
    await next.writer.forgetCalls('tab-b')
    expect(await callKeys(next.db)).toEqual([])
  })

  it('a tab forgotten while its last call commits is not brought back into memory by that commit', async () => {
    const { outbox, writer, db } = await open()
    await writer.send([msg(1)], call(1, false, 1))
    const last = writer.send([msg(2)], call(2, false, 1))
    await writer.forgetCalls('tab-a')
    await last
    expect(outbox.remembered.has('tab-a')).toBe(false)
    // The commit that held call 2 landed after the forgetting and wrote its record again. The tab's next call (a page
    // restored under its id) keeps what it has not settled from that record on disk, and the settled calls leave.
    await writer.send([msg(3)], call(3, false, 1))
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 1, 1],
      ['tab-a', 2, 2, 1],
      ['tab-a', 3, 3, 1],
    ])
    await writer.send([msg(4)], call(4, false, 4))
    expect(await calls(db)).toEqual([['tab-a', 4, 4, 1]])
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
    // Call 2 moved with the queue, and its retry answers with the new id. Call 1 straddled the acked boundary: its
    // unacked message 2 is id 1 now, and its acked message 1 went to id 0, which the new numbering never reaches.
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 0, 2],
      ['tab-a', 2, 2, 1],
    ])
    expect(await stored(db)).toEqual([
      [1, '2'],
      [2, '3'],
    ])
    expect(await writer.send([msg(1), msg(2)], call(1, true))).toEqual([0, 1])
    expect(await writer.send([msg(3)], call(2, true))).toEqual([2])
    // And in memory: the next commit rewrites the tab's record with calls 1 and 2 at their new ids.
    expect(await writer.send([msg(4)], call(3, false, 1))).toEqual([3])
    expect(await calls(db)).toEqual([
      ['tab-a', 1, 0, 2],
      ['tab-a', 2, 2, 1],
      ['tab-a', 3, 3, 1],
    ])
  })

  /**
   * A follower's tab stores calls 1 (ids 1–2) and 2 (id 3); the owner, whose server acked id 1 and then lost its
   * counter, renumbers the queue from 2 down by 1. The follower has not heard of it yet.
   */
  async function followerBehindRenumbering() {
    const namespace = freshNamespace()
    const owner = await open(namespace)
    const follower = await open(namespace)
    await follower.writer.send([msg(1), msg(2)], call(1, false, 1, 'tab-f'))
    await follower.writer.send([msg(3)], call(2, false, 1, 'tab-f'))
    owner.outbox.ackFromServer(0)
    await owner.outbox.syncLast()
    owner.outbox.counters.ack(1)
    expect(await renumberAfter(owner.outbox, 0)).toEqual({ from: 2, delta: 1 })
    return { namespace, follower }
  }

  it("a follower's writer moves its remembered ids when it follows the owner's renumbering", async () => {
    const { follower } = await followerBehindRenumbering()
    await followRenumber(follower.outbox, 2, 1)
    expect(await follower.writer.send([msg(4)], call(3, false, 2, 'tab-f'))).toEqual([3])
    expect(await calls(follower.db)).toEqual([
      ['tab-f', 2, 2, 1],
      ['tab-f', 3, 3, 1],
    ])
  })

  it("a follower that commits before it hears of the owner's renumbering keeps the moved ids of its older calls", async () => {
    const { namespace, follower } = await followerBehindRenumbering()
    // The follower's commit finds the counter moved, redoes itself on the stored one, and must not write call 2's
    // old id (3) back over the one the owner moved it to (2).
    expect(await follower.writer.send([msg(4)], call(3, false, 2, 'tab-f'))).toEqual([3])
    const moved: [string, number, number, number][] = [
      ['tab-f', 2, 2, 1],
      ['tab-f', 3, 3, 1],
    ]
    expect(await calls(follower.db)).toEqual(moved)
    // Hearing of the renumbering afterwards moves nothing a second time, on disk or in memory.
    await followRenumber(follower.outbox, 2, 1)
    expect(await follower.writer.send([msg(5)], call(4, false, 2, 'tab-f'))).toEqual([4])
    expect(await calls(follower.db)).toEqual([...moved, ['tab-f', 4, 4, 1]])
    // A worker started after the follower died answers its retried call 2 with the moved id.
    const next = await open(namespace)
    expect(await next.writer.send([msg(3)], call(2, true, 2, 'tab-f'))).toEqual([2])
  })

  it('a record holds at most the newest 1,000 calls its tab has not settled', async () => {
    const { writer, db } = await open()
    await Promise.all(Array.from({ length: 1_001 }, (_, i) => writer.send([msg(i)], call(i + 1, false, 1))))
    const held = await calls(db)
    expect(held).toHaveLength(1_000)
    expect(held[0]).toEqual(['tab-a', 2, 2, 1])
    expect(held[999]).toEqual(['tab-a', 1_001, 1_001, 1])
  })

  it('a server ahead of the queue (skipTo) moves the remembered ids of the calls committed since, with the queue', async () => {
    const { outbox, writer, db } = await open()
    await writer.send([msg(1)], call(1))
    await writer.send([msg(2)], call(2, false, 1))
    // The server says 5 where this worker had compared 1: call 2, committed since, moves above 5.
    expect(await skipTo(outbox, 5, 1)).toEqual({ from: 2, delta: -4 })
    expect(await stored(db)).toEqual([
      [1, '1'],
      [6, '2'],
    ])
    expect(await writer.send([msg(2)], call(2, true, 1))).toEqual([6])
    expect(await writer.send([msg(3)], call(3, false, 2))).toEqual([7])
    expect(await calls(db)).toEqual([
      ['tab-a', 2, 6, 1],
      ['tab-a', 3, 7, 1],
    ])
  })
})

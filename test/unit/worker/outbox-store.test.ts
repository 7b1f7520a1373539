/**
 * The durable send queue on fake-indexeddb: ids, acks against the counters, renumbering after a server that lost its
 * counter, skipping past one that is ahead, and following what another worker of the namespace did to the disk.
 */
import { describe, expect, it, vi } from 'vitest'
import { DbHandle, type OutboxBatch } from '../../../src/worker/db.ts'
import { ackRelayed, behindQueue, OutboxStore, OutboxWriter } from '../../../src/worker/outbox-store.ts'
import { followRenumber, renumberAfter, skipTo } from '../../../src/worker/outbox-renumber.ts'
import { FakeClock, freshNamespace } from './fakes.ts'

const msg = (n: number) => ({ topic: 't', body: JSON.stringify(n) })

async function open(namespace = freshNamespace()) {
  const db = new DbHandle(namespace)
  const clock = new FakeClock()
  const committed: OutboxBatch[] = []
  const outbox = await OutboxStore.load(db, clock)
  const writer = new OutboxWriter(outbox, (b) => committed.push(b))
  return { db, clock, outbox, writer, committed, namespace }
}

/** Sends `n` messages one call each, in order: ids 1..n on a fresh queue. */
async function fill(writer: OutboxWriter, n: number): Promise<number[]> {
  const ids: number[] = []
  for (let i = 1; i <= n; i++) ids.push(...(await writer.send([msg(i)])))
  return ids
}

/** Two workers of one namespace: the owner stored 1..6 and its server acked 3, relayed to the follower. */
async function ownerAndFollower() {
  const namespace = freshNamespace()
  const owner = await open(namespace)
  const follower = await open(namespace)
  await fill(owner.writer, 6)
  owner.outbox.ackFromServer(3)
  await ackRelayed(follower.outbox, 3)
  return { owner, follower }
}

/** What is stored, as ids with their bodies. */
async function stored(db: DbHandle): Promise<[number, string][]> {
  const out: [number, string][] = []
  for (const b of await (await db.get()).getAll('outbox'))
    b.bodies.forEach((body, i) => {
      out.push([b.first + i, body as string])
    })
  return out
}

describe('OutboxStore', () => {
  it('sends in one task share a commit; ids follow in order across commits', async () => {
    const { outbox, writer, committed } = await open()
    const [a, b] = await Promise.all([writer.send([msg(1)]), writer.send([msg(2), msg(3)])])
    const c = await writer.send([msg(4)])
    expect([a, b, c]).toEqual([[1], [2, 3], [4]])
    // The first send's commit is in flight when the second arrives, so the second waits and commits alone.
    expect(committed.map((x) => [x.first, x.last])).toEqual([
      [1, 1],
      [2, 3],
      [4, 4],
    ])
    expect(outbox.counters.last).toBe(4)
    expect(outbox.counters.pending()).toBe(4)
  })

  it.each([
    { ack: 3, moved: true, acked: 3 },
    { ack: 5, moved: true, acked: 5 },
    { ack: 0, moved: false, acked: 0 },
    // Never beyond what was stored: the counter in memory would run ahead of the one on disk.
    { ack: 6, moved: false, acked: 0 },
  ])('ackFromServer($ack) on 5 stored: moved $moved, acked $acked', async ({ ack, moved, acked }) => {
    const { outbox, writer } = await open()
    await fill(writer, 5)
    expect(outbox.ackFromServer(ack)).toBe(moved)
    expect(outbox.counters.acked).toBe(acked)
    expect(outbox.counters.pending()).toBe(5 - acked)
  })

  it("a lone send's commit is three puts: the record (marked written when the owner writes it at once), the counter, the tab's calls", async () => {
    const { outbox, writer, db } = await open()
    const puts = vi.spyOn(IDBObjectStore.prototype, 'put')
    try {
      outbox.writesAtOnce = (first) => first === 2
      await writer.send([msg(1)], { tab: 'tab-a', n: 1, settledBelow: 1, retry: false })
      await writer.send([msg(2)], { tab: 'tab-a', n: 2, settledBelow: 2, retry: false })
      const written = (await (await db.get()).getAll('outbox')).map((b) => [b.first, b.written])
      expect(written).toEqual([
        [1, undefined],
        [2, true],
      ])
      // No `written` key: the record carries the mark, one request less in the strict commit.
      const keys = puts.mock.calls.map(([value, key]) =>
        key === undefined ? `outbox ${(value as OutboxBatch).last}` : JSON.stringify(key),
      )
      expect(keys).toEqual([
        'outbox 1',
        '"lastId"',
        '["send","tab-a","' + outbox.writerId + '"]',
        'outbox 2',
        '"lastId"',
        '["send","tab-a","' + outbox.writerId + '"]',
      ])
    } finally {
      puts.mockRestore()
    }
  })

  it('prunes acked records a second later, in one delete', async () => {
    const { outbox, writer, db, clock } = await open()
    await fill(writer, 4)
    outbox.ackFromServer(2)
    outbox.ackFromServer(3)
    expect((await stored(db)).map(([id]) => id)).toEqual([1, 2, 3, 4])
    clock.advance(1_000)
    await expect.poll(async () => (await stored(db)).map(([id]) => id)).toEqual([4])
  })

  it('an ack during a prune waits for the next pass, a second later, instead of a transaction right behind it', async () => {
    const { outbox, writer, db, clock } = await open()
    await fill(writer, 3)
    outbox.ackFromServer(1)
    clock.advance(1_000)
    // The pass has begun (it prunes up to 1); this ack comes while it runs.
    outbox.ackFromServer(2)
    await expect.poll(async () => (await stored(db)).map(([id]) => id)).toEqual([2, 3])
    expect(clock.pending()).toEqual([1_000])
    // Nothing more before that timer: a record acked meanwhile stays until the next pass.
    await new Promise((r) => setTimeout(r, 20))
    expect((await stored(db)).map(([id]) => id)).toEqual([2, 3])
    clock.advance(1_000)
    await expect.poll(async () => (await stored(db)).map(([id]) => id)).toEqual([3])
    expect(clock.pending()).toEqual([])
  })

  it('a relayed ack above this worker’s counter is checked against the stored one', async () => {
    const namespace = freshNamespace()
    const a = await open(namespace)
    const b = await open(namespace)
    await fill(a.writer, 3)
    // b has not heard of a's commits: the ack is believed once the disk shows them…
    expect(b.outbox.counters.last).toBe(0)
    expect(await ackRelayed(b.outbox, 2)).toBe(true)
    expect(b.outbox.counters.acked).toBe(2)
    // …and refused beyond anything ever stored.
    expect(await ackRelayed(b.outbox, 9)).toBe(false)
    expect(b.outbox.counters.acked).toBe(2)
  })

  it('two workers committing to one queue never hand out an id twice', async () => {
    const namespace = freshNamespace()
    const a = await open(namespace)
    const b = await open(namespace)
    const ids = (await Promise.all([fill(a.writer, 3), fill(b.writer, 3)])).flat()
    expect([...ids].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6])
    expect((await stored(a.db)).map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it.each([
    // Stored 1..6 with 1..3 acked: the server's counter names where the queue must start.
    { server: 3, moved: undefined, ids: [4, 5, 6] },
    { server: 5, moved: undefined, ids: [4, 5, 6] },
    { server: 0, moved: { from: 4, delta: 3 }, ids: [1, 2, 3] },
    { server: 1, moved: { from: 4, delta: 2 }, ids: [2, 3, 4] },
  ])('renumberAfter($server) with 4..6 unacked: $moved', async ({ server, moved, ids }) => {
    const { outbox, writer, db } = await open()
    await fill(writer, 6)
    outbox.ackFromServer(3)
    expect(await renumberAfter(outbox, server)).toEqual(moved)
    const left = await stored(db)
    // Acked records may still be on disk (pruning waits): only the unacked tail counts, renumbered, in order.
    expect(left.filter(([id]) => moved || id > 3).map(([id]) => id)).toEqual(ids)
    if (moved) {
      expect(left.map(([, body]) => body)).toEqual(['4', '5', '6'])
      expect(outbox.counters.last).toBe(server + 3)
      expect(outbox.counters.acked).toBe(server)
      // New sends continue after the renumbered queue.
      expect(await writer.send([msg(7)])).toEqual([server + 4])
    }
  })

  it('behindQueue, asked on every welcome, reads the head of the queue, not the queue', async () => {
    const { outbox, writer } = await open()
    await fill(writer, 50)
    outbox.ackFromServer(3)
    const getAll = vi.spyOn(IDBObjectStore.prototype, 'getAll')
    const cursors = vi.spyOn(IDBObjectStore.prototype, 'openCursor')
    try {
      // The server holds 3 or more (or ids past our queue: skipTo's case): nothing to move.
      expect(await behindQueue(outbox, 3)).toBe(false)
      expect(await behindQueue(outbox, 40)).toBe(false)
      // It lost its counter: the queue, starting at 4, must move.
      expect(await behindQueue(outbox, 2)).toBe(true)
      expect(await behindQueue(outbox, 0)).toBe(true)
      expect(getAll).not.toHaveBeenCalled()
      // One cursor per question: the record holding the first unacked id (4), the first keyed above 3, answers it.
      expect(cursors).toHaveBeenCalledTimes(4)
    } finally {
      getAll.mockRestore()
      cursors.mockRestore()
    }
  })

  it('behindQueue skips records wholly acked but not pruned yet, and sees a record acked halfway', async () => {
    const { outbox, writer } = await open()
    await writer.send([msg(1), msg(2)])
    await writer.send([msg(3), msg(4), msg(5)])
    outbox.ackFromServer(2)
    // Record 1..2 is acked and still on disk: the head is record 3..5, first unacked id 3.
    expect(await behindQueue(outbox, 2)).toBe(false)
    expect(await behindQueue(outbox, 1)).toBe(true)
    outbox.ackFromServer(3)
    // Record 3..5 is acked halfway: its unacked part starts at 4.
    expect(await behindQueue(outbox, 3)).toBe(false)
    expect(await behindQueue(outbox, 2)).toBe(true)
    outbox.ackFromServer(5)
    expect(await behindQueue(outbox, 0)).toBe(false)
    // A record of one message right after the acked counter is the head, not the record after it.
    await writer.send([msg(6)])
    await writer.send([msg(7), msg(8)])
    expect(await behindQueue(outbox, 5)).toBe(false)
    expect(await behindQueue(outbox, 4)).toBe(true)
  })

  it('renumbering keeps only the unacked part of a record acked halfway', async () => {
    const { outbox, writer, db } = await open()
    await writer.send([msg(1), msg(2), msg(3), msg(4)])
    outbox.ackFromServer(2)
    expect(await renumberAfter(outbox, 0)).toEqual({ from: 3, delta: 2 })
    expect(await stored(db)).toEqual([
      [1, '3'],
      [2, '4'],
    ])
  })

  it('skipTo moves the counter past a server that is ahead; the next send follows it', async () => {
    const { outbox, writer } = await open()
    await fill(writer, 2)
    expect(await skipTo(outbox, 10, 2)).toBeUndefined()
    expect(outbox.counters.last).toBe(10)
    expect(await writer.send([msg(3)])).toEqual([11])
  })

  it('skipTo never moves the stored counter backwards', async () => {
    const namespace = freshNamespace()
    const a = await open(namespace)
    const b = await open(namespace)
    await fill(a.writer, 5)
    expect(await skipTo(b.outbox, 3, 5)).toBeUndefined()
    expect(b.outbox.counters.last).toBe(5)
    expect(await b.writer.send([msg(6)])).toEqual([6])
  })

  it('a follower follows the owner’s renumbering, also where the stored counter went backwards', async () => {
    const { owner, follower } = await ownerAndFollower()
    const moved = await renumberAfter(owner.outbox, 0)
    expect(moved).toEqual({ from: 4, delta: 3 })
    await followRenumber(follower.outbox, 4, 3)
    expect([follower.outbox.counters.acked, follower.outbox.counters.last]).toEqual([0, 3])
    expect(await follower.writer.send([msg(7)])).toEqual([4])
  })

  it('a prune begun while a renumbering is under way never deletes the renumbered messages', async () => {
    const { outbox, writer, db } = await open()
    await fill(writer, 6)
    outbox.ackFromServer(3)
    // The server lost its counter: 4..6 become 1..3. A prune that bound itself to the old ack (3) and ran right
    // behind the renumbering would delete them.
    const renumbering = renumberAfter(outbox, 0)
    const prune = outbox.pruneNow()
    expect(await renumbering).toEqual({ from: 4, delta: 3 })
    await prune
    expect(await stored(db)).toEqual([
      [1, '4'],
      [2, '5'],
      [3, '6'],
    ])
    await outbox.pruneNow()
    expect((await stored(db)).map(([id]) => id)).toEqual([1, 2, 3])
  })

  it('a follower prunes no message by a relayed ack: its owner may have renumbered the queue under it', async () => {
    const { owner, follower } = await ownerAndFollower()
    // The owner renumbers (4..6 → 1..3); the follower has not heard of it yet when its prune runs.
    await renumberAfter(owner.outbox, 0)
    await follower.outbox.pruneNow()
    expect(await stored(follower.db)).toEqual([
      [1, '4'],
      [2, '5'],
      [3, '6'],
    ])
  })

  it('reloading reads the counter and the oldest unacked record back from disk', async () => {
    const namespace = freshNamespace()
    const first = await open(namespace)
    await fill(first.writer, 5)
    first.outbox.ackFromServer(2)
    first.clock.advance(1_000)
    await expect.poll(async () => (await stored(first.db)).length).toBe(3)
    const again = await open(namespace)
    expect(again.outbox.clientId).toBe(first.outbox.clientId)
    expect([again.outbox.counters.acked, again.outbox.counters.last]).toEqual([2, 5])
  })
})

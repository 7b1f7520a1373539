import { storageError, type CallEntry, type OutboxBatch } from './db.ts'
import {
  allCalls,
  isStoredCall,
  type OutboxStore,
  reloadRemembered,
  unackedPart,
  type WriteTx,
} from './outbox-store.ts'

/**
 * Moving the queue's ids: after a server that lost its counter (`renumberAfter`) or one that is ahead of it
 * (`skipTo`), and a follower's following of its owner's move. Rare steps, in a chunk of their own that the worker
 * loads when one is due (features.ts): every welcome asks `behindQueue` (outbox-store.ts) first, which reads the
 * queue's head alone.
 */

/**
 * Inside a renumbering's transaction: a remembered call answers a retry with its ids, so they move with the queue
 * (the caller moves this worker's memory of them once the transaction lands, `shiftRemembered`).
 */
async function moveCalls(tx: WriteTx, from: number, delta: number): Promise<void> {
  for (let c = await tx.objectStore('meta').openCursor(allCalls()); c; c = await c.continue()) {
    const v = c.value
    if (isStoredCall(v) && v.first >= from)
      await c.update({ ...v, first: v.first - delta, ...(v.calls && { calls: shiftCalls(v.calls, from, delta) }) })
  }
}

/** Calls whose ids are ≥ `from` now go by `id - delta`. */
function shiftCalls(calls: CallEntry[], from: number, delta: number): CallEntry[] {
  return calls.map(([n, first, count]) => [n, first >= from ? first - delta : first, count])
}

/** The queue was renumbered: the calls this worker's writer remembers move with it, as their records on disk did. */
function shiftRemembered(outbox: OutboxStore, from: number, delta: number): void {
  for (const [tab, calls] of outbox.remembered) outbox.remembered.set(tab, shiftCalls(calls, from, delta))
}

/**
 * The owner renumbered the queue (`renumberAfter`): ids ≥ `from` now go by `id - delta`, and what the server acked
 * is what came before the new first id. The stored counter went backwards with it; follow it. The renumbering moved
 * this worker's call records too: memory is read back from them.
 */
export async function followRenumber(outbox: OutboxStore, from: number, delta: number): Promise<void> {
  outbox.counters.renumbered(from - delta - 1)
  outbox.serverAckedDown(from - delta - 1)
  try {
    const stored = await (await outbox.db.get()).get('meta', 'lastId')
    if (typeof stored === 'number') outbox.counters.followDisk(stored)
    await reloadRemembered(outbox)
  } catch {
    // A disk that fails these reads fails the next commit too; that commit reads the counter and memory again.
  }
}

/**
 * The server claims more than this client ever committed (its counter for our client id is ahead: another
 * installation reused the id, or the server restored newer state). Resync by moving our ids past it, so new sends
 * are not swallowed as duplicates; queued ids ≤ `seen` count as delivered, as the server says.
 *
 * `seen` is the stored counter the caller compared with `acked`. Sends committed since (by any worker: tabs keep
 * sending while the owner reconciles) were never on any socket, so the server cannot hold them even where their ids
 * are ≤ `acked`: they move above `acked`, in the same transaction that moves the counter, and the shift is returned
 * like `renumberAfter`'s (a negative delta: ids ≥ `from` now go by `id - delta`).
 */
export async function skipTo(
  outbox: OutboxStore,
  acked: number,
  seen: number,
): Promise<{ from: number; delta: number } | undefined> {
  return outbox.renumbering(async () => {
    try {
      const tx = (await outbox.db.get()).transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
      const meta = tx.objectStore('meta')
      const store = tx.objectStore('outbox')
      const stored = await meta.get('lastId')
      const last = typeof stored === 'number' ? stored : 0
      if (last <= seen) {
        if (last < acked) await meta.put(acked, 'lastId')
        await tx.done
        // Only the counter moves here; the caller's ack of `acked` then settles every tab's waiting `acked` promises.
        outbox.counters.committed(Math.max(acked, last))
        return undefined
      }
      // Records are whole commits, and `seen` was a committed counter: no record straddles it.
      const late = await store.getAll(IDBKeyRange.lowerBound(seen, true))
      const delta = seen - acked
      await store.delete(IDBKeyRange.lowerBound(seen, true))
      for (const b of late) void store.put({ ...b, first: b.first - delta, last: b.last - delta })
      void meta.put(last - delta, 'lastId')
      await moveCalls(tx, seen + 1, delta)
      await tx.done
      shiftRemembered(outbox, seen + 1, delta)
      outbox.counters.followDisk(last - delta)
      return { from: seen + 1, delta }
    } catch (e) {
      throw storageError(e, 'cannot move the outbox counter')
    }
  })
}

/**
 * The server's counter is behind the oldest message we still hold (it lost state: a memory store restarted, a
 * backup was restored), so resending our ids would be refused as out of order forever. Renumber the queue to start
 * right after the server's counter, in one transaction, keeping the order. Returns the shift, or undefined when
 * nothing had to move.
 */
export async function renumberAfter(
  outbox: OutboxStore,
  acked: number,
): Promise<{ from: number; delta: number } | undefined> {
  return outbox.renumbering(async () => {
    try {
      const tx = (await outbox.db.get()).transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
      const store = tx.objectStore('outbox')
      // Records wholly acked may still be on disk (pruning is deferred); the queue starts after what was acked.
      const batches = (await store.getAll())
        .filter((b) => b.last > outbox.counters.acked)
        .map((b) => unackedPart(b, outbox.counters.acked))
      const oldest = batches[0]
      if (!oldest || oldest.first <= acked + 1) {
        await tx.done
        return undefined
      }
      const delta = oldest.first - (acked + 1)
      void store.clear()
      for (const b of batches) void store.put({ ...b, first: b.first - delta, last: b.last - delta })
      const last = (batches[batches.length - 1] as OutboxBatch).last - delta
      const meta = tx.objectStore('meta')
      void meta.put(last, 'lastId')
      const written = await meta.get('written')
      if (typeof written === 'number' && written >= oldest.first) void meta.put(written - delta, 'written')
      // Every call moves, also those that began in the acked part: a call straddling `oldest.first` keeps its
      // unacked messages' new ids, and the acked ids before them land at or below `acked` (0 or less, it may be), so
      // a retry of the call waits for nothing the new numbering gives to another message.
      await moveCalls(tx, Number.NEGATIVE_INFINITY, delta)
      await tx.done
      shiftRemembered(outbox, Number.NEGATIVE_INFINITY, delta)
      outbox.counters.followDisk(last)
      outbox.counters.renumbered(acked)
      outbox.serverAckedDown(acked)
      return { from: oldest.first, delta }
    } catch (e) {
      throw storageError(e, 'cannot renumber the outbox')
    }
  })
}

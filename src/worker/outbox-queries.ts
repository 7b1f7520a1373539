import { TabwireError } from '../protocol/errors.ts'
import type { Body } from '../protocol/frames.ts'
import {
  MAX_LIST_BODY_BYTES,
  type DeadLetter,
  type DropCode,
  type DroppedMessage,
  type OutboxEntry,
  type OutboxListOptions,
  type WorkerInspection,
} from '../protocol/port.ts'
import { storageError, type DroppedRecord, type OutboxBatch } from './db.ts'
import { droppedKey, sizeOf, unackedPart, type OutboxStore } from './outbox-store.ts'

/**
 * The outbox's answers to `wire.outbox` (list, status, cancel, dead letters) and `inspect()`: code the send path never
 * runs, in a chunk of its own that the worker loads on the first such call (see features.ts).
 */

/** Outbox records read per step of `list()`. */
const LIST_RECORDS = 16

/**
 * Where `id` stands on disk: `stored` (in the queue), `dead` (with its letter), `gone` (acked: only acked records
 * are ever deleted, after refused ones were buried) or `unknown` (beyond every id ever committed).
 */
export async function find(
  outbox: OutboxStore,
  id: number,
): Promise<{ kind: 'stored' | 'gone' | 'unknown' | DropCode } | { kind: 'dead'; letter: DeadLetter }> {
  try {
    const db = await outbox.db.get()
    const [dead, batch, dropped] = await Promise.all([
      db.get('dead', id),
      db.get('outbox', IDBKeyRange.lowerBound(id)),
      db.get('meta', droppedKey(id)),
    ])
    if (dead) {
      const { body: _body, ...letter } = dead
      return { kind: 'dead', letter }
    }
    if (dropped) return { kind: (dropped as DroppedRecord).code }
    if (batch && batch.first <= id && id > outbox.counters.acked) return { kind: 'stored' }
    if (id > (await outbox.syncLast())) return { kind: 'unknown' }
    return { kind: 'gone' }
  } catch (e) {
    throw storageError(e, 'cannot read the outbox')
  }
}

/** The dead letters, oldest first, at most `limit` (bodies are only measured). */
export async function dead(outbox: OutboxStore, limit: number): Promise<DeadLetter[]> {
  try {
    const records = await (await outbox.db.get()).getAll('dead', undefined, limit)
    return records.map(({ body: _body, ...letter }) => letter)
  } catch (e) {
    throw storageError(e, 'cannot read the dead letters')
  }
}

/** Committed batches holding ids after `after`, oldest first, `LIST_RECORDS` records at a time. */
async function batchesAfter(outbox: OutboxStore, after: number): Promise<OutboxBatch[]> {
  try {
    const db = await outbox.db.get()
    return await db.getAll('outbox', IDBKeyRange.lowerBound(after, true), LIST_RECORDS)
  } catch (e) {
    throw storageError(e, 'cannot read the outbox')
  }
}

/**
 * The unacked messages after `options.after`, oldest first, at most `limit`, read a few records at a time: bodies
 * are only measured unless `options.bodies`, and then the answer stops once `MAX_LIST_BODY_BYTES` of them are in.
 */
export async function list(
  outbox: OutboxStore,
  limit: number,
  { after = 0, topic: only, bodies }: OutboxListOptions = {},
): Promise<Omit<OutboxEntry, 'state'>[]> {
  const entries: Omit<OutboxEntry, 'state'>[] = []
  let room = MAX_LIST_BODY_BYTES
  after = Math.max(outbox.counters.acked, after)
  while (entries.length < limit && room > 0) {
    const batches = await batchesAfter(outbox, after)
    for (const b of batches) {
      const part = unackedPart(b, outbox.counters.acked)
      part.topics.forEach((topic, i) => {
        const id = part.first + i
        const stored = part.bodies[i] as string | Uint8Array
        if (id <= after || entries.length >= limit || room <= 0 || part.dropped?.[i] || (only ?? topic) !== topic)
          return
        const bytes = sizeOf(stored)
        const body = bodies ? { body: typeof stored === 'string' ? (JSON.parse(stored) as Body) : stored } : {}
        if (bodies) room -= bytes
        const expiresAt = part.expiresAt?.[i]
        entries.push({
          id,
          topic,
          bytes,
          ...(b.at === undefined ? {} : { queuedAt: b.at }),
          ...(expiresAt == null ? {} : { expiresAt }),
          ...body,
        })
      })
      after = b.last
    }
    if (batches.length < LIST_RECORDS) break
  }
  return entries
}

/**
 * Drops message `id` if it was never written to a socket: its body goes, its slot stays (the resend writes a
 * `skip` there, so the server's counter moves past it). One strict transaction; throws `already-sent` (written,
 * acked or refused: it is or will be delivered), `expired`, or `invalid-argument` (no message had this id).
 * Cancelling a cancelled message again answers as the first time.
 */
export async function cancel(outbox: OutboxStore, id: number): Promise<DroppedMessage | undefined> {
  let failure: TabwireError | undefined
  let dropped: DroppedMessage | undefined
  try {
    const tx = (await outbox.db.get()).transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
    const store = tx.objectStore('outbox')
    const meta = tx.objectStore('meta')
    const [batch, written, known, last] = await Promise.all([
      store.get(IDBKeyRange.lowerBound(id)),
      meta.get('written'),
      meta.get(droppedKey(id)),
      meta.get('lastId'),
    ])
    const i = batch ? id - batch.first : -1
    if (known) {
      if ((known as DroppedRecord).code === 'expired')
        failure = new TabwireError('expired', `message ${id} expired before it was sent`)
    } else if (typeof last !== 'number' || id > last)
      failure = new TabwireError('invalid-argument', `no message of this namespace has id ${id}`)
    else if (
      !batch ||
      i < 0 ||
      batch.written ||
      id <= outbox.counters.acked ||
      (typeof written === 'number' && id <= written)
    )
      failure = new TabwireError('already-sent', `message ${id} was written to the server already; it is delivered`)
    else {
      const at = outbox.clock.now()
      dropped = { id, topic: batch.topics[i] as string, code: 'cancelled' }
      batch.dropped ??= batch.topics.map(() => null)
      batch.dropped[i] = 'cancelled'
      batch.bodies[i] = ''
      void store.put(batch)
      void meta.put({ code: 'cancelled', at }, droppedKey(id))
    }
    await tx.done
  } catch (e) {
    throw storageError(e, 'cannot cancel the message')
  }
  if (failure) throw failure
  return dropped
}

/** Outbox records and dead letters `inspect()` reads at most. */
const INSPECT_READ = 10_000

/** The outbox part of `inspect()`. */
export async function inspectOutbox(outbox: OutboxStore, now: number): Promise<WorkerInspection['outbox']> {
  const [stored, letters] = await Promise.all([list(outbox, INSPECT_READ), dead(outbox, INSPECT_READ)])
  const count = outbox.counters.pending()
  const oldest = stored[0]?.queuedAt
  return {
    count,
    oldestAge: oldest === undefined ? null : Math.max(0, now - oldest),
    bytes: stored.reduce((sum, e) => sum + e.bytes, 0),
    complete: stored.length >= count,
    dead: letters.length,
    acked: outbox.counters.acked,
  }
}

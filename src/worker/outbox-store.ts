import type { IDBPObjectStore, IDBPTransaction, StoreNames } from 'idb'
import { TabwireError } from '../protocol/errors.ts'
import type { Refusal } from '../protocol/frames.ts'
import type { DeadLetter, DroppedMessage, OutgoingMessage, SendCall } from '../protocol/port.ts'
import {
  storageError,
  type CallEntry,
  type DeadRecord,
  type DroppedKey,
  type DroppedRecord,
  type OutboxBatch,
  type StoredCall,
  type StoredCallKey,
  type TabwireSchema,
} from './db.ts'
import { OutboxCounters } from './outbox-counters.ts'
import type { Clock, Database, TimerId } from './platform.ts'

/** A tab's `send` call, named by the tab's id and its call number (see `SendCall`). */
export interface TabCall extends SendCall {
  tab: string
}

interface Waiting {
  messages: OutgoingMessage[]
  call: TabCall | undefined
  resolve: (ids: number[]) => void
  reject: (e: unknown) => void
}

const utf8 = new TextEncoder()

/** The commit's transaction, which `#rememberCalls` writes into. */
export type WriteTx = IDBPTransaction<TabwireSchema, ['outbox', 'meta'], 'readwrite'>

/** How long after an ack its records are deleted; acks arriving meanwhile share the delete. */
const PRUNE_DELAY = 1_000

/**
 * How long a remembered call outlives a tab that never settled it: a tab settles its calls as their answers arrive, so
 * what is left is the unanswered calls of a tab that went (kept for a page restored from the back/forward cache) or
 * that died together with its worker.
 */
const CALL_RETENTION = 60 * 60_000

/**
 * Unsettled calls one tab's record holds at most; past it the oldest go (a retry of one of those would be stored a
 * second time). A tab settles a call as soon as its answer arrives, so only a tab making thousands of calls while one
 * commit runs comes near it; the record is rewritten whole in each commit, so it stays small.
 */
const MAX_REMEMBERED_CALLS = 1_000

/** Every remembered call: array keys sort after strings, so `['send', []]` is above every `['send', tab, n]`. */
export const allCalls = () => IDBKeyRange.bound(['send'], ['send', []])
/** All of a tab's remembered calls, old-style and per writer (`['send', tab]` sorts before each). */
const tabCalls = (tab: string) => IDBKeyRange.bound(['send', tab], ['send', tab, []], false, true)

/** How long `status(id)` still names a cancelled or expired message once its record is pruned. */
const DROPPED_RETENTION = 24 * 60 * 60_000
const allDropped = () => IDBKeyRange.bound(['dropped'], ['dropped', []])
export const droppedKey = (id: number): DroppedKey => ['dropped', id]

export function isStoredCall(v: unknown): v is StoredCall {
  return typeof v === 'object' && v !== null && typeof (v as StoredCall).first === 'number'
}

/**
 * The durable send queue as stored: where it stands, what to send next, acks, refusals and the deferred prune. Memory
 * holds only the counters; bodies live on disk until acked. Sends are committed by `OutboxWriter` (below), which a
 * drainer that only reads and settles the queue (the service worker's, `tabwire/sw`) leaves out.
 */
export class OutboxStore {
  #tidying = false
  #tidyTimer: TimerId | undefined
  /**
   * Per tab, the calls this worker's writer has stored and the tab has not settled, as its record on disk holds them:
   * here so that a renumbering moves them with the queue (`shiftRemembered`), or reads them back once another worker's
   * moved them on disk (`reloadRemembered`).
   */
  readonly remembered = new Map<string, CallEntry[]>()
  /** The id of that writer's records (`['send', tab, writerId]`); unset in a drainer that has no writer. */
  writerId: string | undefined
  /** Refused ids whose copy into the dead letters is under way: the prune of acked records stops below them. */
  readonly #burying = new Set<number>()
  /**
   * The highest id this worker's own server acked. Only those records are pruned: a follower's acks are relayed and
   * may be stale by a renumbering its owner committed (the records then under those ids are unacked ones).
   */
  #serverAcked = 0
  /** Renumbering transactions (`renumberAfter`, `skipTo`) under way, and begun in all: no prune runs behind one. */
  #renumbering = 0
  #renumberings = 0

  /**
   * Set by the owner's resend: whether a batch starting at `first`, once committed, goes straight to the socket
   * (its commit then marks it `written`, see `takeForSending`).
   */
  writesAtOnce: ((first: number) => boolean) | undefined

  /** The database and the clock also serve the writer and the outbox's queries (outbox-queries.ts, loaded on first use). */
  readonly db: Database
  readonly clock: Clock

  private constructor(
    db: Database,
    clock: Clock,
    readonly clientId: string,
    readonly counters: OutboxCounters,
  ) {
    this.db = db
    this.clock = clock
  }

  /** Reads the client id (creating it on first use) and where the queue stands. */
  static async load(db: Database, clock: Clock): Promise<OutboxStore> {
    try {
      const tx = (await db.get()).transaction(['meta', 'outbox'], 'readwrite')
      const meta = tx.objectStore('meta')
      const [client, lastId, oldest] = await Promise.all([
        meta.get('client'),
        meta.get('lastId'),
        tx.objectStore('outbox').openCursor(),
      ])
      let clientId = typeof client === 'string' ? client : undefined
      if (!clientId) {
        clientId = crypto.randomUUID()
        await meta.put(clientId, 'client')
      }
      await dropExpiredCalls(meta, clock.now())
      const forgotten = clock.now() - DROPPED_RETENTION
      for (let c = await meta.openCursor(allDropped()); c; c = await c.continue())
        if ((c.value as DroppedRecord).at < forgotten) await c.delete()
      await tx.done
      const last = typeof lastId === 'number' ? lastId : 0
      const counters = new OutboxCounters(last, oldest ? oldest.value.first - 1 : last)
      return new OutboxStore(db, clock, clientId, counters)
    } catch (e) {
      throw storageError(e, 'cannot read the outbox')
    }
  }

  /**
   * The server's cumulative ack (this worker owns the socket); returns whether it moved. The acked records are then
   * deleted in the background by key range: losing that delete to a crash only means a resend the server answers as
   * a duplicate.
   */
  ackFromServer(id: number): boolean {
    const moved = this.counters.ack(id)
    this.#serverAcked = Math.max(this.#serverAcked, Math.min(id, this.counters.acked))
    if (!moved) return false
    this.#tidyLater()
    return true
  }

  /** A renumbering moved what the server acked down to `acked` (`followRenumber`, `renumberAfter`): no prune past it. */
  serverAckedDown(acked: number): void {
    this.#serverAcked = Math.min(this.#serverAcked, acked)
  }

  /**
   * Runs a renumbering transaction (`skipTo`, `renumberAfter`): no prune starts while one runs, nor on a bound taken
   * before it.
   */
  async renumbering<T>(run: () => Promise<T>): Promise<T> {
    this.#renumbering++
    this.#renumberings++
    try {
      return await run()
    } finally {
      this.#renumbering--
    }
  }

  /**
   * Deferred and coalesced: a delete right after each ack would queue ahead of the next send's commit on the same
   * store and add a transaction to every send's latency.
   */
  #tidyLater(): void {
    this.#tidyTimer ??= this.clock.setTimeout(() => {
      this.#tidyTimer = undefined
      void this.#tidy()
    }, PRUNE_DELAY)
  }

  /**
   * Reads the stored counter: other workers of the namespace commit to the same outbox, and their `committed`
   * notices may not have arrived (or were sent while nobody owned the socket).
   */
  async syncLast(): Promise<number> {
    try {
      const stored = await (await this.db.get()).get('meta', 'lastId')
      if (typeof stored === 'number') this.counters.committed(stored)
      return this.counters.last
    } catch (e) {
      throw storageError(e, 'cannot read the outbox counter')
    }
  }

  /**
   * Deletes the acked records now instead of after the usual delay: for a drainer that ends right after its last ack
   * (a service worker's event, `tabwire/sw`), whose timer might never fire.
   */
  async pruneNow(): Promise<void> {
    this.dispose()
    await this.#tidy()
  }

  /** Stops background work (the deferred tidy), so nothing reopens a database that is being deleted. */
  dispose(): void {
    this.clock.clearTimeout(this.#tidyTimer)
    this.#tidyTimer = undefined
  }

  /**
   * Deletes the acked records, in one relaxed transaction: losing it to a crash only means a resend the server
   * answers as a duplicate. One pass per timer: what arrives meanwhile waits for the next, so steady traffic gets one
   * transaction a second, not one behind every ack.
   */
  async #tidy(): Promise<void> {
    if (this.#tidying) return
    this.#tidying = true
    const upTo = this.#prunable()
    const renumberings = this.#renumberings
    try {
      const db = await this.db.get()
      // A transaction begun behind a renumbering would run after it, deleting by ids it has just given to unacked
      // messages; one begun since the bound was taken may have lowered the ack: wait for the next pass.
      if (this.#renumbering > 0 || renumberings !== this.#renumberings) {
        this.#tidyLater()
        return
      }
      const tx = db.transaction('outbox', 'readwrite', { durability: 'relaxed' })
      await tx.store.delete(IDBKeyRange.upperBound(upTo))
      await tx.done
      if (upTo < this.#prunable()) this.#tidyLater()
    } catch {
      // Acked records are left for the next ack.
    } finally {
      this.#tidying = false
    }
  }

  /** Acked records may go up to here: acked by this worker's server, not a refused one still being buried. */
  #prunable(): number {
    let upTo = Math.min(this.counters.acked, this.#serverAcked)
    for (const id of this.#burying) upTo = Math.min(upTo, id - 1)
    return upTo
  }

  /**
   * Moves refused messages into the dead letters, in one strict transaction, before their ids count as done: until
   * it commits, the acked records holding them are not pruned. A refusal of an id no longer stored (pruned after
   * an earlier copy, or never ours) is skipped, and one already buried keeps its first record. Returns the letters
   * written now (without bodies), for the tabs.
   */
  async bury(refusals: readonly Refusal[]): Promise<DeadLetter[]> {
    for (const r of refusals) this.#burying.add(r.id)
    try {
      const tx = (await this.db.get()).transaction(['outbox', 'dead'], 'readwrite', { durability: 'strict' })
      const outbox = tx.objectStore('outbox')
      const dead = tx.objectStore('dead')
      const letters: DeadLetter[] = []
      const deadAt = this.clock.now()
      for (const r of refusals) {
        // Records are keyed by their last id: the first at or after `id` is the one that may hold it.
        const [batch, known] = await Promise.all([outbox.get(IDBKeyRange.lowerBound(r.id)), dead.get(r.id)])
        if (known || !batch || batch.first > r.id) continue
        const i = r.id - batch.first
        // Dropped here first: the server's answer to our `skip`, nothing to keep.
        if (batch.dropped?.[i]) continue
        const body = batch.bodies[i] as string | Uint8Array
        const letter: DeadLetter = {
          id: r.id,
          topic: batch.topics[i] as string,
          bytes: sizeOf(body),
          ...(batch.at === undefined ? {} : { queuedAt: batch.at }),
          deadAt,
          code: r.code,
          message: r.message,
        }
        const record: DeadRecord = { ...letter, body }
        void dead.put(record)
        letters.push(letter)
      }
      await tx.done
      return letters
    } catch (e) {
      throw storageError(e, 'cannot keep a refused message')
    } finally {
      for (const r of refusals) this.#burying.delete(r.id)
    }
  }

  /**
   * The owner's resend reads the batches after `after` to write them, in one transaction that also marks them
   * `written` (from then on they can no longer be cancelled or expire: `cancel` reads the mark in a transaction of its
   * own, which IndexedDB runs wholly before or after this one) and drops those whose expiry passed unwritten.
   */
  async takeForSending(after: number, limit: number): Promise<{ batches: OutboxBatch[]; expired: DroppedMessage[] }> {
    try {
      const tx = (await this.db.get()).transaction(['outbox', 'meta'], 'readwrite')
      const store = tx.objectStore('outbox')
      const meta = tx.objectStore('meta')
      const [batches, written] = await Promise.all([
        store.getAll(IDBKeyRange.lowerBound(after, true), limit),
        meta.get('written'),
      ])
      const mark = typeof written === 'number' ? written : 0
      const expired: DroppedMessage[] = []
      const now = this.clock.now()
      for (const b of batches) if (expire(b, Math.max(after, mark), now, expired)) void store.put(b)
      for (const m of expired) void meta.put({ code: 'expired', at: now }, droppedKey(m.id))
      const last = batches[batches.length - 1]?.last ?? 0
      if (last > mark) void meta.put(last, 'written')
      await tx.done
      return { batches, expired }
    } catch (e) {
      throw storageError(e, 'cannot read the outbox')
    }
  }
}

/**
 * The outbox's write path, a class apart from the store so that a drainer which only reads and settles the queue
 * (the service worker's, `tabwire/sw`) leaves it out. `send()` resolves only after its messages are committed with
 * `durability: 'strict'`: sends that arrive while a commit is in flight wait and share the next transaction (group
 * commit), so a burst costs one fsync, not one per message.
 *
 * In this module rather than a file of its own: the worker's bundle shares this module with the lazily loaded outbox
 * queries, so it sits in a chunk of its own, and the writer in that chunk, beside the store, costs the worker about 70 B
 * gz less than in the entry chunk (`npm run size`).
 */
export class OutboxWriter {
  #waiting: Waiting[] = []
  #committing = false
  readonly #outbox: OutboxStore
  readonly #onCommitted: (batch: OutboxBatch) => void
  /** Names this writer's call records: a later worker writes its own and never overwrites what this one stored. */
  readonly #id: string
  /**
   * Tabs forgotten while commits ran: a commit under way may hold one of their last calls, and must not bring their
   * calls back into memory. Emptied whenever the writer has nothing left to commit.
   */
  readonly #gone = new Set<string>()

  /** Ids are assigned only inside a commit, so a failed commit gives none away. */
  constructor(outbox: OutboxStore, onCommitted: (batch: OutboxBatch) => void) {
    this.#outbox = outbox
    this.#onCommitted = onCommitted
    this.#id = outbox.writerId = crypto.randomUUID()
  }

  /** Stores `messages`; with `call`, remembers the call, and a retried call that was stored is answered, not stored. */
  send(messages: OutgoingMessage[], call?: TabCall): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ messages, call, resolve, reject })
      void this.#commit()
    })
  }

  async #commit(): Promise<void> {
    if (this.#committing) return
    this.#committing = true
    try {
      while (this.#waiting.length > 0) {
        let group = this.#waiting
        this.#waiting = []
        let batch: OutboxBatch
        try {
          group = await this.#answerStored(group)
          if (group.length === 0) continue
          batch = await this.#write(group)
        } catch (e) {
          const err = storageError(e, 'send() was not stored')
          for (const w of group) w.reject(err)
          continue
        }
        this.#outbox.counters.committed(batch.last)
        let id = batch.first
        for (const w of group) w.resolve(w.messages.map(() => id++))
        this.#onCommitted(batch)
      }
    } finally {
      this.#committing = false
      this.#gone.clear()
    }
  }

  /**
   * Answers the retried calls of `group` that a worker which died had already stored, with their stored ids, and
   * returns the rest, in order. A readwrite transaction: it starts only after every transaction the dead worker had
   * begun on these stores has committed or aborted, so what it reads is final.
   */
  async #answerStored(group: Waiting[]): Promise<Waiting[]> {
    const retried = group.filter((w) => w.call?.retry)
    if (retried.length === 0) return group
    const tx = (await this.#outbox.db.get()).transaction(['meta', 'outbox'], 'readwrite')
    const meta = tx.objectStore('meta')
    // A tab's records: one per writer (with `calls`), or one per call from earlier builds (keyed by its number).
    const find = async ({ tab, n }: TabCall): Promise<CallEntry | undefined> => {
      for (let c = await meta.openCursor(tabCalls(tab)); c; c = await c.continue()) {
        const v = c.value
        const entry = isStoredCall(v) && (v.calls ?? [[c.key[2] as number, v.first, v.count]]).find(([m]) => m === n)
        if (entry) return entry
      }
    }
    const [stored, ...found] = await Promise.all([meta.get('lastId'), ...retried.map((w) => find(w.call as TabCall))])
    await tx.done
    if (typeof stored === 'number') this.#outbox.counters.committed(stored)
    const answered = new Set<Waiting>()
    retried.forEach((w, i) => {
      const entry = found[i]
      if (!entry || entry[2] !== w.messages.length) return
      const [, first, count] = entry
      w.resolve(Array.from({ length: count }, (_, k) => first + k))
      answered.add(w)
    })
    return group.filter((w) => !answered.has(w))
  }

  /**
   * Inside the commit's transaction: rewrites this writer's record of each tab with a call in `group`, holding the
   * calls its tab has not settled (a tab's `settledBelow` never goes down) and the new ones. Requests are issued
   * without awaiting, as the commit's own puts are. Resolves to the records written, for memory once the commit lands.
   *
   * A tab this writer holds nothing of in memory may still have a record of its own on disk: a page restored from the
   * back/forward cache (WebKit let go of its locks, so `forgetCalls` ran) comes back under the same tab id, and its
   * new calls can reach the worker before the calls it makes again. That record is read and kept in the new one, or
   * those calls would be stored a second time.
   */
  #rememberCalls(tx: WriteTx, group: Waiting[], first: number, at: number): Promise<Map<string, CallEntry[]>> {
    const lists = new Map<string, CallEntry[]>()
    const below = new Map<string, number>()
    let id = first
    for (const w of group) {
      const call = w.call
      if (call) {
        below.set(call.tab, call.settledBelow)
        const had = lists.get(call.tab) ?? this.#outbox.remembered.get(call.tab) ?? []
        const kept = had.filter(([n]) => n >= call.settledBelow)
        // `filter` copied: the list in memory stays as it is until this commit lands.
        if (kept.push([call.n, id, w.messages.length]) > MAX_REMEMBERED_CALLS) kept.shift()
        lists.set(call.tab, kept)
      }
      id += w.messages.length
    }
    const meta = tx.objectStore('meta')
    const records = [...lists].map(async ([tab, calls]) => {
      const key: StoredCallKey = ['send', tab, this.#id]
      if (!this.#outbox.remembered.has(tab)) {
        const old = await meta.get(key)
        const settled = below.get(tab) as number
        if (isStoredCall(old) && old.calls)
          lists.set(tab, (calls = [...old.calls.filter(([n]) => n >= settled), ...calls].slice(-MAX_REMEMBERED_CALLS)))
      }
      const [, newest, count] = calls[calls.length - 1] as CallEntry
      const record: StoredCall = { first: newest, count, at, calls }
      meta.put(record, key).catch(() => undefined)
    })
    return Promise.all(records).then(() => lists)
  }

  /**
   * A tab is gone: the calls it had not settled leave memory, and their record stays on disk for `CALL_RETENTION`.
   * A page restored from the back/forward cache keeps its tab id and makes its unanswered calls again (WebKit lets go
   * of a cached page's locks, which is how we hear of a tab's end): those must be answered, not stored twice. Records
   * past their retention, of any tab, go here, so they do not pile up in a worker that lives long.
   */
  async forgetCalls(tab: string): Promise<void> {
    this.#outbox.remembered.delete(tab)
    if (this.#committing) this.#gone.add(tab)
    try {
      const tx = (await this.#outbox.db.get()).transaction('meta', 'readwrite')
      await dropExpiredCalls(tx.store, this.#outbox.clock.now())
      await tx.done
    } catch {
      // Left for the retention sweep of the next tab to go, or of the next worker's start.
    }
  }

  /**
   * One strict transaction holding the messages of `group` and its calls. The ids follow the counter this worker
   * knows, and the stored counter is read in the same transaction before the puts run: when another worker (two
   * versions after a deploy, dedicated workers of several tabs) committed meanwhile, the transaction is aborted and
   * redone from the stored counter. So ids are never handed out twice, and the usual case costs no extra round trip
   * to IndexedDB before the write.
   */
  async #write(group: Waiting[]): Promise<OutboxBatch> {
    const messages = group.flatMap((w) => w.messages)
    const { counters } = this.#outbox
    const db = await this.#outbox.db.get()
    for (;;) {
      const tx = db.transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
      const meta = tx.objectStore('meta')
      const first = counters.last + 1
      const at = this.#outbox.clock.now()
      const batch: OutboxBatch = {
        first,
        last: first + messages.length - 1,
        topics: messages.map((m) => m.topic),
        bodies: messages.map((m) => m.body),
        at,
      }
      if (messages.some((m) => m.expiresAt !== undefined)) batch.expiresAt = messages.map((m) => m.expiresAt ?? null)
      // The owner writes this batch to its socket as soon as it is committed: from then on it can no longer be
      // cancelled. Marked in the record itself, so no cancel can come between (a mark that turns out too high only
      // refuses a cancel of a message that will be delivered anyway).
      if (this.#outbox.writesAtOnce?.(first)) batch.written = true
      // Issued in this order and without awaiting in between: the read runs first, and awaiting anything but these
      // requests would let the transaction commit.
      const check = meta.get('lastId')
      // Their failures surface through `tx.done`; caught here so a clash's abort leaves no unhandled rejection.
      tx.objectStore('outbox')
        .put(batch)
        .catch(() => undefined)
      meta.put(batch.last, 'lastId').catch(() => undefined)
      const calls = this.#rememberCalls(tx, group, first, at)
      // A clash aborts the transaction under the record's read: its failure is the abort's.
      calls.catch(() => undefined)
      const stored = await check
      if (stored === first - 1 || (stored === undefined && first === 1)) {
        await tx.done
        for (const [tab, list] of await calls) if (!this.#gone.has(tab)) this.#outbox.remembered.set(tab, list)
        return batch
      }
      tx.abort()
      await tx.done.catch(() => undefined)
      if (typeof stored !== 'number')
        throw new TabwireError('storage', 'the outbox counter is gone from IndexedDB (was site data cleared?)')
      // The disk is the truth, also when it is behind: the owner renumbered the queue after a server that lost its
      // counter. Redoing from a counter the disk does not hold would abort forever. That renumbering moved this
      // writer's records too, and the redo rewrites them from memory: read them back first.
      counters.followDisk(stored)
      await reloadRemembered(this.#outbox)
    }
  }
}

/** Deletes the call records older than `CALL_RETENTION` (and any that is not one), in `meta`'s transaction. */
async function dropExpiredCalls<S extends ArrayLike<StoreNames<TabwireSchema>>>(
  meta: IDBPObjectStore<TabwireSchema, S, 'meta', 'readwrite'>,
  now: number,
): Promise<void> {
  const expired = now - CALL_RETENTION
  for (let c = await meta.openCursor(allCalls()); c; c = await c.continue())
    if (!isStoredCall(c.value) || c.value.at < expired) await c.delete()
}

// The outbox's rarer steps, as functions rather than methods: a bundle that never calls them (the service worker's
// drain, `tabwire/sw`) leaves them out.

/**
 * Reads this worker's memory of its calls back from its records, which another worker moved with the queue (its
 * owner's renumbering): moving memory by the same shift instead could move it twice, as the writer may have read the
 * moved records already (`OutboxWriter`'s redo). A tab whose record is gone was forgotten.
 */
export async function reloadRemembered(outbox: OutboxStore): Promise<void> {
  const { remembered, writerId } = outbox
  const meta = (await outbox.db.get()).transaction('meta').store
  for (const tab of [...remembered.keys()]) {
    const record = await meta.get(['send', tab, writerId as string])
    // Forgotten meanwhile (`forgetCalls`): not brought back.
    if (!remembered.has(tab)) continue
    if (isStoredCall(record) && record.calls) remembered.set(tab, record.calls)
    else remembered.delete(tab)
  }
}

/**
 * An ack relayed by the namespace's owner. This worker may not have heard of other workers' latest commits yet, so
 * an ack above its counter is checked against the stored one; an ack beyond even that (an owner of an older
 * release that trusted a bad server) is refused. Returns whether it moved.
 */
export async function ackRelayed(outbox: OutboxStore, id: number): Promise<boolean> {
  if (id > outbox.counters.last) await outbox.syncLast().catch(() => undefined)
  return outbox.counters.ack(id)
}

/**
 * Whether the server's counter (`acked`, from its welcome) is behind the oldest unacked message we hold, so the queue
 * must be renumbered (outbox-renumber.ts, loaded then). Asked on every welcome, so it reads the queue's head alone,
 * not the queue (100,000 messages, say): records are keyed by their last id, so the first one above our own acked
 * counter is the one holding the first unacked id (records wholly acked may still be on disk: pruning is deferred).
 */
export async function behindQueue(outbox: OutboxStore, acked: number): Promise<boolean> {
  try {
    const store = (await outbox.db.get()).transaction('outbox').store
    const mine = outbox.counters.acked
    const head = (await store.openCursor(IDBKeyRange.lowerBound(mine, true)))?.value
    return head !== undefined && Math.max(head.first, mine + 1) > acked + 1
  } catch (e) {
    throw storageError(e, 'cannot read the outbox')
  }
}

/**
 * Drops every queued message whose expiry passed and that was never written (also while offline), in one
 * transaction; returns them and the next expiry still to come (Infinity for none).
 */
export async function dropExpired(outbox: OutboxStore): Promise<{ expired: DroppedMessage[]; next: number }> {
  try {
    const tx = (await outbox.db.get()).transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
    const meta = tx.objectStore('meta')
    const written = await meta.get('written')
    const above = Math.max(outbox.counters.acked, typeof written === 'number' ? written : 0)
    const now = outbox.clock.now()
    const expired: DroppedMessage[] = []
    let next = Number.POSITIVE_INFINITY
    let c = await tx.objectStore('outbox').openCursor(IDBKeyRange.lowerBound(above, true))
    for (; c; c = await c.continue()) {
      const b = c.value
      if (!b.expiresAt || b.written) continue
      if (expire(b, above, now, expired)) void c.update(b)
      b.expiresAt.forEach((at, i) => {
        if (at !== null && !b.dropped?.[i] && b.first + i > above) next = Math.min(next, at)
      })
    }
    for (const m of expired) void meta.put({ code: 'expired', at: now }, droppedKey(m.id))
    await tx.done
    return { expired, next }
  } catch (e) {
    throw storageError(e, 'cannot drop expired messages')
  }
}

/** The part of a record after `acked`: a batch acked halfway keeps only its tail. */
export function unackedPart(b: OutboxBatch, acked: number): OutboxBatch {
  if (b.first > acked) return b
  const skip = acked + 1 - b.first
  const part: OutboxBatch = { ...b, first: acked + 1, topics: b.topics.slice(skip), bodies: b.bodies.slice(skip) }
  if (b.expiresAt) part.expiresAt = b.expiresAt.slice(skip)
  if (b.dropped) part.dropped = b.dropped.slice(skip)
  return part
}

export function sizeOf(body: string | Uint8Array): number {
  return typeof body === 'string' ? utf8.encode(body).byteLength : body.byteLength
}

/**
 * Drops the messages of `b` with ids above `above` whose expiry is at or before `now` (emptying their bodies, in
 * place) and adds them to `out`; whether any was.
 */
function expire(b: OutboxBatch, above: number, now: number, out: DroppedMessage[]): boolean {
  let changed = false
  b.expiresAt?.forEach((at, i) => {
    const id = b.first + i
    if (at === null || at > now || id <= above || b.written || b.dropped?.[i]) return
    b.dropped ??= b.topics.map(() => null)
    b.dropped[i] = 'expired'
    b.bodies[i] = ''
    out.push({ id, topic: b.topics[i] as string, code: 'expired', expiresAt: at })
    changed = true
  })
  return changed
}

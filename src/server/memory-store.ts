import { randomUUID } from 'node:crypto'
import type { Body, CallTag, Refusal } from '../protocol/frames.ts'
import {
  EARLY_CALLS,
  type EarlyCall,
  KEPT_REFUSALS,
  ownBody,
  type RefuseOutcome,
  type PubInput,
  type PubOutcome,
  type ReadResult,
  type Retention,
  type Store,
  type StoredMessage,
  type TopicHead,
  type VoidOutcome,
} from './store.ts'
import { AppendListeners } from './append-listeners.ts'

/** Past this many trimmed slots at the front of a log's array, the array is compacted (amortised O(1) trim). */
const COMPACT_AFTER = 1024

/**
 * One topic's log. Trimming only advances `start`, so a retention limit costs O(1) per append instead of shifting
 * the whole array; the dead prefix is cut off now and then. The message at `msgs[start + i]` has seq `first + i`.
 */
interface Log {
  msgs: StoredMessage[]
  start: number
  first: number
  last: number
}

export interface MemoryStoreOptions {
  retention?: Retention
}

/**
 * A store that lives in this process only: for tests, demos and single-node servers that may lose history on
 * restart. Every instance draws a fresh random epoch, so cursors taken against an earlier process's logs are
 * answered with an `epoch` reset instead of being silently matched against new, unrelated seqs.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const { maxMessages = Infinity, maxAgeMs = Infinity } = options.retention ?? {}
  const epoch = randomUUID()
  const logs = new Map<string, Log>()
  /** Highest accepted pub id per (user, client); JSON keys keep any user or client string unambiguous. */
  const counters = new Map<string, number>()
  /** The latest refusals per (user, client), oldest first. */
  const refused = new Map<string, Refusal[]>()
  /** The early calls per (user, client), by id (see `EarlyCall`). */
  const early = new Map<string, EarlyCall[]>()
  const listeners = new AppendListeners()
  let closed = false

  const counterKey = (user: string, client: string) => JSON.stringify([user, client])

  function open(): void {
    if (closed) throw new Error('tabwire memory store is closed')
  }

  /** Drops what retention no longer allows, and every seq below `before` (but never the newest message). */
  function trim(log: Log, now: number, before = 0): void {
    const cutoff = now - maxAgeMs
    const keep = Math.min(before, log.last)
    while (log.first <= log.last) {
      const oldest = log.msgs[log.start]
      if (oldest === undefined) break
      if (log.first >= keep && log.last - log.first + 1 <= maxMessages && oldest.at >= cutoff) break
      log.start++
      log.first++
    }
    if (log.start > COMPACT_AFTER && log.start * 2 > log.msgs.length) {
      log.msgs = log.msgs.slice(log.start)
      log.start = 0
    }
  }

  /** The topic's log, trimmed to the retention limits as of now; `undefined` if nothing was ever appended. */
  function current(topic: string): Log | undefined {
    const log = logs.get(topic)
    if (log) trim(log, Date.now())
    return log
  }

  const headOf = (log: Log | undefined): TopicHead =>
    log ? { epoch, first: log.first, last: log.last } : { epoch, first: 1, last: 0 }

  /** Appends one message; the caller tells the listeners once the whole write is done. */
  function appendNow(topic: string, body: Body): StoredMessage {
    let log = logs.get(topic)
    if (!log) {
      log = { msgs: [], start: 0, first: 1, last: 0 }
      logs.set(topic, log)
    }
    // Bytes are copied: the log must not change when the caller reuses its buffer.
    const msg: StoredMessage = { topic, seq: log.last + 1, epoch, body: ownBody(body), at: Date.now() }
    log.msgs.push(msg)
    log.last = msg.seq
    trim(log, msg.at)
    return msg
  }

  /** A pub at `id` opening `call` was taken: the calls at or below its `stored` go, the newest `EARLY_CALLS` stay. */
  function keepCall(key: string, id: number, [tab, n, count, stored]: CallTag): void {
    const kept = (early.get(key) ?? []).filter((c) => c.id > stored)
    kept.push({ id, tab, n, count })
    early.set(key, kept.slice(-EARLY_CALLS))
  }

  /**
   * Tells every listener after the write, in seq order: the rule of every store. A throwing listener does not keep
   * the others from seeing the messages; the first error reaches the caller afterwards (the write stands).
   */
  function notify(msgs: readonly StoredMessage[]): void {
    const failure = listeners.emit(msgs)
    if (failure) throw failure.error
  }

  return {
    async accept(user: string, client: string, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
      open()
      const key = counterKey(user, client)
      const outcomes: PubOutcome[] = []
      for (const pub of pubs) {
        const acked = counters.get(key) ?? 0
        if (pub.id <= acked) {
          outcomes.push({ kind: 'duplicate' })
        } else if (pub.id === acked + 1) {
          counters.set(key, pub.id)
          if (pub.call) keepCall(key, pub.id, pub.call)
          outcomes.push({ kind: 'published', msg: appendNow(pub.topic, pub.body) })
        } else {
          outcomes.push({ kind: 'out-of-order', expected: acked + 1 })
          break
        }
      }
      notify(outcomes.flatMap((o) => (o.kind === 'published' ? [o.msg] : [])))
      return outcomes
    },

    async refuse(
      user: string,
      client: string,
      refusal: Refusal,
      _topic?: string,
      call?: CallTag,
    ): Promise<RefuseOutcome> {
      open()
      const key = counterKey(user, client)
      const acked = counters.get(key) ?? 0
      if (refusal.id <= acked) return { kind: 'duplicate' }
      if (refusal.id !== acked + 1) return { kind: 'out-of-order', expected: acked + 1 }
      counters.set(key, refusal.id)
      if (call) keepCall(key, refusal.id, call)
      const kept = refused.get(key) ?? []
      kept.push({ ...refusal })
      if (kept.length > KEPT_REFUSALS) kept.splice(0, kept.length - KEPT_REFUSALS)
      refused.set(key, kept)
      return { kind: 'refused' }
    },

    async void(user: string, client: string, from: number, to: number): Promise<VoidOutcome> {
      open()
      const key = counterKey(user, client)
      const was = counters.get(key) ?? 0
      if (was < from - 1) return { kind: 'out-of-order', expected: was + 1 }
      if (to > was) counters.set(key, to)
      const calls = (early.get(key) ?? []).filter((c) => c.id >= from && c.id <= to).map((c) => ({ ...c }))
      return { kind: 'voided', was, calls }
    },

    async refusals(user: string, client: string): Promise<Refusal[]> {
      open()
      return (refused.get(counterKey(user, client)) ?? []).map((r) => ({ ...r }))
    },

    async append(topic: string, body: Body): Promise<StoredMessage> {
      open()
      const msg = appendNow(topic, body)
      notify([msg])
      return msg
    },

    async acked(user: string, client: string): Promise<number> {
      open()
      return counters.get(counterKey(user, client)) ?? 0
    },

    async read(topic: string, after: number, limit: number): Promise<ReadResult> {
      open()
      const log = current(topic)
      const head = headOf(log)
      if (!log) return { ...head, msgs: [] }
      const from = Math.max(after + 1, log.first)
      const to = Math.min(log.last, from + limit - 1)
      const base = log.start - log.first
      return { ...head, msgs: from > to ? [] : log.msgs.slice(base + from, base + to + 1) }
    },

    async head(topic: string): Promise<TopicHead> {
      open()
      return headOf(current(topic))
    },

    async trim(topic: string, before: number): Promise<TopicHead> {
      open()
      const log = logs.get(topic)
      if (log) trim(log, Date.now(), before)
      return headOf(log)
    },

    onAppend(listener: (msg: StoredMessage) => void): () => void {
      return listeners.add(listener)
    },

    async close(): Promise<void> {
      closed = true
      listeners.clear()
    },
  }
}

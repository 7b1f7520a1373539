import type {
  Cursor,
  Epoch,
  FetchFrame,
  MsgFrame,
  RangeFrame,
  RangeMsg,
  ResetFrame,
  SubFrame,
  UnsubFrame,
} from '../protocol/frames.ts'
import type { Delivery, ResetNotice, SubscribeMode } from '../protocol/port.ts'
import { TabwireError } from '../protocol/errors.ts'
import type { IDBPTransaction } from 'idb'
import { usableRange } from './catch-up-range.ts'
import { cursorsThatFit } from './frame-room.ts'
import { storageError, type InboxBatch, type StoredCursor, type TabwireSchema } from './db.ts'
import type { Database } from './platform.ts'

type InboxTx = IDBPTransaction<TabwireSchema, ['inbox', 'cursors'], 'readwrite'>

/** Where a tab's subscription sends what it receives. Fire-and-forget: a dead tab must not stall a topic. */
export interface SubTarget {
  /** For a `deliver: 'one-tab'` subscription, settles once the tab handled them (see `OneTabGroup`). */
  messages(msgs: Delivery[]): unknown
  reset(notice: ResetNotice): void
  /** Whether the subscriber's tab is shown: `deliver: 'one-tab'` prefers those. */
  shown?(): boolean
}

/** One tab subscription to a topic. `delivered` is the last seq handed to the tab. */
export interface TopicSub {
  readonly topic: string
  readonly target: SubTarget
  delivered: number
  /** False until the tab has caught up to the worker's cursor; only live subs get messages as they arrive. */
  live: boolean
  /** Only the newest message matters to it (`conflate`): a jump to the newest is no loss, and needs no reset. */
  conflate: boolean
  /** Waits for the server's `reset {reason: 'latest'}` to learn where the newest message is; nothing before it. */
  waiting: boolean
}

interface TopicState {
  /** Last contiguous seq the worker has taken in (and stored), under which epoch; undefined: never subscribed. */
  cursor: StoredCursor | undefined
  subs: Set<TopicSub>
  /**
   * Every change to the topic runs on this chain, one at a time: arriving batches, resets and a new tab's catch-up
   * never interleave, which is what makes "every seq once, in order" hold per tab without locks.
   */
  chain: Promise<void>
  /** A gap or stray epoch made us resubscribe; drop everything until the seq after the cursor (or a reset). */
  resyncing: boolean
  /** The newest seq the server has shown for the topic (a `msg` or `reset`), for `inspect()`'s lag. */
  head?: number
}

/** What the inbox needs from the session: the socket, and whether it is open right now. */
export interface InboxHost {
  /**
   * Sends one control frame on the open connection (a `sub` or `unsub` at the end of the task, with the task's
   * others); false when not open (a `hello` will carry the cursor).
   */
  sendFrame(frame: SubFrame | UnsubFrame | FetchFrame): boolean
  /** Sends subscription changes on the open connection, in order, in as few messages as the server takes. */
  sendFrames(frames: (SubFrame | UnsubFrame)[]): void
  whenOpen(): Promise<void>
  log(message: string, level?: 'warn' | 'error'): void
}

interface PendingFetch {
  topic: string
  /** The most messages its `range` frames may hold together: the fetch's `limit`. */
  limit: number
  msgs: RangeMsg[]
  resolve: (msgs: RangeMsg[]) => void
  reject: (e: unknown) => void
}

/** A message as the inbox hands it around: seq and body (the topic is known from context). */
interface Received {
  seq: number
  body: Delivery['body']
}

const FETCH_LIMIT = 500
/** Batch records read per step of a catch-up from the local log. */
const LOCAL_READ = 64

/**
 * Inbound side of a namespace: one server subscription per topic however many tabs follow it, a cursor per topic
 * stored together with a bounded local log of recent messages (so a new tab replays without the server), and a
 * delivery cursor per tab subscription so each tab gets every seq once and in order.
 */
export class Inbox {
  #topics = new Map<string, TopicState>()
  #fetches = new Map<number, PendingFetch>()
  #nextReq = 1
  /** The topics the current connection's `hello` subscribed. */
  #inHello = new Set<string>()
  /** Runs while fetches are pending; restarted by every `range` (see `fetchTimeout`). */
  #fetchTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * `fetchTimeout`: how long the fetches in flight may go without any `range` before they are given up. A catch-up
   * holds its topic's chain, so an unanswered fetch would otherwise stall that topic for every tab until the socket
   * drops. The server answers fetches one after another, so the clock measures the whole pipeline's progress.
   */
  readonly #db: Database
  readonly #host: InboxHost
  readonly #retention: number
  readonly #fetchTimeout: number

  private constructor(db: Database, host: InboxHost, retention: number, fetchTimeout: number) {
    this.#db = db
    this.#host = host
    this.#retention = retention
    this.#fetchTimeout = fetchTimeout
  }

  static async load(db: Database, host: InboxHost, retention: number, fetchTimeout: number): Promise<Inbox> {
    const inbox = new Inbox(db, host, retention, fetchTimeout)
    try {
      for (const c of await (await db.get()).getAll('cursors')) inbox.#state(c.topic).cursor = c
    } catch (e) {
      throw storageError(e, 'cannot read cursors')
    }
    return inbox
  }

  /**
   * Resume points of the followed topics for `hello`, as many as fit in `room` bytes (see `cursorsThatFit`).
   * Remembered: what the `hello` left out, or a subscribe or unsubscribe between it and its `welcome`, cannot go out
   * on its own (the socket is not open yet), so `opened()` makes up the difference.
   */
  activeCursors(room = Number.POSITIVE_INFINITY): Cursor[] {
    const all: Cursor[] = []
    for (const [topic, st] of this.#topics) if (st.subs.size > 0) all.push(this.#cursorFrame(topic, st))
    const subs = all.slice(0, cursorsThatFit(all, room))
    this.#inHello = new Set(subs.map((c) => c.topic))
    return subs
  }

  /**
   * `welcome` arrived: subscribe what the `hello` left out or what was followed after it was written, unsubscribe
   * what was dropped; all in one go, which the host packs into as few messages as the server takes.
   */
  opened(): void {
    const inHello = this.#inHello
    this.#inHello = new Set()
    const frames: (SubFrame | UnsubFrame)[] = []
    for (const [topic, st] of this.#topics) {
      if (st.subs.size > 0 && !inHello.has(topic)) frames.push({ t: 'sub', ...this.#cursorFrame(topic, st) })
      else if (st.subs.size === 0 && inHello.has(topic)) frames.push({ t: 'unsub', topic })
    }
    if (frames.length > 0) this.#host.sendFrames(frames)
  }

  /** Last seq per followed topic. */
  cursors(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [topic, st] of this.#topics) if (st.subs.size > 0) out[topic] = st.cursor?.seq ?? 0
    return out
  }

  /** Per followed topic: the cursor, the newest seq the server has shown, and the difference. */
  topics(): Record<string, { seq: number; head: number | null; lag: number | null }> {
    const out: Record<string, { seq: number; head: number | null; lag: number | null }> = {}
    for (const [topic, st] of this.#topics) {
      if (st.subs.size === 0) continue
      const seq = st.cursor?.seq ?? 0
      const head = st.head ?? null
      out[topic] = { seq, head, lag: head === null ? null : Math.max(0, head - seq) }
    }
    return out
  }

  /**
   * Adds a tab subscription; it first catches up from the local log (and the server for anything older). With
   * `latest`, it starts at the newest message: the server says where that is when nobody follows the topic yet (the
   * worker's cursor may be old), else it is the worker's own newest. A first subscription that conflates asks the
   * server the same, so it skips the backlog instead of being handed its newest stale message first.
   */
  subscribe(topic: string, after: number, target: SubTarget, mode: SubscribeMode = {}): TopicSub {
    const st = this.#state(topic)
    const first = st.subs.size === 0
    const waiting =
      (mode.latest === true || (mode.conflate === true && first)) && (first || [...st.subs].some((s) => s.waiting))
    const fromLog = mode.latest === true && !waiting
    const start = mode.latest ? 0 : after
    const sub: TopicSub = { topic, target, delivered: start, live: false, conflate: mode.conflate === true, waiting }
    st.subs.add(sub)
    if (first) {
      st.cursor ??= { topic, seq: after }
      st.resyncing = false
      this.#host.sendFrame({ t: 'sub', ...this.#cursorFrame(topic, st) })
    }
    this.#run(st, async () => {
      // The newest is read on the chain, after the batches that arrived before this call are taken in: otherwise a
      // batch still being stored would make the tab's "newest" one of several.
      if (fromLog) sub.delivered = Math.max(0, (st.cursor?.seq ?? 0) - 1)
      else if (mode.latest && waiting) await this.#paintHeld(st, sub)
      return this.#catchUp(st, sub)
    })
    return sub
  }

  unsubscribe(sub: TopicSub): void {
    const st = this.#topics.get(sub.topic)
    if (!st?.subs.delete(sub)) return
    if (st.subs.size === 0) this.#host.sendFrame({ t: 'unsub', topic: sub.topic })
  }

  /** Messages of one topic from one WebSocket message, in the order they came. */
  receive(topic: string, msgs: MsgFrame[]): void {
    const st = this.#topics.get(topic)
    if (!st || st.subs.size === 0) return // an unsub crossed these on the wire
    const last = msgs[msgs.length - 1]
    if (last && last.seq > (st.head ?? 0)) st.head = last.seq
    this.#run(st, () => this.#accept(topic, st, msgs))
  }

  reset(frame: ResetFrame): void {
    const st = this.#topics.get(frame.topic)
    if (!st) return
    this.#run(st, async () => {
      if (frame.reason !== 'latest') this.#host.log(`reset ${frame.topic} to ${frame.seq} (${frame.reason})`)
      const before = st.cursor?.epoch
      st.cursor = { topic: frame.topic, seq: frame.seq, epoch: frame.epoch }
      st.head = frame.seq
      st.resyncing = false
      await this.#write((tx) => {
        void tx.objectStore('inbox').delete(IDBKeyRange.bound([frame.topic, 0], [frame.topic, Infinity]))
        void tx.objectStore('cursors').put(st.cursor as StoredCursor)
      })
      if (frame.reason === 'latest') return this.#atLatest(st, frame, before !== undefined && before !== frame.epoch)
      for (const sub of st.subs) {
        // Under a new epoch every old seq is meaningless; after trimming only those behind the new start lost data.
        if (frame.reason !== 'retention' || sub.delivered < frame.seq) {
          sub.target.reset({ topic: frame.topic, seq: frame.seq, reason: frame.reason })
          sub.delivered = frame.seq
        }
      }
    })
  }

  /**
   * The server moved the topic's cursor to just before its newest message. Subscriptions that waited for it start
   * there; conflating ones skip to it (the next message's seq shows how many they skipped); any other one fetches
   * what it has not seen yet, as a newly added tab does. Under another epoch, every old seq is meaningless: a reset.
   */
  #atLatest(st: TopicState, frame: ResetFrame, foreign: boolean): void {
    for (const sub of st.subs) {
      // Past the newest the server holds (`seq + 1`) in its own epoch: seqs it no longer has (an earlier reset, or a
      // server that lost them). Left there, every message up to that seq would be taken for a repeat.
      if (!foreign && sub.delivered > frame.seq + 1) {
        sub.target.reset({ topic: frame.topic, seq: frame.seq, reason: 'ahead' })
        sub.delivered = frame.seq
      }
      if (sub.waiting) {
        sub.waiting = false
        // It was shown a message of the epoch the server no longer has (see `#paintHeld`).
        if (foreign && sub.delivered > 0) {
          sub.target.reset({ topic: frame.topic, seq: frame.seq, reason: 'epoch' })
          sub.delivered = frame.seq
        }
        sub.delivered = Math.max(sub.delivered, frame.seq)
        sub.live = true
      } else if (foreign) {
        sub.target.reset({ topic: frame.topic, seq: frame.seq, reason: 'epoch' })
        sub.delivered = frame.seq
      } else if (sub.delivered < frame.seq) {
        if (sub.conflate) {
          sub.delivered = frame.seq
        } else {
          sub.live = false
          this.#run(st, () => this.#catchUp(st, sub))
        }
      }
    }
  }

  /** Collects a `range` for its fetch; false when it breaks the protocol (more messages than the fetch asked for). */
  range(frame: RangeFrame): boolean {
    const f = this.#fetches.get(frame.req)
    // Late (the fetch timed out), unknown, or about another topic: nothing waits for it.
    if (!f || f.topic !== frame.topic) return true
    // Else a server could grow a fetch without end, one `range` with `done: false` after another.
    if (f.msgs.length + frame.msgs.length > f.limit) return false
    for (const m of frame.msgs) f.msgs.push(m)
    if (frame.done) {
      this.#fetches.delete(frame.req)
      f.resolve(f.msgs)
    }
    this.#armFetchTimer()
    return true
  }

  /** The socket went away: fetches in flight on it will never be answered. */
  dropped(): void {
    const err = new TabwireError('worker-unavailable', 'connection lost during fetch')
    for (const f of this.#fetches.values()) f.reject(err)
    this.#fetches.clear()
    this.#armFetchTimer()
  }

  #armFetchTimer(): void {
    clearTimeout(this.#fetchTimer)
    this.#fetchTimer = undefined
    if (this.#fetches.size === 0) return
    this.#fetchTimer = setTimeout(() => {
      this.#fetchTimer = undefined
      this.#host.log(
        `${this.#fetches.size} fetch(es) unanswered for ${this.#fetchTimeout} ms: catching up without them`,
      )
      // What did arrive is good; the catch-up treats the rest as a range the server does not hold.
      for (const f of this.#fetches.values()) f.resolve(f.msgs)
      this.#fetches.clear()
    }, this.#fetchTimeout)
  }

  /** Forgets every topic (after `purge()`, or the session closing); tabs are told by the session. */
  clear(): void {
    this.dropped()
    this.#topics.clear()
  }

  #state(topic: string): TopicState {
    let st = this.#topics.get(topic)
    if (!st) {
      st = { cursor: undefined, subs: new Set(), chain: Promise.resolve(), resyncing: false }
      this.#topics.set(topic, st)
    }
    return st
  }

  #cursorFrame(topic: string, st: TopicState): Cursor {
    const c: Cursor = { topic, after: st.cursor?.seq ?? 0 }
    if (st.cursor?.epoch !== undefined) c.epoch = st.cursor.epoch
    // A subscription waits for the newest, or nobody wants more than the newest (say, after a reconnect): ask for it.
    const subs = [...st.subs]
    if (subs.some((s) => s.waiting) || (subs.length > 0 && subs.every((s) => s.conflate))) c.latest = true
    return c
  }

  #run(st: TopicState, step: () => Promise<void>): void {
    st.chain = st.chain.then(step).catch((e: unknown) => this.#host.log(`inbox: ${String(e)}`, 'error'))
  }

  async #accept(topic: string, st: TopicState, msgs: MsgFrame[]): Promise<void> {
    const cursor = st.cursor ?? { topic, seq: 0 }
    const taken: Received[] = []
    let seq = cursor.seq
    let epoch: Epoch | undefined = cursor.epoch
    for (const m of msgs) {
      if (epoch !== undefined && m.epoch !== epoch) {
        this.#resync(topic, st, `epoch ${m.epoch} without a reset`)
        break
      }
      if (m.seq <= seq) continue // a repeat (replay overlap): already delivered
      if (m.seq !== seq + 1) {
        this.#resync(topic, st, `gap: expected ${seq + 1}, got ${m.seq}`)
        break
      }
      st.resyncing = false
      seq = m.seq
      epoch = m.epoch
      taken.push({ seq: m.seq, body: m.body })
    }
    const first = taken[0]
    if (!first) return
    const next: StoredCursor = { topic, seq, epoch: epoch as Epoch }
    const trimTo = seq - this.#retention
    // Not awaited: deliveries need not wait for the disk. A catch-up that reads the log later still sees this batch,
    // because IndexedDB runs transactions over the same store in the order they were created.
    const written = this.#write((tx) => {
      const inbox = tx.objectStore('inbox')
      void inbox.put({
        topic,
        first: first.seq,
        last: seq,
        epoch: next.epoch as Epoch,
        bodies: taken.map((r) => r.body),
      })
      if (trimTo >= 1) void inbox.delete(IDBKeyRange.bound([topic, 0], [topic, trimTo]))
      void tx.objectStore('cursors').put(next)
    })
    st.cursor = next
    // Subscribers that stand where this batch begins (all of them, mostly) share one array: a tab post serializes
    // a shared array once, however many tabs it goes to (see `tab-events.ts`).
    let shared: Delivery[] | undefined
    for (const sub of st.subs) {
      if (!sub.live) continue
      if (sub.delivered + 1 !== first.seq) this.#deliver(sub, taken)
      else {
        shared ??= taken.map((r) => ({ topic, seq: r.seq, body: r.body }))
        sub.delivered += shared.length
        sub.target.messages(shared)
      }
    }
    await written
  }

  /** Asks the server to replay from our cursor; what arrives before that replay is dropped. */
  #resync(topic: string, st: TopicState, why: string): void {
    if (st.resyncing) return
    st.resyncing = true
    this.#host.log(`resync ${topic}: ${why}`)
    this.#host.sendFrame({ t: 'sub', ...this.#cursorFrame(topic, st) })
  }

  #deliver(sub: TopicSub, records: readonly Received[]): void {
    const fresh: Delivery[] = []
    for (const r of records)
      if (r.seq === sub.delivered + 1 + fresh.length) fresh.push({ topic: sub.topic, seq: r.seq, body: r.body })
    if (fresh.length === 0) return
    sub.delivered += fresh.length
    sub.target.messages(fresh)
  }

  /**
   * A subscription waiting for the server's newest is shown the newest this worker holds meanwhile (a cold worker's
   * socket is several round trips away). It stays waiting: the server's `reset {reason: 'latest'}` moves it on to a
   * newer message, or finds it already there, so nothing repeats.
   */
  async #paintHeld(st: TopicState, sub: TopicSub): Promise<void> {
    const cursor = st.cursor
    if (!cursor || cursor.seq === 0 || cursor.epoch === undefined) return
    const [held] = await this.#readLocal(sub.topic, cursor.seq, cursor.seq, cursor.epoch)
    if (!held || !sub.waiting || !st.subs.has(sub)) return
    sub.delivered = held.seq - 1
    this.#deliver(sub, [held])
  }

  /**
   * Brings one tab subscription up to the worker's cursor: from the local log where it still holds the range, else
   * from the server with `fetch`. A range the server no longer has becomes an explicit reset for that tab.
   */
  async #catchUp(st: TopicState, sub: TopicSub): Promise<void> {
    if (sub.waiting) return // `#atLatest` makes it live
    while (st.subs.has(sub) && sub.delivered < (st.cursor?.seq ?? 0)) {
      const to = st.cursor?.seq ?? 0
      const from = sub.delivered + 1
      const local = await this.#readLocal(sub.topic, from, to, st.cursor?.epoch)
      const firstLocal = local[0]?.seq ?? to + 1
      if (firstLocal === from) {
        this.#deliver(sub, local)
        continue
      }
      const fetched = await this.#fetch(sub.topic, sub.delivered, Math.min(FETCH_LIMIT, firstLocal - from))
      if (!st.subs.has(sub)) return
      const older = usableRange(fetched, st.cursor?.epoch, from, firstLocal)
      // A cursor taken from a tab's `after` has no epoch until a message arrives: the range names it, and from now on
      // the subscription's messages must match it (accept() resyncs otherwise), so the tab never sees two histories.
      if (st.cursor && st.cursor.epoch === undefined && older.epoch !== undefined) st.cursor.epoch = older.epoch
      const start = older.msgs[0]?.seq ?? firstLocal
      if (start > from) {
        // Under another epoch the server no longer holds our epoch's history at all; otherwise it was trimmed (or the
        // fetch went unanswered). Either way the tab is told where its history resumes, never shown the other one.
        sub.target.reset({ topic: sub.topic, seq: start - 1, reason: older.foreign ? 'epoch' : 'retention' })
        sub.delivered = start - 1
      }
      this.#deliver(sub, older.msgs)
    }
    sub.live = true
  }

  /**
   * Messages `from..to` the local log still holds, from the first one it has in that range on, contiguous, under
   * `epoch` (a reset clears the log, but that write may have failed: older records must not pass as current ones).
   */
  async #readLocal(topic: string, from: number, to: number, epoch: Epoch | undefined): Promise<Received[]> {
    let batches: InboxBatch[]
    try {
      batches = await (await this.#db.get()).getAll(
        'inbox',
        IDBKeyRange.bound([topic, from], [topic, Infinity]),
        LOCAL_READ,
      )
    } catch (e) {
      this.#host.log(`inbox read failed, asking the server: ${String(e)}`)
      return []
    }
    const out: Received[] = []
    for (const b of batches) {
      if (epoch !== undefined && b.epoch !== epoch) return out
      for (let seq = Math.max(b.first, from); seq <= Math.min(b.last, to); seq++) {
        const prev = out[out.length - 1]
        if (prev && seq !== prev.seq + 1) return out
        out.push({ seq, body: b.bodies[seq - b.first] as Received['body'] })
      }
      if (b.last >= to) break
    }
    return out
  }

  async #fetch(topic: string, after: number, limit: number): Promise<RangeMsg[]> {
    for (;;) {
      await this.#host.whenOpen()
      const req = this.#nextReq++
      const answer = new Promise<RangeMsg[]>((resolve, reject) =>
        this.#fetches.set(req, { topic, limit, msgs: [], resolve, reject }),
      )
      if (!this.#host.sendFrame({ t: 'fetch', req, topic, after, limit })) {
        this.#fetches.delete(req)
        continue
      }
      // Only the first one pending starts the clock: the others queue behind it on the server.
      if (this.#fetches.size === 1) this.#armFetchTimer()
      try {
        return await answer
      } catch {
        // The connection dropped mid-fetch: ask again on the next one.
      }
    }
  }

  /**
   * `fill` must issue its requests synchronously: awaiting anything else would let the transaction commit early.
   * Resolves once the transaction exists, so later transactions are ordered after it; its commit is not awaited by
   * anyone. Failures are logged, never thrown: the log is a cache and the cursor a hint.
   */
  #write(fill: (tx: InboxTx) => void): Promise<void> {
    return new Promise<void>((started) => {
      void (async () => {
        try {
          // The cursor is a resume hint and the log a cache, both re-derivable from the server: relaxed is enough.
          const tx = (await this.#db.get()).transaction(['inbox', 'cursors'], 'readwrite', { durability: 'relaxed' })
          fill(tx)
          started()
          await tx.done
        } catch (e) {
          started()
          this.#host.log(`inbox write failed: ${String(storageError(e, 'inbox'))}`, 'error')
        }
      })()
    })
  }
}

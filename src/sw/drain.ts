import { TabwireError } from '../protocol/errors.ts'
import { SKIP_REASONS, type SkipReason } from '../protocol/frames.ts'
import {
  encodeOutboxRequest,
  MAX_OUTBOX_BATCH,
  type OutboxAnswer,
  type OutboxSkip,
  type StoredPub,
} from '../protocol/outbox-http.ts'
import { Bus, ownerLock } from '../worker/bus.ts'
import { DbHandle, type OutboxBatch } from '../worker/db.ts'
import { OutboxStore, sizeOf as bodySize } from '../worker/outbox-store.ts'
import { realClock, type Channel, type Clock, type Database } from '../worker/platform.ts'

export interface DrainOptions {
  /** The server's HTTP outbox: `https://api.example.com/outbox` (a server started with `httpOutbox: true`). */
  url: string | URL
  /** The namespace whose outbox to drain, as given to `connect()`. Default: `'default'`. */
  namespace?: string
  /**
   * A fresh token for `authenticate`, asked once per drain (and once more after a 401): tokens are never stored, so
   * the service worker gets one from the app (for example from a cookie-backed endpoint). Without it the request
   * carries no `Authorization`, and the server may authenticate by cookie (see `credentials`).
   */
  token?: () => string | undefined | Promise<string | undefined>
  /** `fetch`'s `credentials`: `'include'` sends the app's cookies to a server on another origin. Default: `'same-origin'`. */
  credentials?: RequestCredentials
  /** Largest request body, bytes; a pub larger than this alone goes alone. Default: 256 KiB. */
  maxBatchBytes?: number
}

/** A queued slot as the drain posts it: a pub, or the skip of one dropped unsent (cancelled, or expired). */
type Slot = StoredPub | OutboxSkip

/**
 * What a drain did. `dropped`: slots of messages cancelled or expired unsent, skipped at the server (never dead
 * letters: the tabs heard of them when they were dropped). `busy`: the namespace's owner lock is held (a live worker owns the socket and delivers the queue
 * itself, or another drain runs): nothing was sent. `stopped`: the server needs a socket's resync to go on (its
 * counter is behind the queue, `out-of-order`, or one pub alone is over its limit, `too-large`): the rest stays
 * queued for the next tab. `pending`: ids still queued when the drain ended.
 */
export interface DrainResult {
  busy: boolean
  delivered: number
  refused: number
  dropped: number
  pending: number
  stopped?: 'out-of-order' | 'too-large'
}

/** The browser parts a drain touches; Node tests pass fakes. */
export interface DrainPlatform {
  /** Web Locks with `ifAvailable`: `grant` gets `null` when the lock is held. */
  locks: { request<T>(name: string, options: { ifAvailable: true }, grant: (lock: unknown) => Promise<T>): Promise<T> }
  database(namespace: string): Database
  channel(name: string): Channel
  fetch: typeof fetch
  clock: Clock
}

export const browserDrainPlatform = (): DrainPlatform => ({
  locks: navigator.locks as DrainPlatform['locks'],
  database: (namespace) => new DbHandle(namespace),
  channel: (name) => new BroadcastChannel(name),
  fetch: (input, init) => fetch(input, init),
  clock: realClock,
})

const DEFAULT_BATCH_BYTES = 256 * 1024
/** Outbox records read per step. */
const READ_RECORDS = 16

/**
 * Sends the namespace's queued messages to the server's HTTP outbox, in id order, and removes what the server acked
 * exactly as the worker does on an `ack` (refused ones move to the dead letters first; workers of open tabs hear
 * both on the namespace's bus), so the queue, its counters and `pending()` stay one truth.
 *
 * Only while holding the namespace's owner lock, taken with `ifAvailable`: a live worker that owns the socket wins
 * (the drain answers `busy` and sends nothing), and a worker starting meanwhile waits for the lock as a follower,
 * then resumes from the server's `welcome.acked`, so nothing is sent twice. When the server cannot be reached or
 * answers an error worth retrying (5xx, 401 twice, 429, 403), everything not yet acked stays queued and the drain
 * rejects (`TabwireError` code `failed`): inside a `sync` event, the browser retries the sync later.
 */
export async function drainOutbox(
  options: DrainOptions,
  platform: DrainPlatform = browserDrainPlatform(),
): Promise<DrainResult> {
  const namespace = options.namespace ?? 'default'
  return platform.locks.request(ownerLock(namespace), { ifAvailable: true }, async (lock) => {
    if (!lock) return { busy: true, delivered: 0, refused: 0, dropped: 0, pending: 0 }
    const db = platform.database(namespace)
    const bus = new Bus(namespace, platform.channel, () => undefined)
    try {
      const outbox = await OutboxStore.load(db, platform.clock)
      return await new Drain(options, platform, outbox, bus).run()
    } finally {
      bus.close()
      ;(await db.get().catch(() => undefined))?.close()
    }
  })
}

class Drain {
  readonly #result: DrainResult = { busy: false, delivered: 0, refused: 0, dropped: 0, pending: 0 }
  #token: string | undefined
  #maxBytes: number

  constructor(
    readonly options: DrainOptions,
    readonly platform: DrainPlatform,
    readonly outbox: OutboxStore,
    readonly bus: Bus,
  ) {
    this.#maxBytes = options.maxBatchBytes ?? DEFAULT_BATCH_BYTES
  }

  async run(): Promise<DrainResult> {
    const { counters } = this.outbox
    this.#token = await this.options.token?.()
    try {
      // The queue may grow while this runs (a tab opened meanwhile commits to it): what is there when a step reads.
      while (counters.pending() > 0) {
        const pubs = await this.#nextBatch()
        if (pubs.length === 0) break
        if (!(await this.#send(pubs))) break
      }
    } finally {
      await this.outbox.pruneNow()
      // What is queued now, sends of a tab opened meanwhile included.
      await this.outbox.syncLast().catch(() => undefined)
      this.#result.pending = counters.pending()
    }
    return this.#result
  }

  /**
   * The next slots after the acked ones, in id order, up to `maxBatchBytes` (one at least) and `MAX_OUTBOX_BATCH`.
   * Taken as the owner's resend takes them: marked `written` in the transaction that reads them, so a `cancel` from
   * then on answers `already-sent`, and those whose expiry passed unwritten are dropped there (the workers of open
   * tabs hear it on the bus before their skip is posted).
   */
  async #nextBatch(): Promise<Slot[]> {
    const pubs: Slot[] = []
    let bytes = 0
    let after = this.outbox.counters.acked
    for (;;) {
      const { batches, expired } = await this.outbox.takeForSending(after, READ_RECORDS)
      if (expired.length > 0) this.bus.post({ k: 'dropped', messages: expired })
      for (const b of batches) {
        for (const pub of pubsOf(b, after)) {
          const size = sizeOf(pub)
          if (pubs.length > 0 && (bytes + size > this.#maxBytes || pubs.length >= MAX_OUTBOX_BATCH)) return pubs
          pubs.push(pub)
          bytes += size
        }
        after = b.last
      }
      if (batches.length < READ_RECORDS) return pubs
    }
  }

  /** Posts one batch and applies the answer; false when the drain should stop (`stopped` says why). */
  async #send(pubs: Slot[]): Promise<boolean> {
    const first = pubs[0] as Slot
    const last = pubs[pubs.length - 1] as Slot
    let res = await this.#post(pubs)
    if (res.status === 401 && this.options.token) {
      this.#token = await this.options.token()
      res = await this.#post(pubs)
    }
    const answer = (await res.json().catch(() => undefined)) as OutboxAnswer | undefined
    // What was applied before an error is settled too.
    if (answer && typeof answer.acked === 'number') await this.#settle(answer, first.id, last.id)
    if (res.ok) return true
    const code = answer?.error?.code
    if (res.status === 409 && code === 'out-of-order') {
      this.#result.stopped = 'out-of-order'
      return false
    }
    if (res.status === 413) {
      if (pubs.length === 1) {
        this.#result.stopped = 'too-large'
        return false
      }
      this.#maxBytes = Math.max(1, Math.floor(this.#maxBytes / 2))
      return true
    }
    throw new TabwireError(
      'failed',
      `the HTTP outbox answered ${res.status}${code ? ` ${code}: ${answer?.error?.message}` : ''}; the messages stay queued`,
    )
  }

  async #post(pubs: Slot[]): Promise<Response> {
    const { type, data } = encodeOutboxRequest(this.outbox.clientId, pubs)
    const headers: Record<string, string> = { 'content-type': type }
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`
    try {
      return await this.platform.fetch(this.options.url, {
        method: 'POST',
        headers,
        body: data as BodyInit,
        credentials: this.options.credentials ?? 'same-origin',
        cache: 'no-store',
      })
    } catch (e) {
      throw new TabwireError('failed', `the HTTP outbox is unreachable; the messages stay queued: ${String(e)}`, {
        cause: e,
      })
    }
  }

  /**
   * As the worker does on `nack`s and an `ack`: refused ones to the dead letters first (a skipped slot's refusal
   * buries nothing: its message was dropped here), then the ids count as done.
   */
  async #settle(answer: OutboxAnswer, first: number, last: number): Promise<void> {
    // Never beyond what this batch carried: an answer acking more would count unsent records as delivered.
    const acked = Math.min(answer.acked, last)
    if (acked < first) return
    const refused = (answer.refused ?? []).filter((r) => r.id >= first && r.id <= acked)
    if (refused.length > 0) {
      const letters = await this.outbox.bury(refused)
      if (letters.length > 0) this.bus.post({ k: 'dead', letters })
      const dropped = refused.filter((r) => SKIP_REASONS.includes(r.code as SkipReason)).length
      this.#result.dropped += dropped
      this.#result.refused += refused.length - dropped
    }
    const before = this.outbox.counters.acked
    if (this.outbox.ackFromServer(acked)) {
      this.#result.delivered += acked - before - refused.length
      this.bus.post({ k: 'acked', upTo: acked })
    }
  }
}

/** The ids of a record after `after`, as pubs, or skips where the message was dropped. */
function pubsOf(b: OutboxBatch, after: number): Slot[] {
  const pubs: Slot[] = []
  for (let id = Math.max(b.first, after + 1); id <= b.last; id++) {
    const i = id - b.first
    const dropped = b.dropped?.[i]
    pubs.push(
      dropped ? { id, skip: dropped } : { id, topic: b.topics[i] as string, body: b.bodies[i] as string | Uint8Array },
    )
  }
  return pubs
}

function sizeOf(p: Slot): number {
  if ('skip' in p) return 32
  return bodySize(p.body) + p.topic.length + 32
}

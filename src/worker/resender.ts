import { encodeBinaryMessage } from '../protocol/binary.ts'
import { batchText, pubFrameText } from '../protocol/encode.ts'
import type { OutboxBatch } from './db.ts'
import type { OutboxStore } from './outbox-store.ts'

/** A WebSocket text message stays below this many characters, well under a server's 1 MiB frame limit. */
const MAX_TEXT = 256 * 1024
/** Outbox records read per step of a resend: bounded so 100k queued messages never sit in memory at once. */
const RESEND_RECORDS = 16

/** The open socket as the resend sees it. */
export interface ResendSocket {
  readonly isOpen: boolean
  /** False when not open: the data stays in the outbox and goes after the next `welcome`. */
  send(data: string | Uint8Array): boolean
  /** The server broke the protocol: close the socket with 4400 and retry. */
  protocolError(message: string): void
}

/** What the resend reports to the owner around it. */
export interface ResendHost {
  /** Cumulative: the server acked every id ≤ `upTo`. */
  acked(upTo: number): void
  /** Cumulative: every id ≤ `upTo` is written to the current socket. */
  sent(upTo: number): void
  /** Queued ids ≥ `from` now go by `id - delta` (see `OutboxStore.renumberAfter` and `skipTo`). */
  renumbered(from: number, delta: number): void
  /** The queue is in step with the server after a `welcome`: requests waiting for an open socket may go. */
  reconciled(): void
  log(message: string): void
}

/**
 * The send side of the owner's socket: after each `welcome` it reconciles the shared outbox with the server's
 * counter (skip ahead, or renumber after a server that lost it), then writes every stored message the connection has
 * not had, in id order, exactly once per connection; it checks the server's acks against what was written.
 */
export class Resender {
  /** Highest outbox id written to the current connection, starting from its `welcome.acked`. */
  #sentUpTo = 0
  /** Bumped on each `welcome`: a resend loop of an older connection stops. */
  #openGen = 0
  #flushing = false
  /** Between a `welcome` and the queue's reconciliation with its `acked` (see `opened`). */
  #reconciling = false

  readonly #outbox: OutboxStore
  readonly #socket: ResendSocket
  readonly #host: ResendHost

  constructor(outbox: OutboxStore, socket: ResendSocket, host: ResendHost) {
    this.#outbox = outbox
    this.#socket = socket
    this.#host = host
  }

  /** New outbox records are on disk (written by this worker or another): send what the connection has not had. */
  committed(batch?: OutboxBatch): void {
    if (!this.#socket.isOpen || this.#reconciling) return
    if (batch && !this.#flushing && this.#sentUpTo === batch.first - 1) {
      this.#write(batch)
      this.#host.sent(this.#sentUpTo)
    } else void this.#flush()
  }

  /** A `welcome` opened a connection; the server holds every id ≤ `acked`. */
  async opened(acked: number): Promise<void> {
    const gen = ++this.#openGen
    // Until the queue is reconciled with the server's counter nothing is written: a send committed meanwhile would
    // otherwise go out before `sentUpTo` is set from this `welcome`, and again in the resend.
    this.#reconciling = true
    // Set now, not after the awaits: acks on this connection are checked against it from its first frame on.
    this.#sentUpTo = acked
    try {
      // What this worker remembers may be behind the shared outbox; the comparisons below need the stored truth.
      await this.#outbox.syncLast()
      const last = this.#outbox.counters.last
      if (acked > last) {
        this.#host.log(`resync: server acked ${acked} but this client only ever stored ${last}`)
        const moved = await this.#outbox.skipTo(acked, last)
        if (moved) {
          this.#host.log(`resync: sends committed meanwhile move above the server's counter, from ${acked + 1}`)
          this.#host.renumbered(moved.from, moved.delta)
        }
      } else {
        const moved = await this.#outbox.renumberAfter(acked)
        if (moved) {
          this.#host.log(`resync: the server's counter (${acked}) is behind our queue; renumbered it from ${acked + 1}`)
          this.#host.renumbered(moved.from, moved.delta)
        }
      }
    } finally {
      if (gen === this.#openGen) this.#reconciling = false
    }
    if (gen !== this.#openGen) return
    this.#sentUpTo = acked
    this.#ackTo(acked)
    this.#host.reconciled()
    void this.#flush()
  }

  /** The server's `ack {id}`; false when it broke the protocol (the socket is closing: read no further frames). */
  ack(id: number): boolean {
    // A server can only ack what it was sent. Believing more would count unsent records as delivered; the protocol
    // error leaves the outbox as it is, and the next `welcome` says where the server really stands.
    if (id > this.#sentUpTo) {
      this.#socket.protocolError(`ack ${id} is beyond the last id sent (${this.#sentUpTo})`)
      return false
    }
    this.#ackTo(id)
    return true
  }

  #ackTo(id: number): void {
    if (this.#outbox.ackFromServer(id)) this.#host.acked(this.#outbox.counters.acked)
  }

  /** Resends every stored message after `sentUpTo`, in id order, a few records at a time. */
  async #flush(): Promise<void> {
    if (this.#flushing || this.#reconciling) return
    this.#flushing = true
    try {
      let gen: number
      // A newer connection opening while this loop awaits the disk starts the loop over for that connection.
      do {
        gen = this.#openGen
        while (
          this.#socket.isOpen &&
          !this.#reconciling &&
          gen === this.#openGen &&
          this.#sentUpTo < this.#outbox.counters.last
        ) {
          const batches = await this.#outbox.batchesAfter(this.#sentUpTo, RESEND_RECORDS)
          if (gen !== this.#openGen || this.#reconciling || batches.length === 0) break
          for (const b of batches) this.#write(b)
          this.#host.sent(this.#sentUpTo)
        }
      } while (gen !== this.#openGen && this.#socket.isOpen && !this.#reconciling)
    } catch (e) {
      this.#host.log(`resend stopped: ${String(e)}`)
    } finally {
      this.#flushing = false
    }
  }

  /**
   * Writes the ids of `batch` above `sentUpTo` in order: JSON bodies as pub frames packed into text messages of at
   * most MAX_TEXT, each binary body as a binary message of its own.
   */
  #write(batch: OutboxBatch): void {
    let texts: string[] = []
    let size = 0
    const flushText = (): boolean => {
      if (texts.length === 0) return true
      const ok = this.#socket.send(batchText(texts))
      texts = []
      size = 0
      return ok
    }
    // Read from disk (or just committed): the stored counter is at least this far, so acks up to it are of stored ids.
    this.#outbox.counters.committed(batch.last)
    for (let id = Math.max(batch.first, this.#sentUpTo + 1); id <= batch.last; id++) {
      const i = id - batch.first
      const topic = batch.topics[i] as string
      const body = batch.bodies[i] as string | Uint8Array
      if (typeof body !== 'string') {
        if (!flushText() || !this.#socket.send(encodeBinaryMessage([{ t: 'pub', id, topic, body }]))) return
        this.#sentUpTo = id
        continue
      }
      const text = pubFrameText(id, topic, body)
      if (texts.length > 0 && size + text.length > MAX_TEXT && !flushText()) return
      texts.push(text)
      size += text.length + 1
      this.#sentUpTo = id
    }
    flushText()
  }
}

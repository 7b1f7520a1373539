import { encodeBinaryMessage } from '../protocol/binary.ts'
import { batchText, pubFrameText } from '../protocol/encode.ts'
import type { Refusal, WelcomeFrame } from '../protocol/frames.ts'
import type { DeadLetter, DropCode, DroppedMessage } from '../protocol/port.ts'
import type { OutboxBatch } from './db.ts'
import { utf8Length } from './utf8.ts'
import { outboxRenumberCode } from './features.ts'
import { behindQueue, type OutboxStore } from './outbox-store.ts'

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
  /** This side cannot go on with the connection (its queue could not be reconciled): close it and retry later. */
  retryLater(message: string): void
}

/** What the resend reports to the owner around it. */
export interface ResendHost {
  /** Cumulative: the server acked every id ≤ `upTo`. */
  acked(upTo: number): void
  /** Cumulative: every id ≤ `upTo` is written to the current socket. */
  sent(upTo: number): void
  /** Queued ids ≥ `from` now go by `id - delta` (see `renumberAfter` and `skipTo` in outbox-renumber.ts). */
  renumbered(from: number, delta: number): void
  /** The server refused these for good; they are in the dead letters now, and an `acked` covering them follows. */
  refused(letters: DeadLetter[]): void
  /** These expired unwritten and are dropped; their `skip` follows, then an `acked` covering them. */
  dropped(messages: DroppedMessage[]): void
  /** The queue is in step with the server after a `welcome`: requests waiting for an open socket may go. */
  reconciled(): void
  log(message: string, level?: 'warn' | 'error'): void
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
  /** The largest WebSocket message the server takes, as its `welcome` said (`maxBytes`). */
  #serverLimit = Number.POSITIVE_INFINITY
  /** …or as a 4413 taught us, from a server that does not say: below the largest message it refused. */
  #learntLimit = Number.POSITIVE_INFINITY
  /** Refusals are handled one after another, each buried before its id counts as done; acks wait behind them. */
  #refusals: Promise<void> = Promise.resolve()
  /** Refusals queued or being buried. */
  #burying = 0

  readonly #outbox: OutboxStore
  readonly #socket: ResendSocket
  readonly #host: ResendHost

  constructor(outbox: OutboxStore, socket: ResendSocket, host: ResendHost) {
    this.#outbox = outbox
    this.#socket = socket
    this.#host = host
    // The fast path of `committed`: such a batch is marked written in its own commit (see `takeForSending`).
    outbox.writesAtOnce = (first) =>
      this.#socket.isOpen && !this.#reconciling && !this.#flushing && this.#sentUpTo === first - 1
  }

  /** New outbox records are on disk (written by this worker or another): send what the connection has not had. */
  committed(batch?: OutboxBatch): void {
    if (!this.#socket.isOpen || this.#reconciling) return
    if (batch && !this.#flushing && this.#sentUpTo === batch.first - 1) {
      this.#write(batch)
      this.#host.sent(this.#sentUpTo)
    } else void this.#flush()
  }

  /** A `welcome` opened a connection; the server holds (or refused) every id ≤ `acked`. */
  async opened(welcome: WelcomeFrame): Promise<void> {
    const { acked } = welcome
    const gen = ++this.#openGen
    this.#serverLimit = welcome.maxBytes ?? Number.POSITIVE_INFINITY
    // Refusals we may not have heard of (their `nack` was lost with a connection) are buried before `acked`, which
    // would otherwise count them as delivered. Queued now, before any await, so every ack read from here on waits
    // behind the burial (it runs beside the reconciliation: the ids it moves are at or below `acked`, which neither
    // a skip nor a renumbering touches).
    const unheard = (welcome.refused ?? []).filter((r) => r.id > this.#outbox.counters.acked && r.id <= acked)
    let burial: Promise<boolean> | undefined
    if (unheard.length > 0) {
      this.#burying++
      burial = this.#refusals.then(async () => {
        try {
          return await this.#bury(unheard)
        } finally {
          this.#burying--
        }
      })
      this.#refusals = burial.then(
        () => undefined,
        () => undefined,
      )
    }
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
        const moved = await (await outboxRenumberCode.load()).skipTo(this.#outbox, acked, last)
        if (moved) {
          this.#host.log(`resync: sends committed meanwhile move above the server's counter, from ${acked + 1}`)
          this.#host.renumbered(moved.from, moved.delta)
        }
      } else if (await behindQueue(this.#outbox, acked)) {
        const moved = await (await outboxRenumberCode.load()).renumberAfter(this.#outbox, acked)
        if (moved) {
          this.#host.log(`resync: the server's counter (${acked}) is behind our queue; renumbered it from ${acked + 1}`)
          this.#host.renumbered(moved.from, moved.delta)
        }
      }
    } catch (e) {
      // The disk, or the renumbering code's chunk, failed us: writing now would send ids the server does not expect.
      // A later connection reconciles again.
      if (gen === this.#openGen)
        this.#socket.retryLater(`the queue could not be reconciled with the server: ${String(e)}`)
      return
    } finally {
      if (gen === this.#openGen) this.#reconciling = false
    }
    if (gen !== this.#openGen) return
    this.#sentUpTo = acked
    if (burial && !(await burial)) return
    if (gen !== this.#openGen) return
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
    // Behind a refusal being buried, so no `acked` covering a refused id reaches the tabs before its `dead`.
    if (this.#burying === 0) this.#ackTo(id)
    else this.#afterRefusals(() => this.#ackTo(id))
    return true
  }

  /**
   * The server's `nack`: `id` is refused for good and its counter is at `id`; false when it broke the protocol. The
   * ids before it are acked, the message is moved to the dead letters, and only then does its id count as done.
   */
  nack(r: Refusal): boolean {
    if (r.id > this.#sentUpTo) {
      this.#socket.protocolError(`nack ${r.id} is beyond the last id sent (${this.#sentUpTo})`)
      return false
    }
    this.#burying++
    this.#afterRefusals(async () => {
      try {
        if (r.id <= this.#outbox.counters.acked) return
        this.#ackTo(r.id - 1)
        if (await this.#bury([r])) this.#ackTo(r.id)
      } finally {
        this.#burying--
      }
    })
    return true
  }

  /** A 4413 from a server that does not say its limit: `largest` was the largest message written on that connection. */
  learnLimit(largest: number): void {
    this.#learntLimit = Math.min(this.#learntLimit, largest - 1)
    this.#host.log(`the server refused a message as too large: messages now stay under ${this.#learntLimit + 1} bytes`)
  }

  /** Runs `step` after the refusals before it, if the connection it belongs to is still the current one. */
  #afterRefusals(step: () => void | Promise<void>): void {
    const gen = this.#openGen
    this.#refusals = this.#refusals
      .then(() => (gen === this.#openGen ? step() : undefined))
      .catch((e: unknown) => this.#host.log(`handling a refusal failed: ${String(e)}`))
  }

  /**
   * Moves refused messages to the dead letters and tells the tabs; false when storage failed, which closes the
   * connection: the ids stay unacked, and the next `welcome.refused` names them again.
   */
  async #bury(refusals: Refusal[]): Promise<boolean> {
    const gen = this.#openGen
    try {
      const letters = await this.#outbox.bury(refusals)
      if (letters.length > 0) this.#host.refused(letters)
      return true
    } catch (e) {
      this.#host.log(`refused messages could not be moved to the dead letters: ${String(e)}`, 'error')
      if (gen === this.#openGen) this.#socket.protocolError('a refused message could not be stored')
      return false
    }
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
          const { batches, expired } = await this.#outbox.takeForSending(this.#sentUpTo, RESEND_RECORDS)
          // Told before their `skip` is written, so before any ack covering them.
          if (expired.length > 0) this.#host.dropped(expired)
          if (gen !== this.#openGen || this.#reconciling || batches.length === 0) break
          for (const b of batches) this.#write(b)
          this.#host.sent(this.#sentUpTo)
        }
      } while (gen !== this.#openGen && this.#socket.isOpen && !this.#reconciling)
    } catch (e) {
      this.#host.log(`resend stopped: ${String(e)}`, 'error')
    } finally {
      this.#flushing = false
    }
  }

  /**
   * Writes the ids of `batch` above `sentUpTo` in order: JSON bodies as pub frames packed into text messages of at
   * most MAX_TEXT, each binary body as a binary message of its own.
   */
  #write(batch: OutboxBatch): void {
    const limit = Math.min(this.#serverLimit, this.#learntLimit)
    // Text of this many characters fits the limit in UTF-8 (at most 3 bytes each) with a batch's brackets.
    const packChars = Math.max(1, Math.min(MAX_TEXT, Math.floor((limit - 2) / 3)))
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
      const dropped = batch.dropped?.[i]
      let text: string
      if (dropped) text = skipText(id, dropped)
      else if (typeof body !== 'string') {
        const data = encodeBinaryMessage([{ t: 'pub', id, topic, body }])
        if (data.byteLength <= limit) {
          if (!flushText() || !this.#socket.send(data)) return
          this.#sentUpTo = id
          continue
        }
        text = skipText(id)
      } else {
        text = pubFrameText(id, topic, body)
        // Alone larger than the server takes: every resend would end the connection (4413). The server is told to
        // count it as refused instead, so the queue behind it goes on.
        if (text.length > packChars && utf8Length(text) > limit) text = skipText(id)
      }
      if (texts.length > 0 && size + text.length > packChars && !flushText()) return
      texts.push(text)
      size += text.length + 1
      this.#sentUpTo = id
    }
    flushText()
  }
}

/** A `skip` in the place of pub `id`: too large to send (no `why`), or dropped by the app or its expiry. */
function skipText(id: number, why?: DropCode): string {
  return JSON.stringify(why ? { t: 'skip', id, why } : { t: 'skip', id })
}

import { TabwireError } from '../protocol/errors.ts'
import type { DeadLetter, DropCode, DroppedMessage } from '../protocol/port.ts'
import { Watermark } from './watermark.ts'

/** Refusals remembered for receipts asked after the refusal arrived (a send's answer can trail its `nack`). */
const REMEMBERED_REFUSALS = 1_000

export interface SendReceipt {
  /** The message's id in this namespace's outbox: 1, 2, 3… in send order. */
  id: number
  /**
   * Resolves when the message has been written to an open socket (it may be written again after a reconnect).
   * Never rejects; stays pending if this tab closes first.
   */
  sent: Promise<void>
  /**
   * Resolves when the server has acked the message. Rejects with a `TabwireError` of code `refused` when the server
   * refused it for good (see `error.refusal`; the message is then in `wire.outbox.dead()`), `cancelled`
   * (`wire.outbox.cancel(id)`) or `expired` (its `ttl` passed before it was written). Stays pending if this tab
   * closes first.
   */
  acked: Promise<void>
}

/** The `sent` and `acked` marks of this tab's sends, as the worker reports them. */
export class Receipts {
  readonly #sends = new Watermark()
  readonly #acks = new Watermark()
  readonly #refused = new Map<number, TabwireError>()

  receipt(id: number): SendReceipt {
    const refused = this.#refused.get(id)
    return { id, sent: this.#sends.wait(id), acked: handled(refused ? Promise.reject(refused) : this.#acks.wait(id)) }
  }

  /** Refused for good: told before the `acked` that covers these ids, so their `acked` rejects instead. */
  dead(letters: readonly (DeadLetter | { id: number; error: TabwireError })[]): void {
    for (const l of letters) {
      const error = 'error' in l ? l.error : refusedError(l)
      this.#refused.set(l.id, error)
      this.#acks.fail(l.id, error)
    }
    for (const id of this.#refused.keys()) {
      if (this.#refused.size <= REMEMBERED_REFUSALS) break
      this.#refused.delete(id)
    }
  }

  /** Dropped unwritten (cancelled or expired): told before the `acked` that covers these ids (the server's `nack`). */
  dropped(messages: readonly DroppedMessage[]): void {
    this.dead(messages.map((m) => ({ id: m.id, error: droppedError(m.id, m.code) })))
  }

  /** An ack implies the write before it: both marks move. */
  acked(upTo: number): void {
    this.#sends.mark(upTo)
    this.#acks.mark(upTo)
  }

  sent(upTo: number): void {
    this.#sends.mark(upTo)
  }

  renumbered(from: number, delta: number): void {
    this.#sends.shift(from, delta)
    this.#acks.shift(from, delta)
  }

  clear(): void {
    this.#acks.clear()
    this.#sends.clear()
  }
}

/** A refusal reaches whoever awaits `acked`; an app that never looks at it gets no unhandled-rejection report. */
function handled(p: Promise<void>): Promise<void> {
  p.catch(() => undefined)
  return p
}

/** The rejection of a refused message's `acked`. */
export function refusedError(r: { id: number; code: string; message: string }): TabwireError {
  return new TabwireError('refused', `the server refused message ${r.id} (${r.code}): ${r.message}`, {
    refusal: { id: r.id, code: r.code, message: r.message },
  })
}

/** The rejection of a cancelled or expired message's `acked` (and of `whenAcked`). */
export function droppedError(id: number, code: DropCode): TabwireError {
  return new TabwireError(
    code,
    code === 'cancelled'
      ? `message ${id} was cancelled before it was sent`
      : `message ${id} expired before it was sent`,
  )
}

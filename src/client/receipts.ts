import { Watermark } from './watermark.ts'

export interface SendReceipt {
  /** The message's id in this namespace's outbox: 1, 2, 3… in send order. */
  id: number
  /**
   * Resolves when the message has been written to an open socket (it may be written again after a reconnect).
   * Never rejects; stays pending if this tab closes first.
   */
  sent: Promise<void>
  /** Resolves when the server has acked the message. Never rejects; stays pending if this tab closes first. */
  acked: Promise<void>
}

/** The `sent` and `acked` marks of this tab's sends, as the worker reports them. */
export class Receipts {
  readonly #sends = new Watermark()
  readonly #acks = new Watermark()

  receipt(id: number): SendReceipt {
    return { id, sent: this.#sends.wait(id), acked: this.#acks.wait(id) }
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

import type { OutgoingMessage } from '../protocol/port.ts'
import type { Receipts, SendReceipt } from './receipts.ts'

interface QueuedSend {
  message: OutgoingMessage
  resolve: (r: SendReceipt) => void
  reject: (e: unknown) => void
}

/**
 * Sends made in the same task travel to the worker as one call (and so share one IndexedDB transaction there): the
 * first of a task queues a microtask that hands over everything queued by then.
 */
export class SendBatcher {
  #queue: QueuedSend[] = []

  readonly #store: (messages: OutgoingMessage[]) => Promise<number[]>
  readonly #receipts: Receipts

  constructor(store: (messages: OutgoingMessage[]) => Promise<number[]>, receipts: Receipts) {
    this.#store = store
    this.#receipts = receipts
  }

  enqueue(message: OutgoingMessage): Promise<SendReceipt> {
    return new Promise((resolve, reject) => {
      if (this.#queue.length === 0) queueMicrotask(() => void this.#flush())
      this.#queue.push({ message, resolve, reject })
    })
  }

  /** The wire closed: sends not yet handed over are refused (nothing of them was stored). */
  rejectQueued(e: unknown): void {
    for (const q of this.#queue.splice(0)) q.reject(e)
  }

  async #flush(): Promise<void> {
    const batch = this.#queue
    this.#queue = []
    try {
      const ids = await this.#store(batch.map((q) => q.message))
      batch.forEach((q, i) => {
        q.resolve(this.#receipts.receipt(ids[i] as number))
      })
    } catch (e) {
      for (const q of batch) q.reject(e)
    }
  }
}

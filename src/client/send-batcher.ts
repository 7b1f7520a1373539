import type { OutgoingMessage, SendCall } from '../protocol/port.ts'
import { TabwireError } from '../protocol/errors.ts'
import { TaskBatch } from '../protocol/task-batch.ts'
import type { Receipts, SendReceipt } from './receipts.ts'

const CUT_SHORT =
  'an earlier send was stopped by the browser before it reached the worker (a closing page): later sends are refused'

interface QueuedSend {
  message: OutgoingMessage
  resolve: (r: SendReceipt) => void
  reject: (e: unknown) => void
}

/**
 * Hands one call to the worker; `call()` names it as it stands when (re)made. Posts before it returns when the worker
 * is attached (otherwise waits for the attach in order with the calls before it), and never throws: it rejects.
 */
export type StoreCall = (messages: OutgoingMessage[], call: () => Omit<SendCall, 'retry'>) => Promise<number[]>

/**
 * Sends made in the same task travel to the worker as one call (and so share one IndexedDB transaction there): the
 * first of a task queues a microtask that hands over everything queued by then. Each call is numbered, so a call
 * whose worker died can be asked about on the next worker (`SendCall`), and says which calls are settled.
 */
export class SendBatcher {
  readonly #queue = new TaskBatch<QueuedSend>((batch) => {
    const flush = this.#flush(batch)
    this.#inFlight.add(flush)
    void flush.finally(() => this.#inFlight.delete(flush))
  })
  /** Calls handed over and not yet answered (a flush never rejects). */
  readonly #inFlight = new Set<Promise<void>>()
  #calls = 0
  /**
   * The last call whose hand-over ran to its end: posted, or waiting for the attach. A browser may stop a page's
   * script in the middle of a task and still run the page's next tasks (Firefox does so to a page being closed): a
   * call stopped that way was never posted, and the next one would reach the server without it. So a call whose
   * predecessor was cut short is refused, and so is every later one: this number stays behind for good.
   */
  #handed = 0
  /** Calls not yet answered, in call order (so the first is the lowest). */
  readonly #open = new Set<number>()

  readonly #store: StoreCall
  readonly #receipts: Receipts

  constructor(store: StoreCall, receipts: Receipts) {
    this.#store = store
    this.#receipts = receipts
  }

  enqueue(message: OutgoingMessage): Promise<SendReceipt> {
    return new Promise((resolve, reject) => this.#queue.push({ message, resolve, reject }))
  }

  /** Resolves once every call handed over so far is answered. */
  async answered(): Promise<void> {
    await Promise.all(this.#inFlight)
  }

  /** The wire closed: sends not yet handed over are refused (nothing of them was stored). */
  rejectQueued(e: unknown): void {
    for (const q of this.#queue.take()) q.reject(e)
  }

  async #flush(batch: QueuedSend[]): Promise<void> {
    const n = ++this.#calls
    if (this.#handed !== n - 1) {
      const cut = new TabwireError('closed', CUT_SHORT)
      for (const q of batch) q.reject(cut)
      return
    }
    this.#open.add(n)
    try {
      const stored = this.#store(
        batch.map((q) => q.message),
        () => ({ n, settledBelow: this.#open.values().next().value ?? n }),
      )
      this.#handed = n
      const ids = await stored
      batch.forEach((q, i) => {
        q.resolve(this.#receipts.receipt(ids[i] as number))
      })
    } catch (e) {
      for (const q of batch) q.reject(e)
    } finally {
      this.#open.delete(n)
    }
  }
}

import type { OutgoingMessage } from '../protocol/port.ts'
import { TaskBatch } from '../protocol/task-batch.ts'

/** What a volatile send resolves: whether it was written to the open connection (it is never stored or resent). */
export interface VolatileReceipt {
  sent: boolean
}

interface Queued {
  message: OutgoingMessage
  resolve: (r: VolatileReceipt) => void
  reject: (e: unknown) => void
}

/**
 * Volatile sends made in the same task travel to the worker as one call, which writes them as one WebSocket message:
 * what makes a stream of cursor moves cheap.
 */
export class VolatileBatcher {
  readonly #batch = new TaskBatch<Queued>((queued) => void this.#flush(queued))

  readonly #write: (messages: OutgoingMessage[]) => Promise<boolean>

  constructor(write: (messages: OutgoingMessage[]) => Promise<boolean>) {
    this.#write = write
  }

  enqueue(message: OutgoingMessage): Promise<VolatileReceipt> {
    return new Promise((resolve, reject) => this.#batch.push({ message, resolve, reject }))
  }

  async #flush(waiting: Queued[]): Promise<void> {
    try {
      const sent = await this.#write(waiting.map((w) => w.message))
      for (const w of waiting) w.resolve({ sent })
    } catch (e) {
      for (const w of waiting) w.reject(e)
    }
  }
}

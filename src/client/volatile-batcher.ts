import type { OutgoingMessage } from '../protocol/port.ts'

/** What a volatile send resolves: whether it was written to the open connection (it is never stored or resent). */
export interface VolatileReceipt {
  sent: boolean
}

interface Queued {
  resolve: (r: VolatileReceipt) => void
  reject: (e: unknown) => void
}

/**
 * Volatile sends made in the same task travel to the worker as one call, which writes them as one WebSocket message:
 * what makes a stream of cursor moves cheap.
 */
export class VolatileBatcher {
  #messages: OutgoingMessage[] = []
  #waiting: Queued[] = []

  readonly #write: (messages: OutgoingMessage[]) => Promise<boolean>

  constructor(write: (messages: OutgoingMessage[]) => Promise<boolean>) {
    this.#write = write
  }

  enqueue(message: OutgoingMessage): Promise<VolatileReceipt> {
    return new Promise((resolve, reject) => {
      if (this.#messages.length === 0) queueMicrotask(() => void this.#flush())
      this.#messages.push(message)
      this.#waiting.push({ resolve, reject })
    })
  }

  async #flush(): Promise<void> {
    const messages = this.#messages
    const waiting = this.#waiting
    this.#messages = []
    this.#waiting = []
    try {
      const sent = await this.#write(messages)
      for (const w of waiting) w.resolve({ sent })
    } catch (e) {
      for (const w of waiting) w.reject(e)
    }
  }
}

import { encodeBinaryMessage } from '../protocol/binary.ts'
import { batchText, vpubFrameText } from '../protocol/encode.ts'
import type { OutgoingMessage } from '../protocol/port.ts'
import { TaskBatch } from '../protocol/task-batch.ts'

/**
 * Bytes the socket may hold unsent before volatile messages are dropped (`sent: false`): a tab sending faster than the
 * network carries must not grow the browser's buffer without end, nor delay the durable messages behind it.
 */
export const MAX_VOLATILE_BUFFERED = 1 << 20
/** Text frames per WebSocket message, so one message stays well under the server's frame limit. */
const MAX_BATCH_CHARS = 256 * 1024

export interface VolatileSocket {
  readonly isOpen: boolean
  readonly buffered: number
  send(data: string | Uint8Array): boolean
}

/**
 * Writes volatile messages: never stored, never resent. Everything handed over in one task (every tab's, and the
 * followers') goes out as one batch message at the end of it, which is what makes them cheap; a message with a
 * binary body travels in a binary message of its own, in order. `false` means dropped: the socket is not open, or
 * holds too much already.
 */
export class VolatileSender {
  readonly #queue = new TaskBatch<OutgoingMessage>((queue) => this.#flush(queue))
  readonly #socket: VolatileSocket

  constructor(socket: VolatileSocket) {
    this.#socket = socket
  }

  send(messages: readonly OutgoingMessage[]): boolean {
    if (!this.#socket.isOpen || this.#socket.buffered > MAX_VOLATILE_BUFFERED) return false
    for (const m of messages) this.#queue.push(m)
    return true
  }

  /** What is queued when the connection drops is lost, as the messages on the wire are. */
  dropped(): void {
    this.#queue.take()
  }

  #flush(queue: OutgoingMessage[]): void {
    let texts: string[] = []
    let chars = 0
    const flushText = () => {
      if (texts.length > 0) this.#socket.send(batchText(texts))
      texts = []
      chars = 0
    }
    for (const { topic, body } of queue) {
      if (typeof body !== 'string') {
        flushText()
        this.#socket.send(encodeBinaryMessage([{ t: 'vpub', topic, body }]))
        continue
      }
      const text = vpubFrameText(topic, body)
      if (chars + text.length > MAX_BATCH_CHARS) flushText()
      texts.push(text)
      chars += text.length
    }
    flushText()
  }
}

import type { SubFrame, UnsubFrame } from '../protocol/frames.ts'
import { TaskBatch } from '../protocol/task-batch.ts'
import { packSubs } from './frame-room.ts'

/** The open connection, as far as subscription frames need it. */
export interface SubFrameSocket {
  readonly isOpen: boolean
  readonly messageLimit: number
  send(message: string): boolean
}

/**
 * `sub` and `unsub` frames made in one task leave at its end, in order, packed into as few WebSocket messages as the
 * server takes: a tab that follows 1,000 topics at once costs the server one message to read, not 1,000. Only what
 * the open connection would carry now is queued; while it is not open a frame is dropped, as the connection's next
 * `hello` (or what `welcome` makes up for) carries the topic's cursor. A task holds at most what its callers made.
 */
export class SubFrames {
  readonly #queue = new TaskBatch<SubFrame | UnsubFrame>((frames) => this.#flush(frames))

  readonly #socket: SubFrameSocket

  constructor(socket: SubFrameSocket) {
    this.#socket = socket
  }

  /** False when the connection is not open (the frame is dropped). */
  queue(frame: SubFrame | UnsubFrame): boolean {
    if (!this.#socket.isOpen) return false
    this.#queue.push(frame)
    return true
  }

  #flush(frames: (SubFrame | UnsubFrame)[]): void {
    // Closed later in the task: that connection's successor subscribes from the cursors in its `hello`.
    if (!this.#socket.isOpen) return
    for (const message of packSubs(frames, this.#socket.messageLimit)) this.#socket.send(message)
  }
}

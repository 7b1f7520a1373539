import { WebSocket } from 'ws'
import { encodeFrames } from '../protocol/encode.ts'
import type { ServerFrame } from '../protocol/frames.ts'

/** Above this many bytes waiting in the socket, live fan-out stops and the connection is fed from the store instead. */
const HIGH_WATER_BYTES = 1 << 20

/**
 * Frames for one connection, sent as one WebSocket message per event-loop turn: acks, replays and a burst of
 * fan-out that became ready in the same turn go out as a single batch, which is what makes the wire fast (one frame
 * per message costs ~25× the throughput of batches). Frames on a socket that is no longer open are dropped.
 */
export class Outbox {
  private queue: ServerFrame[] = []
  private timer: NodeJS.Immediate | undefined
  /** Settles once the latest message sent has been written (ws writes in order, so all earlier ones too). */
  private written: Promise<void> = Promise.resolve()
  /** Settles once the frames queued now are written: created on demand by `flushed()`, handed over by `flush()`. */
  private next: { promise: Promise<void>; resolve: () => void } | undefined

  constructor(private readonly ws: WebSocket) {}

  push(frame: ServerFrame): void {
    if (this.ws.readyState !== WebSocket.OPEN) return
    this.queue.push(frame)
    this.timer ??= setImmediate(() => this.flush())
  }

  /** Sends what is queued now; used directly before a close so that e.g. an `error` frame precedes the close. */
  flush(): void {
    if (this.timer) clearImmediate(this.timer)
    this.timer = undefined
    const frames = this.queue
    this.queue = []
    const next = this.next ?? deferred()
    this.next = undefined
    this.written = next.promise
    if (frames.length === 0 || this.ws.readyState !== WebSocket.OPEN) return next.resolve()
    // The callback runs once the data is written or the socket failed: either way, producers may go on.
    this.ws.send(encodeFrames(frames), () => next.resolve())
  }

  /** Resolves once everything queued so far has been written to the socket, or the socket is gone. */
  flushed(): Promise<void> {
    if (this.queue.length === 0) return this.written
    this.next ??= deferred()
    return this.next.promise
  }

  /** The client reads slower than we produce: producers should wait for `flushed()` rather than queue more. */
  get congested(): boolean {
    return this.ws.bufferedAmount > HIGH_WATER_BYTES
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

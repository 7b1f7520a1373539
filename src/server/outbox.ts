import { WebSocket } from 'ws'
import { encodeBinaryMessage, hasBinaryBody } from '../protocol/binary.ts'
import { encodeFrames } from '../protocol/encode.ts'
import type { ServerFrame } from '../protocol/frames.ts'

/** Above this many bytes waiting in the socket, live fan-out stops and the connection is fed from the store instead. */
const HIGH_WATER_BYTES = 1 << 20

/**
 * Frames for one connection, sent as one WebSocket message per event-loop turn: acks, replays and a burst of
 * fan-out that became ready in the same turn go out as a single batch, which is what makes the wire fast (one frame
 * per message costs ~25× the throughput of batches). Frames on a socket that is no longer open are dropped.
 *
 * A frame with a binary body (a `msg`, or a `range` holding one) must travel in a binary message (see
 * `protocol/binary.ts`). The turn's frames are cut into consecutive runs of text-only and binary frames, each run one
 * message, in order: JSON-only traffic stays plain text, and the receiver still sees every frame in the order queued.
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
    const runs = splitRuns(frames)
    runs.forEach((run, i) => {
      const data = run.binary ? encodeBinaryMessage(run.frames) : encodeFrames(run.frames)
      // ws writes in order, so the last message's callback means all are written (or the socket failed): either way,
      // producers may go on.
      if (i < runs.length - 1) this.ws.send(data)
      else this.ws.send(data, () => next.resolve())
    })
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

/** Consecutive frames that go in one message: all text, or all binary. */
interface Run {
  binary: boolean
  frames: ServerFrame[]
}

function splitRuns(frames: readonly ServerFrame[]): Run[] {
  const runs: Run[] = []
  let run: Run | undefined
  for (const frame of frames) {
    const binary = hasBinaryBody([frame])
    if (run?.binary !== binary) runs.push((run = { binary, frames: [] }))
    run.frames.push(frame)
  }
  return runs
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

import { WebSocket } from 'ws'
import { encodeBinaryMessage, hasBinaryBody } from '../protocol/binary.ts'
import type { AckFrame, ErrorFrame, PongFrame, ServerFrame } from '../protocol/frames.ts'
import type { ServerErrorCode } from '../protocol/server-errors.ts'
import { NO_OBSERVER, type Observer } from './observer.ts'

/** A frame this server sends: its `error` frames carry only the codes docs/PROTOCOL.md lists. */
export type SentFrame = Exclude<ServerFrame, ErrorFrame> | ErrorFrame<ServerErrorCode>

/** Frames share one WebSocket message up to this many bytes; a larger frame travels alone. */
export const MESSAGE_BYTES = 256 * 1024
/** Above this many bytes waiting for the connection, producers that read the store (replays, fetches) wait. */
export const HIGH_WATER_BYTES = 1 << 20
/** …until it is back under this. */
export const LOW_WATER_BYTES = 256 * 1024
/** Above this the connection stops reading the client until it drains (see `Connection`). */
export const PAUSE_BYTES = 4 << 20

/** Largest number of bytes ever waiting for one connection of a server, for `server.outputBytes()`. */
export interface OutputMeter {
  peak: number
}

/** One frame, encoded once when queued: its size is known at once, and encoding can fail only there. */
interface Piece {
  frame: ServerFrame
  /** JSON text, or a binary message holding this frame alone. */
  data: string | Uint8Array
  bytes: number
  /** Replaced by a later ack or pong before it was sent. */
  dropped: boolean
}

/**
 * Frames for one connection, bounded in bytes and sent at the pace the client reads.
 *
 * - Each frame is encoded when queued, inside a try: a frame that cannot be encoded ends this connection (`onError`,
 *   then 1011), never the process from a timer.
 * - Frames go out in WebSocket messages of at most `MESSAGE_BYTES` (a larger frame alone): acks, replays and a
 *   burst of fan-out ready in one turn share messages, which is what makes the wire fast, without ever building one
 *   huge string. Text-only frames go in text messages, frames with a binary body (`msg`, or a `range` holding one)
 *   in binary messages (see `protocol/binary.ts`), in the order queued.
 * - ws is handed the next message only once its own buffer holds less than a message; the rest waits here. While a
 *   message's worth or more waits, a newer `ack` replaces a queued one (acks are cumulative) and a newer `pong` the
 *   queued one, each moving to the end so neither arrives earlier than it would have. A client that never reads
 *   holds at most about two messages in ws plus one ack and one pong, however many pings or pubs it sends; one that
 *   keeps up gets every pong and ack.
 * - `pending` counts both what waits here and ws's buffer (`bufferedAmount` only moves once a message is handed
 *   over): producers that read the store take `turn`s and wait for room first.
 */
export class Outbox {
  /** Sent pieces are cleared (so their data can go) up to `head`; the queue is compacted now and then, not shifted. */
  private queue: (Piece | undefined)[] = []
  private head = 0
  /** Pieces replaced by a newer ack or pong but still in `queue`: compacted away before they outnumber the rest. */
  private dropped = 0
  private queuedBytes = 0
  private readonly latest: { ack?: Piece | undefined; pong?: Piece | undefined } = {}
  private timer: NodeJS.Immediate | undefined
  private waiters: (() => void)[] = []
  private turns: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly ws: WebSocket,
    private readonly onError: (error: unknown) => void,
    private readonly meter: OutputMeter = { peak: 0 },
    private readonly observer: Observer = NO_OBSERVER,
  ) {
    ws.on('close', () => this.wake())
  }

  /** Queues a frame; returns its encoded size (0 if dropped: the socket is not open, or it could not be encoded). */
  push(frame: SentFrame): number {
    if (this.ws.readyState !== WebSocket.OPEN) return 0
    if (frame.t === 'ack' || frame.t === 'pong') frame = this.coalesce(frame)
    let piece: Piece
    try {
      const data = hasBinaryBody([frame]) ? encodeBinaryMessage([frame]) : JSON.stringify(frame)
      const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
      piece = { frame, data, bytes, dropped: false }
    } catch (error) {
      this.onError(error)
      return 0
    }
    this.observer.frameOut(frame.t)
    if (frame.t === 'ack' || frame.t === 'pong') this.latest[frame.t] = piece
    if (this.dropped > 1024 && this.dropped * 2 > this.queue.length - this.head) this.compact()
    this.queue.push(piece)
    this.queuedBytes += piece.bytes
    this.meter.peak = Math.max(this.meter.peak, this.pending)
    this.timer ??= setImmediate(() => {
      this.timer = undefined
      this.pump(false)
    })
    return piece.bytes
  }

  /** Hands everything queued to ws now, ignoring its buffer: right before a close, so an `error` precedes it. */
  flush(): void {
    this.pump(true)
  }

  /** Bytes waiting for this connection: queued here, plus ws's buffer. */
  get pending(): number {
    return this.queuedBytes + this.ws.bufferedAmount
  }

  /** Producers that read the store should wait for `room()` rather than queue more. */
  get congested(): boolean {
    return this.pending > HIGH_WATER_BYTES
  }

  /** So much waits that the connection should stop reading the client until `room()`. */
  get overloaded(): boolean {
    return this.pending > PAUSE_BYTES
  }

  /** Resolves at once unless congested, else once drained below the low-water mark, or the socket is gone. */
  room(): Promise<void> {
    if (!this.congested || this.ws.readyState !== WebSocket.OPEN) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /**
   * Runs `fn` once every earlier turn has ended and there is room: replays and fetches of one connection read the
   * store one at a time, so however many topics it follows or fetches it asks, one read's worth is in memory.
   */
  turn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turns.then(async () => {
      await this.room()
      return fn()
    })
    this.turns = run.catch(() => {})
    return run
  }

  /**
   * While a message's worth or more waits, the newest ack (the highest id: acks are cumulative) or pong replaces a
   * queued one.
   */
  private coalesce<F extends AckFrame | PongFrame>(frame: F): F {
    const old = this.latest[frame.t]
    if (!old || old.dropped || this.pending < MESSAGE_BYTES) return frame
    old.dropped = true
    this.dropped++
    this.queuedBytes -= old.bytes
    if (frame.t === 'ack' && old.frame.t === 'ack' && old.frame.id > frame.id) return { ...frame, id: old.frame.id }
    return frame
  }

  private pump(all: boolean): void {
    while (this.ws.readyState === WebSocket.OPEN && (all || this.ws.bufferedAmount < MESSAGE_BYTES)) {
      const group = this.nextGroup()
      if (group.length === 0) break
      let data: string | Uint8Array
      try {
        data = messageOf(group)
      } catch (error) {
        this.onError(error)
        return
      }
      this.observer.sent(data)
      this.ws.send(data, () => this.wake())
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  /** Takes the next run of frames of one kind (text or binary) that fits a message; a large frame alone. */
  private nextGroup(): Piece[] {
    const group: Piece[] = []
    // A batch's brackets and commas (a binary header's too): one byte per frame, one more for the batch.
    let bytes = 1
    for (let p = this.queue[this.head]; p; p = this.queue[this.head]) {
      if (p.dropped) this.dropped--
      else {
        const first = group[0]
        if (first && (typeof first.data !== typeof p.data || bytes + p.bytes + 1 > MESSAGE_BYTES)) break
        group.push(p)
        bytes += p.bytes + 1
        this.queuedBytes -= p.bytes
        if (this.latest.ack === p) this.latest.ack = undefined
        if (this.latest.pong === p) this.latest.pong = undefined
      }
      this.queue[this.head++] = undefined
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
    return group
  }

  private compact(): void {
    this.queue = this.queue.slice(this.head).filter((p) => p && !p.dropped)
    this.head = 0
    this.dropped = 0
  }

  /** A message was written (or the socket failed): send more, and let producers go on once drained. */
  private wake(): void {
    this.pump(false)
    const open = this.ws.readyState === WebSocket.OPEN
    if (this.waiters.length > 0 && (!open || this.pending <= LOW_WATER_BYTES)) {
      const waiters = this.waiters
      this.waiters = []
      for (const resolve of waiters) resolve()
    }
  }
}

/** One WebSocket message for a group of pieces of one kind. */
function messageOf(group: readonly Piece[]): string | Uint8Array {
  const [first] = group
  if (group.length === 1 && first) return first.data
  if (typeof first?.data === 'string') return `[${group.map((p) => p.data as string).join(',')}]`
  return encodeBinaryMessage(group.map((p) => p.frame))
}

/**
 * One direction of one proxied TCP connection: an ordered queue between a source socket and a destination socket
 * that can delay, rate-limit, drop and cut what passes. The fault proxy (`fault-proxy.ts`) owns two per connection
 * and decides policy through `PipeHooks`; this file only guarantees the bytes that do pass keep their order.
 */
import type net from 'node:net'
import { performance } from 'node:perf_hooks'

/**
 * Token bucket shared by every pipe of one direction, so a limit acts like one slow link rather than a per-socket
 * quota. The burst is 50 ms worth of tokens: large enough to avoid a timer per byte, small enough that a transfer of
 * N bytes takes close to N / rate seconds (a full second of burst would hide half of a 2-second throttle).
 */
export class TokenBucket {
  readonly burst: number
  private tokens: number
  private last = performance.now()

  constructor(readonly bytesPerSecond: number) {
    this.burst = Math.max(1, Math.ceil(bytesPerSecond / 20))
    this.tokens = this.burst
  }

  /** Takes up to `max` whole tokens now; returns how many were taken (0 when the bucket is empty). */
  take(max: number): number {
    this.refill()
    const n = Math.min(max, Math.floor(this.tokens))
    this.tokens -= n
    return n
  }

  /** Milliseconds until `want` bytes (capped at the burst, as more can never be there at once) are available. */
  waitMs(want: number): number {
    this.refill()
    const need = Math.min(want, this.burst) - this.tokens
    return need <= 0 ? 0 : Math.ceil((need * 1000) / this.bytesPerSecond)
  }

  private refill(): void {
    const now = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000)
    this.last = now
  }
}

/** What a pipe asks its proxy, read at the moment it matters so a control call takes effect on the next chunk. */
export interface PipeHooks {
  /** True while the link forwards nothing: arriving and queued data is dropped, a FIN is swallowed. */
  blackholed(): boolean
  /** Delay, in ms, for a chunk arriving now. */
  latencyMs(): number
  /** The bucket of this pipe's direction, or null when unthrottled. */
  bucket(): TokenBucket | null
  /** Consumes a pending mid-frame cut for this direction; returns the action to run once the half has been written. */
  takeCut(): (() => void) | undefined
  /** Bytes written to the destination. */
  forwarded(bytes: number): void
  /** A chunk (or the part of it not yet written) dropped by the blackhole. */
  dropped(bytes: number): void
  /** A chunk that was held back by latency (counted once per chunk). */
  delayed(): void
  /** A chunk that had to wait for tokens (counted once per chunk). */
  throttled(): void
  /** A FIN was swallowed by the blackhole: the connection can no longer end cleanly. */
  suppressedEnd(): void
}

type Item =
  | { kind: 'data'; data: Buffer; readyAt: number; waited: boolean; afterwards?: () => void }
  | { kind: 'end'; readyAt: number }

/** Above this many queued bytes the source is paused, so a throttled or delayed link pushes back like TCP does. */
const HIGH_WATER = 1 << 20
const LOW_WATER = 1 << 18

export class Pipe {
  private readonly queue: Item[] = []
  private queuedBytes = 0
  private timer: NodeJS.Timeout | undefined
  private awaitingDrain = false
  /** Set once a mid-frame cut has been scheduled: nothing that arrives afterwards belongs on the wire. */
  private closing = false
  private stopped = false

  constructor(
    private readonly source: net.Socket,
    private readonly dest: net.Socket,
    private readonly hooks: PipeHooks,
  ) {
    source.on('data', (chunk: Buffer) => this.arrive(chunk))
    source.on('end', () => this.arriveEnd())
  }

  /** Re-evaluates the head now: called when a control changed (blackhole, throttle) so no stale timer delays it. */
  kick(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.pump()
  }

  /** Drops everything queued and ignores the source from now on: the connection is being torn down. */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
    this.queuedBytes = 0
  }

  private arrive(chunk: Buffer): void {
    if (this.stopped || this.closing) return
    if (this.hooks.blackholed()) {
      this.hooks.dropped(chunk.length)
      return
    }
    const readyAt = this.readyAt()
    const cut = this.hooks.takeCut()
    if (cut !== undefined) {
      // Only the first half goes out, then the connection dies: the peer is left holding a partial frame.
      this.closing = true
      this.source.pause()
      this.enqueue({
        kind: 'data',
        data: chunk.subarray(0, Math.floor(chunk.length / 2)),
        readyAt,
        waited: false,
        afterwards: cut,
      })
    } else {
      this.enqueue({ kind: 'data', data: chunk, readyAt, waited: false })
    }
    if (this.queuedBytes > HIGH_WATER) this.source.pause()
    this.pump()
  }

  private arriveEnd(): void {
    if (this.stopped || this.closing) return
    if (this.hooks.blackholed()) {
      this.hooks.suppressedEnd()
      return
    }
    this.enqueue({ kind: 'end', readyAt: this.readyAt() })
    this.pump()
  }

  private readyAt(): number {
    const ms = this.hooks.latencyMs()
    if (ms > 0) this.hooks.delayed()
    return performance.now() + ms
  }

  private enqueue(item: Item): void {
    this.queue.push(item)
    if (item.kind === 'data') this.queuedBytes += item.data.length
  }

  /** Writes as much of the queue as latency, tokens and the destination's buffer allow, strictly in order. */
  private pump(): void {
    if (this.stopped || this.timer !== undefined || this.awaitingDrain) return
    for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
      if (this.dest.destroyed) {
        this.stop()
        return
      }
      if (this.hooks.blackholed()) {
        this.queue.shift()
        if (head.kind === 'end') this.hooks.suppressedEnd()
        else {
          this.queuedBytes -= head.data.length
          this.hooks.dropped(head.data.length)
          // A dropped half still has to be cut, or the cut's promise would never settle.
          head.afterwards?.()
        }
        continue
      }
      const wait = head.readyAt - performance.now()
      if (wait > 0) {
        this.wait(wait)
        return
      }
      if (head.kind === 'end') {
        this.queue.shift()
        this.dest.end()
        continue
      }
      let n = head.data.length
      const bucket = this.hooks.bucket()
      if (bucket !== null && n > 0) {
        n = bucket.take(n)
        if (n === 0) {
          if (!head.waited) this.hooks.throttled()
          head.waited = true
          this.wait(bucket.waitMs(head.data.length))
          return
        }
      }
      const slice = head.data.subarray(0, n)
      head.data = head.data.subarray(n)
      this.queuedBytes -= n
      const flushed = n === 0 || this.dest.write(slice)
      this.hooks.forwarded(n)
      if (head.data.length === 0) {
        this.queue.shift()
        if (head.afterwards !== undefined) {
          head.afterwards()
          return
        }
      }
      if (!flushed) {
        this.awaitingDrain = true
        this.dest.once('drain', () => {
          this.awaitingDrain = false
          this.pump()
        })
        return
      }
    }
    if (!this.closing && this.queuedBytes < LOW_WATER && this.source.isPaused()) this.source.resume()
  }

  private wait(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.pump()
      },
      Math.max(1, Math.ceil(ms)),
    )
  }
}

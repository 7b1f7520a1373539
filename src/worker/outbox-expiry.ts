import type { DroppedMessage } from '../protocol/port.ts'
import { dropExpired, type OutboxStore } from './outbox-store.ts'
import type { Clock, TimerId } from './platform.ts'

/** Timers are set at most this far ahead (setTimeout overflows past 2³¹ − 1 ms); a later expiry is looked at again. */
const MAX_WAIT = 24 * 60 * 60_000

/**
 * The owner's watch on queued messages with a `ttl`: at the earliest expiry it drops every message whose time has
 * passed and that was never written, also while offline (a message written meanwhile is marked and stays). Learns
 * of expiries from commits (this worker's and, over the bus, other workers'), and from the whole queue when it starts.
 */
export class OutboxExpiry {
  #timer: TimerId | undefined
  #at = Number.POSITIVE_INFINITY
  #sweeping = false
  #again = false
  #stopped = false

  readonly #outbox: OutboxStore
  readonly #clock: Clock
  readonly #expired: (messages: DroppedMessage[]) => void
  readonly #log: (message: string) => void

  constructor(
    outbox: OutboxStore,
    clock: Clock,
    expired: (messages: DroppedMessage[]) => void,
    log: (message: string) => void,
  ) {
    this.#outbox = outbox
    this.#clock = clock
    this.#expired = expired
    this.#log = log
  }

  /** Reads the whole queue once: messages stored before this worker owned the namespace may expire too. */
  start(): void {
    void this.#sweep()
  }

  /** A commit holds a message expiring at `at`. */
  saw(at: number | undefined): void {
    if (at === undefined || this.#stopped || at >= this.#at) return
    this.#schedule(at)
  }

  stop(): void {
    this.#stopped = true
    this.#clock.clearTimeout(this.#timer)
  }

  #schedule(at: number): void {
    this.#clock.clearTimeout(this.#timer)
    this.#at = at
    if (at === Number.POSITIVE_INFINITY) return
    const wait = Math.min(MAX_WAIT, Math.max(0, at - this.#clock.now()))
    this.#timer = this.#clock.setTimeout(() => void this.#sweep(), wait)
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping) {
      this.#again = true
      return
    }
    this.#sweeping = true
    this.#at = Number.POSITIVE_INFINITY
    try {
      do {
        this.#again = false
        const { expired, next } = await dropExpired(this.#outbox)
        if (this.#stopped) return
        if (expired.length > 0) this.#expired(expired)
        if (next < this.#at) this.#schedule(next)
      } while (this.#again && !this.#stopped)
    } catch (e) {
      this.#log(`dropping expired messages failed: ${String(e)}`)
      // Tried again at the next commit of an expiring message, or by the next owner.
    } finally {
      this.#sweeping = false
    }
  }
}

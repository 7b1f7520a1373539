import type { ResetNotice } from '../protocol/port.ts'

/** What a stream needs of the wire: one subscription from `after`, ended by the function it resolves with. */
export type OpenSubscription<M> = (
  after: number | 'latest',
  onMessage: (m: M) => Promise<void> | undefined,
  onReset: (n: ResetNotice) => void,
) => Promise<() => Promise<void>>

export interface StreamOptions {
  after: number | 'latest'
  conflate: boolean
  /** Messages waiting for the loop before the stream pauses its subscription. */
  buffer: number
  onReset: ((n: ResetNotice) => void) | undefined
  signal: AbortSignal | undefined
}

type Entry<M> = { message: M } | { reset: ResetNotice }

/**
 * `wire.messages()`: a subscription read with `for await`. It subscribes on the first `next()`, and ends (`done`)
 * on `break`, on `signal`'s abort and when the wire closes; a failed subscribe rejects `next()`.
 *
 * Memory stays bounded when the loop is slower than the topic. Without `conflate`, once `buffer` messages wait, the
 * stream ends its subscription (what is still on its way is dropped) and, when the loop has taken every waiting
 * message, subscribes again after the last one: the worker replays the rest from its local log or the server, so
 * nothing is lost or repeated. With `conflate`, the worker sends one message at a time and the next only when the loop
 * asks for it, so at most one waits, and the loop gets the newest one each time it comes back.
 */
export class MessageStream<M extends { seq: number }> implements AsyncIterableIterator<M> {
  readonly #buffer: Entry<M>[] = []
  #waiter: { resolve: (r: IteratorResult<M>) => void; reject: (e: unknown) => void } | undefined
  #stop: (() => Promise<void>) | undefined
  #started = false
  #paused = false
  /** Counts subscriptions: what an ended one still delivers, or its late answer, is ignored. */
  #generation = 0
  #done = false
  #failure: { error: unknown } | undefined
  /** Where the next subscription starts: the last seq received, or `latest` until one arrived. */
  #after: number | 'latest'
  /** `conflate`: settles the worker's delivery of the message the loop took last, once the loop wants another. */
  #taken: (() => void) | undefined
  readonly #ackOf = new WeakMap<Entry<M>, () => void>()

  readonly #open: OpenSubscription<M>
  readonly #options: StreamOptions
  readonly #unlisten: () => void

  constructor(open: OpenSubscription<M>, options: StreamOptions, onWireClose: (end: () => void) => () => void) {
    this.#open = open
    this.#options = options
    this.#after = options.after
    const end = () => void this.return()
    const { signal } = options
    signal?.addEventListener('abort', end, { once: true })
    const unlistenClose = onWireClose(end)
    this.#unlisten = () => {
      signal?.removeEventListener('abort', end)
      unlistenClose()
    }
    if (signal?.aborted) end()
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  next(): Promise<IteratorResult<M>> {
    this.#taken?.()
    this.#taken = undefined
    for (;;) {
      const entry = this.#buffer.shift()
      if (!entry) break
      if ('reset' in entry) {
        this.#options.onReset?.(entry.reset)
        continue
      }
      this.#taken = this.#ackOf.get(entry)
      if (this.#paused && this.#buffer.length === 0) this.#subscribe()
      return Promise.resolve({ value: entry.message, done: false })
    }
    if (this.#failure) {
      const { error } = this.#failure
      this.#failure = undefined
      void this.return()
      return Promise.reject(error)
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true })
    if (!this.#started || this.#paused) this.#subscribe()
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }))
  }

  /** Ends the stream: its subscription stops, waiting messages are dropped, `next()` answers `done`. */
  async return(): Promise<IteratorResult<M>> {
    if (!this.#done) {
      this.#done = true
      this.#unlisten()
      this.#buffer.length = 0
      this.#taken?.()
      this.#waiter?.resolve({ value: undefined, done: true })
      this.#waiter = undefined
      await this.#stopSubscription()
    }
    return { value: undefined, done: true }
  }

  #subscribe(): void {
    this.#started = true
    this.#paused = false
    const generation = ++this.#generation
    const current = () => generation === this.#generation && !this.#done && !this.#paused
    const opened = this.#open(
      this.#after,
      (m) => (current() ? this.#message(m) : undefined),
      (n) => current() && this.#reset(n),
    )
    const stopping = opened.then((stop) => {
      if (current()) this.#stop = stop
      else void stop().catch(() => undefined)
    })
    stopping.catch((error: unknown) => {
      if (!current()) return
      if (this.#waiter) {
        this.#waiter.reject(error)
        this.#waiter = undefined
        void this.return()
      } else {
        this.#failure = { error }
      }
    })
  }

  async #stopSubscription(): Promise<void> {
    const stop = this.#stop
    this.#stop = undefined
    await stop?.().catch(() => undefined)
  }

  #message(m: M): Promise<void> | undefined {
    this.#after = m.seq
    const entry: Entry<M> = { message: m }
    const delivered = this.#options.conflate
      ? new Promise<void>((resolve) => this.#ackOf.set(entry, resolve))
      : undefined
    if (this.#waiter && this.#buffer.length === 0) {
      this.#waiter.resolve({ value: m, done: false })
      this.#waiter = undefined
      this.#taken = this.#ackOf.get(entry)
      return delivered
    }
    this.#buffer.push(entry)
    if (!this.#options.conflate && this.#buffer.length >= this.#options.buffer) {
      this.#paused = true
      this.#generation++
      void this.#stopSubscription()
    }
    return delivered
  }

  #reset(n: ResetNotice): void {
    this.#after = n.seq
    this.#buffer.push({ reset: n })
    // A loop waiting for a message sees the reset first, in order, then goes on waiting.
    if (this.#waiter && this.#buffer.length === 1) {
      const waiter = this.#waiter
      this.#waiter = undefined
      this.next().then(waiter.resolve, waiter.reject)
    }
  }
}

import type { MessageStream, OpenSubscription, StreamOptions } from './message-stream.ts'

type StreamCode = typeof import('./message-stream.ts')

const DONE: IteratorResult<never> = { done: true, value: undefined }

/**
 * What `wire.messages()` returns: the stream's code (message-stream.ts, a chunk of its own) is fetched on the loop's
 * first `next()`, which is when a stream subscribes anyway, so nothing is received earlier than before. A stream ended
 * before that (`return()`, `signal`, the wire closing) never loads it; one whose load failed rejects that `next()`
 * with `load-failed` and tries again on the next.
 */
export class LazyStream<M extends { seq: number }> implements AsyncIterableIterator<M> {
  #stream: Promise<MessageStream<M>> | undefined
  #ended = false
  readonly #load: () => Promise<StreamCode>
  readonly #open: OpenSubscription<M>
  readonly #options: StreamOptions
  readonly #onWireClose: (end: () => void) => () => void
  /** Until the stream exists, the wire's close ends this one; then the stream listens itself. */
  readonly #unlisten: () => void

  constructor(
    load: () => Promise<StreamCode>,
    open: OpenSubscription<M>,
    options: StreamOptions,
    onWireClose: (end: () => void) => () => void,
  ) {
    this.#load = load
    this.#open = open
    this.#options = options
    this.#onWireClose = onWireClose
    this.#unlisten = onWireClose(() => {
      this.#ended = true
    })
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  next(): Promise<IteratorResult<M>> {
    if (this.#ended || this.#options.signal?.aborted) return this.return()
    this.#stream ??= this.#load().then(
      ({ MessageStream }) => {
        this.#unlisten()
        const stream = new MessageStream<M>(this.#open, this.#options, this.#onWireClose)
        if (this.#ended) void stream.return()
        return stream
      },
      (e: unknown) => {
        this.#stream = undefined
        throw e
      },
    )
    return this.#stream.then((s) => s.next())
  }

  return(): Promise<IteratorResult<M>> {
    this.#ended = true
    if (this.#stream) return this.#stream.then((s) => s.return())
    this.#unlisten()
    return Promise.resolve(DONE)
  }
}

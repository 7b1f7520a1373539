import type { Body, ReplyError, RequestFrame } from '../protocol/frames.ts'
import { MAX_BODY_DEPTH, nestsDeeperThan } from '../protocol/depth.ts'
import type { ReplyErrorCode } from '../protocol/server-errors.ts'
import type { Outbox } from './outbox.ts'

/** What a request handler is told about the question. */
export interface RequestContext {
  /** The authenticated user who asked. */
  user: string
  /** The asking browser's namespace client id. */
  client: string
  topic: string
  body: Body
  /** Aborted when the asker's connection closes or `requestTimeout` passes: the answer would go nowhere. */
  signal: AbortSignal
}

/**
 * Answers a request: the JSON value or bytes it returns (or resolves) go back to the asker; what it throws reaches
 * the asker as a `TabwireError` with code `remote` and the thrown error's message.
 */
export type RequestHandler = (request: RequestContext) => Body | Promise<Body>

/** The server's handlers: one per topic (`server.handle`), else the catch-all `onRequest`. */
export class Handlers {
  private readonly byTopic = new Map<string, RequestHandler>()

  constructor(private readonly fallback: RequestHandler | undefined) {}

  /** Registers the handler of `topic`, replacing any earlier one; returns the function that removes it. */
  handle(topic: string, fn: RequestHandler): () => void {
    if (typeof topic !== 'string' || topic === '')
      throw new TypeError('handle(topic, fn): topic must be a non-empty string')
    if (typeof fn !== 'function') throw new TypeError('handle(topic, fn): fn must be a function')
    this.byTopic.set(topic, fn)
    return () => {
      if (this.byTopic.get(topic) === fn) this.byTopic.delete(topic)
    }
  }

  find(topic: string): RequestHandler | undefined {
    return this.byTopic.get(topic) ?? this.fallback
  }
}

export interface RequestLimits {
  /** Handlers of one connection running at once; more requests wait, and the connection stops reading meanwhile. */
  maxConcurrent: number
  /** A handler that has not answered after this many ms gets the asker a `timeout` reply. */
  timeout: number
  /** Largest reply body, bytes (JSON text in UTF-8, or bytes). */
  maxReplyBytes: number
}

export interface RequestsHost {
  handlers: Handlers
  limits: RequestLimits
  out: Outbox
  identity(): { user: string; client: string } | undefined
  /** `true` without waiting when the server has no `authorize`. */
  allowed(topic: string): boolean | Promise<boolean>
}

/**
 * The requests of one connection. Each is answered exactly once, by one `reply` with its id: the handler's answer,
 * or an error (`not-found`, `forbidden`, `remote`, `timeout`, `too-large`, `invalid-body`). At most `maxConcurrent`
 * handlers run at once: `accept` resolves once the request has a slot, and the connection awaits it, so a flood of
 * requests stops the connection reading instead of growing a queue. A reply waits for room in the connection's
 * outbox like a replay does. When the connection closes, running handlers see their signal abort.
 */
export class ConnectionRequests {
  private running = 0
  private readonly slots: (() => void)[] = []
  private readonly aborts = new Set<HandlerSignal>()
  private closed = false

  constructor(private readonly host: RequestsHost) {}

  /** Starts answering `frame`; resolves once it holds a slot (its answer comes later). */
  async accept(frame: RequestFrame): Promise<void> {
    if (this.running >= this.host.limits.maxConcurrent) await new Promise<void>((resolve) => this.slots.push(resolve))
    if (this.closed) return
    this.running++
    void this.answer(frame).finally(() => {
      this.running--
      this.slots.shift()?.()
    })
  }

  /** The connection is gone: every running handler's signal aborts, and waiting requests are let go unanswered. */
  close(): void {
    this.closed = true
    for (const abort of this.aborts) abort.abort(new Error('the connection closed'))
    for (const slot of this.slots.splice(0)) slot()
  }

  private async answer(frame: RequestFrame): Promise<void> {
    const identity = this.host.identity()
    if (!identity) return
    const verdict = this.host.allowed(frame.topic)
    if (verdict !== true && !(verdict !== false && (await verdict)))
      return this.fail(frame.id, 'forbidden', `not allowed to request ${frame.topic}`)
    const handler = this.host.handlers.find(frame.topic)
    if (!handler) return this.fail(frame.id, 'not-found', `no handler for ${frame.topic}`)
    const abort = new HandlerSignal()
    this.aborts.add(abort)
    const context: RequestContext = {
      ...identity,
      topic: frame.topic,
      body: frame.body,
      get signal() {
        return abort.signal
      },
    }
    let timer: NodeJS.Timeout | undefined
    try {
      let result = handler(context)
      // An answer given at once needs no timer: only a pending one can outlive `timeout`.
      if (isThenable(result)) {
        const { timeout } = this.host.limits
        const expired = new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), timeout)
        })
        const settled = await Promise.race([result, expired])
        if (settled === TIMED_OUT) {
          abort.abort(new Error('request timeout'))
          return this.fail(frame.id, 'timeout', `the handler of ${frame.topic} did not answer within ${timeout} ms`)
        }
        result = settled
      }
      abort.answered()
      await this.reply(frame.id, result)
    } catch (error) {
      if (abort.aborted) return
      this.fail(frame.id, 'remote', thrownMessage(error))
    } finally {
      clearTimeout(timer)
      this.aborts.delete(abort)
    }
  }

  private async reply(id: number, body: unknown): Promise<void> {
    const size = bodySize(body)
    if (size === undefined) return this.fail(id, 'invalid-body', 'the handler answered with no JSON value nor bytes')
    const { maxReplyBytes } = this.host.limits
    if (size > maxReplyBytes)
      return this.fail(id, 'too-large', `the answer is ${size} bytes; at most ${maxReplyBytes} are sent`)
    if (this.host.out.congested) await this.host.out.room()
    this.host.out.push({ t: 'reply', id, body: body as Body })
  }

  private fail(id: number, code: ReplyErrorCode, message: string): void {
    const error: ReplyError = { code, message }
    this.host.out.push({ t: 'reply', id, error })
  }
}

/**
 * What a handler threw, as its reply's message. Never throws itself: `String()` of an object without a callable
 * `toString` (one made with `Object.create(null)`, or a client's own body thrown back) throws a TypeError, which here
 * would reject a promise nobody handles and end the server's process.
 */
function thrownMessage(error: unknown): string {
  try {
    const text: unknown = error instanceof Error ? error.message : String(error)
    if (typeof text === 'string') return text
  } catch {
    // Named below.
  }
  return 'the handler threw a value with no message'
}

const TIMED_OUT = Symbol('timed out')

/**
 * A handler's `signal`, made on first read: most handlers never read it, and an AbortController (an EventTarget)
 * costs more than the rest of a request. Read after its request timed out or its connection closed, it is born
 * aborted; once the handler has answered, it never aborts.
 */
class HandlerSignal {
  #controller: AbortController | undefined
  #reason: Error | undefined
  #answered = false

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#reason) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  get aborted(): boolean {
    return this.#reason !== undefined
  }

  abort(reason: Error): void {
    if (this.#reason || this.#answered) return
    this.#reason = reason
    this.#controller?.abort(reason)
  }

  answered(): void {
    this.#answered = true
  }
}

function isThenable(value: unknown): value is PromiseLike<Body> {
  return typeof (value as PromiseLike<Body> | null)?.then === 'function'
}

/** The size a body will have on the wire, or undefined when it cannot travel (a function, a cycle, too deep). */
function bodySize(body: unknown): number | undefined {
  if (body instanceof Uint8Array) return body.byteLength
  if (body === undefined || nestsDeeperThan(body as Body, MAX_BODY_DEPTH)) return undefined
  try {
    const text = JSON.stringify(body)
    return text === undefined ? undefined : Buffer.byteLength(text)
  } catch {
    return undefined
  }
}

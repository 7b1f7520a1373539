import { encodeBinaryMessage } from '../protocol/binary.ts'
import { requestFrameText } from '../protocol/encode.ts'
import type { ErrorCode } from '../protocol/errors.ts'
import type { ReplyFrame } from '../protocol/frames.ts'
import type { RequestOutcome } from '../protocol/port.ts'
import type { Clock, TimerId } from './platform.ts'
import { MAX_PENDING_REQUESTS } from './request-limit.ts'

/** What the book needs of the socket. */
export interface RequestSocket {
  readonly isOpen: boolean
  send(data: string | Uint8Array): boolean
}

interface Pending {
  key: string
  topic: string
  body: string | Uint8Array
  done: (outcome: RequestOutcome) => void
  timer: TimerId
  /** The wire id once written to the current connection; undefined while it waits for one. */
  id: number | undefined
}

/** The server's reply error codes the tab sees under their own name; any other is `remote`. */
const OWN_CODES: readonly string[] = ['not-found', 'forbidden', 'timeout']

/**
 * The owner's requests in flight: each is written once the socket is open (waiting for it until its timeout), and
 * settled exactly once, by its `reply`, its timeout, a cancel, or the loss of the connection it was written to
 * (`disconnected`: it may have run, and is never resent, so a request is at most once). Keys name requests across
 * workers (`<worker>/<tab>/<req>`); wire ids are this book's own, so no two tabs' ids can collide on the socket.
 */
export class RequestBook {
  readonly #byKey = new Map<string, Pending>()
  readonly #byId = new Map<number, Pending>()
  #nextId = 1

  readonly #socket: RequestSocket
  readonly #clock: Clock

  constructor(socket: RequestSocket, clock: Clock) {
    this.#socket = socket
    this.#clock = clock
  }

  get size(): number {
    return this.#byKey.size
  }

  ask(key: string, topic: string, body: string | Uint8Array, timeout: number, done: (o: RequestOutcome) => void): void {
    const refused = this.#byKey.has(key)
      ? failure('invalid-argument', `request ${key} is already waiting`)
      : this.#byKey.size >= MAX_PENDING_REQUESTS
        ? failure('too-many-requests', `${MAX_PENDING_REQUESTS} requests are waiting for an answer already`)
        : undefined
    if (refused) {
      done(refused)
      return
    }
    const timer = this.#clock.setTimeout(() => {
      this.#settle(p, failure('timeout', `no answer to ${topic} within ${timeout} ms`))
    }, timeout)
    const p: Pending = { key, topic, body, done, timer, id: undefined }
    this.#byKey.set(key, p)
    if (this.#socket.isOpen) this.#write(p)
  }

  cancel(key: string): void {
    const p = this.#byKey.get(key)
    if (p) this.#forget(p)
  }

  /** A connection opened: every request still waiting for one is written now. */
  opened(): void {
    for (const p of this.#byKey.values()) if (p.id === undefined) this.#write(p)
  }

  /** The connection is gone: what was written to it will get no reply. */
  dropped(): void {
    for (const p of [...this.#byKey.values()])
      if (p.id !== undefined)
        this.#settle(p, failure('disconnected', `the connection dropped before ${p.topic} was answered`))
  }

  /** A reply to a request cancelled or timed out meanwhile finds nothing, and is dropped. */
  reply(f: ReplyFrame): void {
    const p = this.#byId.get(f.id)
    if (!p) return
    if ('body' in f) this.#settle(p, { ok: true, body: f.body })
    else {
      const own = OWN_CODES.includes(f.error.code)
      const code = (own ? f.error.code : 'remote') as ErrorCode
      const message = own || f.error.code === 'remote' ? f.error.message : `${f.error.code}: ${f.error.message}`
      this.#settle(p, failure(code, message))
    }
  }

  /** Every request ends: the worker leaves the socket to another owner. */
  close(): void {
    for (const p of [...this.#byKey.values()])
      this.#settle(p, failure('disconnected', 'the worker that owned the connection left'))
  }

  #write(p: Pending): void {
    const id = this.#nextId++
    const data =
      typeof p.body === 'string'
        ? requestFrameText(id, p.topic, p.body)
        : encodeBinaryMessage([{ t: 'request', id, topic: p.topic, body: p.body }])
    if (!this.#socket.send(data)) return
    p.id = id
    this.#byId.set(id, p)
  }

  #settle(p: Pending, outcome: RequestOutcome): void {
    if (this.#byKey.get(p.key) !== p) return
    this.#forget(p)
    p.done(outcome)
  }

  #forget(p: Pending): void {
    this.#clock.clearTimeout(p.timer)
    this.#byKey.delete(p.key)
    if (p.id !== undefined) this.#byId.delete(p.id)
  }
}

function failure(code: ErrorCode, message: string): RequestOutcome {
  return { ok: false, code, message }
}

import type { IncomingMessage } from 'node:http'
import { WebSocket, type RawData } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'
import { decodeClientMessage } from '../protocol/decode.ts'
import type { ClientFrame, Cursor, FetchFrame, HelloFrame, PubFrame } from '../protocol/frames.ts'
import { PROTOCOL_VERSION } from '../protocol/frames.ts'
import { AuthError } from './auth.ts'
import { Feed } from './feed.ts'
import { RateLimiter, type Authorize, type RateLimitOptions, type TopicAction } from './guard.ts'
import { Outbox } from './outbox.ts'
import type { Session, Sessions } from './sessions.ts'
import type { Store } from './store.ts'
import type { Topics } from './topics.ts'
import type { Identity } from './types.ts'

/** Incoming messages waiting for the store before the socket stops reading: a flooding client waits, memory doesn't grow. */
const MAX_QUEUED_MESSAGES = 64

/** Internal failure (a store error): the client retries as after any drop; its unacked pubs are resent. */
const INTERNAL_ERROR = 1011

/** What every connection of one server shares. */
export interface ConnectionContext {
  store: Store
  topics: Topics
  sessions: Sessions
  authenticate: (token: string | undefined, req: IncomingMessage) => Identity | Promise<Identity>
  maxFrameBytes: number
  idleTimeout: number
  replayBatch: number
  authorize?: Authorize | undefined
  rateLimit?: RateLimitOptions | undefined
  maxSubscriptions?: number | undefined
}

/**
 * The protocol of one WebSocket: hello and auth, pubs with dedup and cumulative acks, subscriptions, fetches, pings.
 *
 * Incoming messages are handled strictly one after another (a promise chain), because store calls are async and
 * the order of a client's pubs is the order of its ids. Replays and fetches run beside that chain, so a long replay
 * never delays an ack. Anything the client gets wrong ends this connection only, with an `error` frame and 4400.
 */
export class Connection implements Session {
  private identity: { user: string; client: string } | undefined
  private readonly feeds = new Map<string, Feed>()
  private readonly out: Outbox
  private chain: Promise<void> = Promise.resolve()
  /** Fetches of this connection, one at a time, beside the chain. */
  private fetches: Promise<void> = Promise.resolve()
  private queued = 0
  private readonly limiter: RateLimiter | undefined
  /** Went over `rateLimit`: the close is queued behind what was let in. */
  private limited = false
  /** We have started closing: nothing more is processed or sent. */
  private ending = false
  private readonly idle: NodeJS.Timeout
  /** Settles once the socket has closed and this connection has let go of its session and feeds. */
  readonly done: Promise<void>

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    private readonly ctx: ConnectionContext,
  ) {
    this.out = new Outbox(ws)
    this.limiter = ctx.rateLimit ? new RateLimiter(ctx.rateLimit) : undefined
    this.idle = setTimeout(() => this.close(CloseCode.HeartbeatTimeout, 'idle timeout'), ctx.idleTimeout)
    ws.on('message', (data, isBinary) => this.receive(data, isBinary))
    // ws has already closed the socket on a protocol error (4413 for oversize, see socket.ts); `close` cleans up.
    ws.on('error', () => {})
    this.done = new Promise((resolve) => {
      ws.on('close', () => {
        this.ending = true
        clearTimeout(this.idle)
        for (const feed of this.feeds.values()) this.drop(feed)
        if (this.identity) ctx.sessions.release(this.identity.user, this.identity.client, this)
        resolve()
      })
    })
  }

  /** Flushes what is queued, then closes. */
  close(code: number, reason: string): void {
    if (this.ended) return
    this.ending = true
    this.out.flush()
    this.ws.close(code, closeReason(reason))
  }

  supersede(): void {
    this.close(CloseCode.Superseded, 'superseded by a newer connection')
  }

  private get ended(): boolean {
    return this.ending || this.ws.readyState !== WebSocket.OPEN
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.ended || this.limited) return
    this.idle.refresh()
    const wait = this.limiter?.take() ?? 0
    if (wait > 0) {
      // Over the rate: this message and any after it are not read; those already let in are handled first, then the
      // close. Pubs not acked by then are resent by the client after the wait.
      this.limited = true
      this.ws.pause()
      this.chain = this.chain.then(() => {
        // Reading again lets the close handshake complete; what still arrives is dropped above.
        this.ws.resume()
        this.close(CloseCode.RateLimited, `retry-after=${wait}`)
      })
      return
    }
    if (++this.queued === MAX_QUEUED_MESSAGES) this.ws.pause()
    this.chain = this.chain
      .then(() => this.handle(isBinary ? data : data.toString()))
      .catch((error: unknown) => this.internal(error))
      .finally(() => {
        if (--this.queued < MAX_QUEUED_MESSAGES && this.ws.isPaused && !this.limited) this.ws.resume()
      })
  }

  private async handle(data: unknown): Promise<void> {
    if (this.ended) return
    const decoded = decodeClientMessage(data, this.ctx.maxFrameBytes)
    if (!decoded.ok) return this.reject(decoded.error.code, decoded.error.message)
    let frames = decoded.frames
    if (!this.identity) {
      const [first, ...rest] = frames
      if (first?.t !== 'hello') return this.reject('hello-expected', 'the first frame must be hello')
      await this.hello(first)
      frames = rest
    }
    // All pubs of one message go to the store in one call and get one ack, where the first of them stands.
    const pubs = frames.filter((f): f is PubFrame => f.t === 'pub')
    for (const frame of frames) {
      if (this.ended) return
      if (frame.t === 'pub') {
        if (frame === pubs[0]) await this.publish(pubs)
      } else {
        await this.control(frame)
      }
    }
  }

  private async control(frame: Exclude<ClientFrame, PubFrame>): Promise<void> {
    switch (frame.t) {
      case 'hello':
        return this.reject('hello-repeated', 'hello may only be the first frame')
      case 'sub':
        return void (await this.subscribe(frame))
      case 'unsub': {
        const feed = this.feeds.get(frame.topic)
        if (feed) this.drop(feed)
        return
      }
      case 'fetch':
        this.fetches = this.fetches.then(() => this.fetch(frame)).catch((error: unknown) => this.internal(error))
        return
      case 'ping':
        return this.out.push({ t: 'pong', n: frame.n })
    }
  }

  private async hello(hello: HelloFrame): Promise<void> {
    let identity: Identity
    try {
      identity = await this.ctx.authenticate(hello.token, this.req)
    } catch (error) {
      const auth = error instanceof AuthError ? error : undefined
      // Only an AuthError's message is meant for the client; anything else may leak internals.
      if (auth?.expired) return this.close(CloseCode.AuthExpired, auth.message)
      return this.close(CloseCode.Forbidden, auth?.message ?? 'forbidden')
    }
    if (this.ended) return
    const { user } = identity
    this.identity = { user, client: hello.client }
    this.ctx.sessions.claim(user, hello.client, this)
    const acked = await this.ctx.store.acked(user, hello.client)
    if (this.ended) return
    this.out.push({ t: 'welcome', v: PROTOCOL_VERSION, acked })
    for (const cursor of hello.subs) if (!(await this.subscribe(cursor))) return
  }

  /** Dedup lives in the store; this only turns its outcomes into one cumulative ack (a resent id is re-acked). */
  private async publish(all: PubFrame[]): Promise<void> {
    if (!this.identity) return
    const denied = await this.firstDenied(all)
    if (this.ended) return
    const pubs = denied === undefined ? all : all.slice(0, denied)
    if (pubs.length > 0 && !(await this.accept(pubs))) return
    const forbidden = denied === undefined ? undefined : all[denied]
    if (forbidden) {
      // Not appended, not acked: the client stops (4403 → `failed`) with the message still queued, rather than having
      // it dropped behind its back; its later pubs could not be accepted before this one anyway (ids are in order).
      this.out.push({ t: 'error', code: 'forbidden', message: `not allowed to publish to ${forbidden.topic}` })
      this.close(CloseCode.Forbidden, 'forbidden')
    }
  }

  /** Index of the first pub whose topic `authorize` denies; each distinct topic is asked once per message. */
  private async firstDenied(pubs: PubFrame[]): Promise<number | undefined> {
    if (!this.ctx.authorize) return undefined
    const verdicts = new Map<string, boolean>()
    for (const [i, p] of pubs.entries()) {
      let ok = verdicts.get(p.topic)
      if (ok === undefined) {
        ok = await this.allowed(p.topic, 'pub')
        verdicts.set(p.topic, ok)
      }
      if (!ok) return i
    }
    return undefined
  }

  private async allowed(topic: string, action: TopicAction): Promise<boolean> {
    const { authorize } = this.ctx
    if (!authorize || !this.identity) return true
    try {
      return (await authorize(this.identity.user, topic, action)) === true
    } catch (error) {
      console.error(`tabwire: authorize(${action} ${topic}) threw; denied`, error)
      return false
    }
  }

  /** Returns false when the connection is being closed (an out-of-order id). */
  private async accept(pubs: PubFrame[]): Promise<boolean> {
    if (!this.identity) return false
    const inputs = pubs.map(({ id, topic, body }) => ({ id, topic, body }))
    const outcomes = await this.ctx.store.accept(this.identity.user, this.identity.client, inputs)
    let acked = 0
    outcomes.forEach((outcome, i) => {
      if (outcome.kind !== 'out-of-order') acked = Math.max(acked, pubs[i]?.id ?? 0)
    })
    if (acked > 0) this.out.push({ t: 'ack', id: acked })
    const bad = outcomes.findIndex((o) => o.kind === 'out-of-order')
    const expected = outcomes[bad]
    if (expected?.kind === 'out-of-order') {
      this.reject('out-of-order', `pub.id ${pubs[bad]?.id} is out of order: expected ${expected.expected}`)
      return false
    }
    return true
  }

  /** Returns false when the connection is being closed (over `maxSubscriptions`). */
  private async subscribe(cursor: Cursor): Promise<boolean> {
    if (!(await this.allowed(cursor.topic, 'sub'))) {
      this.out.push({ t: 'error', code: 'forbidden', message: `not allowed to subscribe to ${cursor.topic}` })
      return true
    }
    if (this.ended) return false
    const old = this.feeds.get(cursor.topic)
    const max = this.ctx.maxSubscriptions
    if (!old && max !== undefined && this.feeds.size >= max) {
      this.reject('too-many-subscriptions', `at most ${max} subscriptions per connection`)
      return false
    }
    if (old) this.drop(old)
    const { store, topics, replayBatch } = this.ctx
    const feed = new Feed(cursor.topic, cursor, {
      store,
      out: this.out,
      batch: replayBatch,
      fail: (error) => this.internal(error),
    })
    this.feeds.set(cursor.topic, feed)
    // Listen before the first read, so nothing appended while it runs can be missed.
    topics.add(feed)
    feed.start()
    return true
  }

  private drop(feed: Feed): void {
    feed.stop()
    this.ctx.topics.remove(feed)
    if (this.feeds.get(feed.topic) === feed) this.feeds.delete(feed.topic)
  }

  /** `range` frames of `replayBatch` msgs; the first may start after `after + 1` when older ones are gone. */
  private async fetch(f: FetchFrame): Promise<void> {
    if (!(await this.allowed(f.topic, 'sub'))) {
      this.out.push({ t: 'error', code: 'forbidden', message: `not allowed to read ${f.topic}` })
      return
    }
    let after = f.after
    let left = f.limit
    for (;;) {
      if (this.ended) return
      const r = await this.ctx.store.read(f.topic, after, Math.min(left, this.ctx.replayBatch))
      if (this.ended) return
      left -= r.msgs.length
      const lastSeq = r.msgs.at(-1)?.seq ?? after
      const done = r.msgs.length === 0 || left <= 0 || lastSeq >= r.last
      const msgs = r.msgs.map(({ seq, epoch, body }) => ({ seq, epoch, body }))
      this.out.push({ t: 'range', req: f.req, topic: f.topic, msgs, done })
      if (done) return
      after = lastSeq
      await this.out.flushed()
    }
  }

  private reject(code: string, message: string): void {
    if (this.ended) return
    this.out.push({ t: 'error', code, message })
    this.close(CloseCode.BadFrame, code)
  }

  private internal(error: unknown): void {
    if (this.ended) return
    console.error('tabwire: closing a connection after an internal error', error)
    this.close(INTERNAL_ERROR, 'internal error')
  }
}

/** A close reason may hold at most 123 bytes of UTF-8. */
function closeReason(reason: string): string {
  const bytes = Buffer.from(reason)
  if (bytes.length <= 123) return reason
  // Cutting bytes can split a character; decoding drops the broken tail as U+FFFD, which we strip.
  return bytes.subarray(0, 120).toString().replace(/\uFFFD+$/, '') + '…'
}

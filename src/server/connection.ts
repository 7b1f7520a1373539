import type { IncomingMessage } from 'node:http'
import { WebSocket, type RawData } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'
import { decodeClientMessage } from '../protocol/decode.ts'
import type { ClientFrame, Cursor, FetchFrame, HelloFrame, PubFrame } from '../protocol/frames.ts'
import { PROTOCOL_VERSION } from '../protocol/frames.ts'
import { AuthError } from './auth.ts'
import { Feed } from './feed.ts'
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
    this.idle.refresh()
    if (++this.queued === MAX_QUEUED_MESSAGES) this.ws.pause()
    this.chain = this.chain
      .then(() => this.handle(isBinary ? data : data.toString()))
      .catch((error: unknown) => this.internal(error))
      .finally(() => {
        if (--this.queued < MAX_QUEUED_MESSAGES && this.ws.isPaused) this.ws.resume()
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
        this.control(frame)
      }
    }
  }

  private control(frame: Exclude<ClientFrame, PubFrame>): void {
    switch (frame.t) {
      case 'hello':
        return this.reject('hello-repeated', 'hello may only be the first frame')
      case 'sub':
        return this.subscribe(frame)
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
    for (const cursor of hello.subs) this.subscribe(cursor)
  }

  /** Dedup lives in the store; this only turns its outcomes into one cumulative ack (a resent id is re-acked). */
  private async publish(pubs: PubFrame[]): Promise<void> {
    if (!this.identity) return
    const inputs = pubs.map(({ id, topic, body }) => ({ id, topic, body }))
    const outcomes = await this.ctx.store.accept(this.identity.user, this.identity.client, inputs)
    let acked = 0
    outcomes.forEach((outcome, i) => {
      if (outcome.kind !== 'out-of-order') acked = Math.max(acked, pubs[i]?.id ?? 0)
    })
    if (acked > 0) this.out.push({ t: 'ack', id: acked })
    const bad = outcomes.findIndex((o) => o.kind === 'out-of-order')
    const expected = outcomes[bad]
    if (expected?.kind === 'out-of-order')
      this.reject('out-of-order', `pub.id ${pubs[bad]?.id} is out of order: expected ${expected.expected}`)
  }

  private subscribe(cursor: Cursor): void {
    const old = this.feeds.get(cursor.topic)
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
  }

  private drop(feed: Feed): void {
    feed.stop()
    this.ctx.topics.remove(feed)
    if (this.feeds.get(feed.topic) === feed) this.feeds.delete(feed.topic)
  }

  /** `range` frames of `replayBatch` msgs; the first may start after `after + 1` when older ones are gone. */
  private async fetch(f: FetchFrame): Promise<void> {
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

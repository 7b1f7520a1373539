import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { WebSocket, type RawData } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'
import { decodeClientMessage } from '../protocol/decode.ts'
import type {
  AuthFrame,
  ClientFrame,
  Cursor,
  FetchFrame,
  HelloFrame,
  PubFrame,
  Refusal,
  SkipFrame,
  SubFrame,
  VoidFrame,
  VpubFrame,
} from '../protocol/frames.ts'
import { PROTOCOL_VERSION } from '../protocol/frames.ts'
import type { ServerErrorCode } from '../protocol/server-errors.ts'
import { AuthError } from './auth.ts'
import { checkedIdentity, Expiry, expiresIn } from './expiry.ts'
import { Feed } from './feed.ts'
import { judge } from './judge.ts'
import { latestStart } from './latest.ts'
import type { Authorize, RateLimiter, TopicAction, Validate } from './guard.ts'
import type { Observer } from './observer.ts'
import { Outbox, type OutputMeter } from './outbox.ts'
import type { PresenceHub } from './presence.ts'
import { PresenceSeat, type PresenceLimits } from './presence-seat.ts'
import type { RateLimits } from './rate-limits.ts'
import { ReadSizer } from './read-sizer.ts'
import type { Session, Sessions } from './sessions.ts'
import { EARLY_CALLS, type PubInput, type Store } from './store.ts'
import type { Topics } from './topics.ts'
import type { Identity } from './types.ts'
import { ConnectionRequests, type Handlers, type RequestLimits } from './requests.ts'
import type { VolatileRelay } from './volatile-relay.ts'

/** Incoming messages waiting for the store before the socket stops reading: a flooding client waits, memory doesn't grow. */
const MAX_QUEUED_MESSAGES = 64
/** …or this many bytes of them (one larger message is still let in alone). */
const MAX_QUEUED_BYTES = 4 << 20
/** Fetches waiting for their turn before the connection stops reading: a flood of `fetch` frames waits too. */
const MAX_QUEUED_FETCHES = 32

/**
 * `authorize` calls asked at once for the subscriptions of one message or `hello`: a client resubscribing 1,000 topics
 * waits for 1,000 / 32 lookups in a row, not 1,000, and a message full of subs starts no more than this many.
 */
const AUTHORIZE_AHEAD = 32

/** Internal failure (a store error): the client retries as after any drop; its unacked pubs are resent. */
const INTERNAL_ERROR = 1011

/** The frames that take a place in a client's id sequence. */
type Outgoing = PubFrame | SkipFrame | VoidFrame

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
  validate?: Validate | undefined
  /** `rateLimit`'s buckets, shared by the server's connections (keyed by user and client id). */
  rateLimits?: RateLimits | undefined
  maxSubscriptions?: number | undefined
  /** Where connections record the most bytes ever waiting for one of them. */
  meter: OutputMeter
  observer: Observer
  presence: PresenceHub
  presenceLimits: PresenceLimits
  /** Where `vpub`s go: to every node's subscribers of the topic, this one's included. */
  relay: VolatileRelay
  handlers: Handlers
  requestLimits: RequestLimits
  /** Counts the hellos under way for admission control (`AdmissionOptions.maxHellos`). */
  hellos?: { helloStarted(): () => void } | undefined
}

/**
 * The protocol of one WebSocket: hello and auth, pubs with dedup and cumulative acks, subscriptions, fetches, pings.
 *
 * Incoming messages are handled strictly one after another (a promise chain), because store calls are async and
 * the order of a client's pubs is the order of its ids. Replays and fetches run beside that chain, so a long replay
 * never delays an ack. Anything the client gets wrong ends this connection only, with an `error` frame and 4400.
 *
 * Every buffer is bounded per connection: incoming messages (`MAX_QUEUED_MESSAGES`/`_BYTES`, then the socket stops
 * reading), fetches (`MAX_QUEUED_FETCHES`), and what is sent (`Outbox`): a `sub` waits for room before it starts a
 * replay, and when more than `PAUSE_BYTES` wait for the client, the connection stops reading it until they drain.
 */
export class Connection implements Session {
  private identity: { user: string; client: string } | undefined
  private readonly feeds = new Map<string, Feed>()
  private readonly out: Outbox
  private readonly requests: ConnectionRequests
  private chain: Promise<void> = Promise.resolve()
  /** Fetches of this connection, one at a time, beside the chain. */
  private fetches: Promise<void> = Promise.resolve()
  private queued = 0
  private queuedBytes = 0
  private queuedFetches = 0
  /** This (user, client)'s `rateLimit` bucket, from hello on. */
  private limiter: RateLimiter | undefined
  /** This connection's presence memberships, from hello on. */
  private seat: PresenceSeat | undefined
  /** We have started closing: nothing more is processed or sent. */
  private ending = false
  private readonly idle: NodeJS.Timeout
  /** When the token runs out: close with 4401 (an accepted `auth` moves it). */
  private readonly expiry = new Expiry(() => this.close(CloseCode.AuthExpired, 'token expired'))
  /** Settles once the socket has closed and this connection has let go of its session and feeds. */
  readonly done: Promise<void>

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    private readonly ctx: ConnectionContext,
  ) {
    this.out = new Outbox(ws, (error) => this.internal(error), ctx.meter, ctx.observer)
    this.requests = new ConnectionRequests({
      handlers: ctx.handlers,
      limits: ctx.requestLimits,
      out: this.out,
      identity: () => this.identity,
      allowed: (topic) => (this.ctx.authorize ? this.allowed(topic, 'request') : true),
    })
    this.idle = setTimeout(() => this.close(CloseCode.HeartbeatTimeout, 'idle timeout'), ctx.idleTimeout)
    ws.on('message', (data, isBinary) => this.receive(data, isBinary))
    // ws has already closed the socket on a protocol error (4413 for oversize, see socket.ts); `close` cleans up.
    ws.on('error', () => {})
    this.done = new Promise((resolve) => {
      ws.on('close', () => {
        this.ending = true
        clearTimeout(this.idle)
        this.expiry.clear()
        for (const feed of this.feeds.values()) this.drop(feed)
        this.seat?.close()
        this.requests.close()
        if (this.identity) ctx.sessions.release(this.identity.user, this.identity.client, this)
        if (this.identity && this.limiter) ctx.rateLimits?.release(this.identity.user, this.identity.client)
        resolve()
      })
    })
  }

  /** Flushes what is queued, then closes. */
  close(code: number, reason: string): void {
    if (this.ended) return
    this.ending = true
    this.ctx.observer.closed(code)
    this.out.flush()
    this.ws.close(code, closeReason(reason))
    // The close handshake needs the client's close frame: read again (what still arrives is dropped).
    if (this.ws.isPaused) this.ws.resume()
  }

  supersede(): void {
    this.close(CloseCode.Superseded, 'superseded by a newer connection')
  }

  /** Bytes waiting to be sent to this client. */
  get pendingBytes(): number {
    return this.out.pending
  }

  private get ended(): boolean {
    return this.ending || this.ws.readyState !== WebSocket.OPEN
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.ended) return
    this.idle.refresh()
    const bytes = byteLength(data)
    this.ctx.observer.received(bytes)
    // Nothing in flight means every earlier message is handled: this one starts now, not a turn later (a volatile
    // or request round trip pays each turn).
    const idle = this.queued === 0
    this.queued++
    this.queuedBytes += bytes
    if (this.queued >= MAX_QUEUED_MESSAGES || this.queuedBytes >= MAX_QUEUED_BYTES) this.ws.pause()
    const message = isBinary ? data : data.toString()
    this.chain = (idle ? this.handle(message) : this.chain.then(() => this.handle(message)))
      // Replies the client does not read: stop reading it until they drain (its pongs and acks coalesce meanwhile).
      .then(() => (this.out.overloaded ? this.out.room() : undefined))
      .catch((error: unknown) => this.internal(error))
      .finally(() => {
        this.queued--
        this.queuedBytes -= bytes
        const full = this.queued >= MAX_QUEUED_MESSAGES || this.queuedBytes >= MAX_QUEUED_BYTES
        if (!full && this.ws.isPaused && !this.ended) this.ws.resume()
      })
  }

  private async handle(data: unknown): Promise<void> {
    if (this.ended) return
    const decoded = decodeClientMessage(data, this.ctx.maxFrameBytes)
    if (!decoded.ok) return this.reject(decoded.error.code, decoded.error.message)
    let frames = decoded.frames
    for (const f of frames) this.ctx.observer.frameIn(f.t)
    if (!this.identity) {
      const [first, ...rest] = frames
      if (first?.t !== 'hello') return this.reject('hello-expected', 'the first frame must be hello')
      const helloEnded = this.ctx.hellos?.helloStarted()
      try {
        await this.hello(first, frames.length, helloEnded)
      } finally {
        helloEnded?.()
      }
      frames = rest
    } else if (!this.withinRate(frames.length)) return
    // All pubs (and skips and voids) of one message are handled together, where the first of them stands: accepted
    // runs go to the store in one call each and get one ack.
    const pubs = frames.filter((f): f is Outgoing => f.t === 'pub' || f.t === 'skip' || f.t === 'void')
    const subs = this.verdicts(frames.filter((f): f is SubFrame => f.t === 'sub'))
    // Consecutive vpubs are relayed as one run: a burst of cursor moves in one message costs no turn per frame.
    const volatile: VpubFrame[] = []
    for (const frame of frames) {
      if (this.ended) return
      if (frame.t === 'vpub') {
        volatile.push(frame)
        continue
      }
      if (volatile.length > 0) await this.relayVolatile(volatile.splice(0))
      if (this.ended) return
      if (frame.t === 'pub' || frame.t === 'skip' || frame.t === 'void') {
        if (frame === pubs[0]) await this.publish(pubs)
      } else {
        await this.control(frame, subs)
      }
    }
    if (volatile.length > 0 && !this.ended) await this.relayVolatile(volatile)
  }

  /** `subs`: the verdicts on the message's `sub` frames, taken in their order. */
  private async control(
    frame: Exclude<ClientFrame, Outgoing | VpubFrame>,
    subs: { next(): Promise<boolean> },
  ): Promise<void> {
    switch (frame.t) {
      case 'hello':
        return this.reject('hello-repeated', 'hello may only be the first frame')
      case 'sub':
        return void (await this.subscribe(frame, await subs.next()))
      case 'unsub': {
        const feed = this.feeds.get(frame.topic)
        if (feed) this.drop(feed)
        return
      }
      case 'fetch':
        // A flood of fetches waits here, and so does everything the client sends after them.
        if (this.queuedFetches >= MAX_QUEUED_FETCHES) await this.fetches
        this.queuedFetches++
        this.fetches = this.fetches
          .then(() => this.fetch(frame))
          .catch((error: unknown) => this.internal(error))
          .finally(() => this.queuedFetches--)
        return
      case 'ping':
        this.out.push({ t: 'pong', n: frame.n })
        return
      case 'pjoin':
      case 'pstate':
      case 'pleave':
        return this.seat?.receive(frame)
      case 'request':
        return this.requests.accept(frame)
      case 'auth':
        return this.reauth(frame)
    }
  }

  /**
   * A fresh token on the open connection. Refused (`auth-refused`): nothing changes, the old token still runs out
   * when it was going to. Another user's: the session was bound to this one (its counter, its subscriptions' rights),
   * so it ends (`user-mismatch`, 4403). Handled in the chain like any frame: one at a time per connection.
   */
  private async reauth(frame: AuthFrame): Promise<void> {
    if (!this.identity) return
    let identity: Identity
    try {
      identity = checkedIdentity(await this.ctx.authenticate(frame.token, this.req))
    } catch (error) {
      // Only an AuthError's message is meant for the client; anything else may leak internals.
      const message = error instanceof AuthError ? error.message : 'refused'
      if (!this.ended) this.out.push({ t: 'error', code: 'auth-refused', message })
      return
    }
    if (this.ended) return
    if (identity.user !== this.identity.user) {
      this.out.push({ t: 'error', code: 'user-mismatch', message: 'the new token belongs to another user' })
      return this.close(CloseCode.Forbidden, 'user-mismatch')
    }
    if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
      this.out.push({ t: 'error', code: 'auth-refused', message: 'token expired' })
      return
    }
    this.expiry.set(identity.expiresAt)
    this.out.push(
      identity.expiresAt === undefined ? { t: 'authed' } : { t: 'authed', expiresIn: expiresIn(identity.expiresAt) },
    )
  }

  /** Ends this session from the backend (`server.disconnect`): 4401 or 4403, as it chose. */
  end(code: number, reason: string): void {
    this.close(code, reason)
  }

  /**
   * A run of vpubs, in order. `authorize` is asked once per topic of the run (not at all without it); a denied one is
   * dropped with `error forbidden` and the connection stays (nothing was promised to arrive).
   */
  private async relayVolatile(run: readonly VpubFrame[]): Promise<void> {
    const denied = this.ctx.authorize ? await this.deniedTopics(run) : undefined
    for (const { topic, body } of run) {
      if (this.ended) return
      if (denied?.has(topic))
        this.out.push({ t: 'error', code: 'forbidden', message: `not allowed to publish to ${topic}` })
      else this.ctx.relay.publish({ topic, body })
    }
  }

  private async deniedTopics(run: readonly VpubFrame[]): Promise<Set<string>> {
    const topics = [...new Set(run.map((f) => f.topic))]
    const verdicts = await Promise.all(topics.map((topic) => this.allowed(topic, 'pub')))
    return new Set(topics.filter((_, i) => !verdicts[i]))
  }

  /**
   * `frames`: how many frames the message holding this hello has, all paid for from the client's rate budget.
   * `answered`: admission's count of hellos under way ends at the welcome; the subscriptions after it wait on the
   * client's reading, which must not hold a place others need.
   */
  private async hello(hello: HelloFrame, frames: number, answered?: () => void): Promise<void> {
    let identity: Identity
    try {
      identity = checkedIdentity(await this.ctx.authenticate(hello.token, this.req))
    } catch (error) {
      const auth = error instanceof AuthError ? error : undefined
      // Only an AuthError's message is meant for the client; anything else may leak internals.
      if (auth?.expired) return this.close(CloseCode.AuthExpired, auth.message)
      return this.close(CloseCode.Forbidden, auth?.message ?? 'forbidden')
    }
    if (this.ended) return
    const { user, expiresAt } = identity
    if (expiresAt !== undefined && expiresAt <= Date.now()) return this.close(CloseCode.AuthExpired, 'token expired')
    this.identity = { user, client: hello.client }
    this.limiter = this.ctx.rateLimits?.acquire(user, hello.client)
    if (!this.withinRate(frames)) return
    this.ctx.sessions.claim(user, hello.client, this)
    this.seat = this.presenceSeat(user, hello.client)
    const [acked, refused] = await Promise.all([
      this.ctx.store.acked(user, hello.client),
      this.ctx.store.refusals(user, hello.client),
    ])
    if (this.ended) return
    // Armed with the welcome that announces it, so `expiresIn` and the close count from the same moment.
    this.expiry.set(expiresAt)
    if (this.ended) return
    this.out.push({
      t: 'welcome',
      v: PROTOCOL_VERSION,
      acked,
      maxBytes: this.ctx.maxFrameBytes,
      ...(refused.length > 0 ? { refused } : {}),
      ...(expiresAt !== undefined ? { expiresIn: expiresIn(expiresAt) } : {}),
      ...(this.ctx.store.void ? { early: EARLY_CALLS } : {}),
    })
    answered?.()
    const verdicts = this.verdicts(hello.subs)
    for (const cursor of hello.subs) if (!(await this.subscribe(cursor, await verdicts.next()))) return
  }

  /**
   * `authorize`'s verdicts on the topics of `cursors` (a message's subs), in order, one `next()` each: each asked
   * `AUTHORIZE_AHEAD` ahead of the one taken, so the lookups overlap instead of waiting one after another.
   */
  private verdicts(cursors: readonly Cursor[]): { next(): Promise<boolean> } {
    const asked: Promise<boolean>[] = []
    let taken = 0
    return {
      next: () => {
        while (asked.length < Math.min(cursors.length, taken + AUTHORIZE_AHEAD))
          asked.push(this.allowed((cursors[asked.length] as Cursor).topic, 'sub'))
        return asked[taken++] as Promise<boolean>
      },
    }
  }

  private presenceSeat(user: string, client: string): PresenceSeat {
    const out = this.out
    return new PresenceSeat(
      {
        user,
        client,
        owner: randomUUID(),
        watcher: {
          push: (frame) => out.push(frame),
          get congested() {
            return out.congested
          },
          room: () => out.room(),
        },
        allowed: (topic) => this.allowed(topic, 'presence'),
        reject: (code, message) => this.reject(code, message),
        fail: (error) => this.internal(error),
      },
      this.ctx.presence,
      this.ctx.presenceLimits,
      this.ctx.observer,
    )
  }

  /**
   * Dedup lives in the store; this judges each pub (`authorize`, `validate`) and answers in id order: one cumulative
   * ack per run of accepted pubs (a resent id is re-acked), a `nack` per pub refused for good, whose id the store
   * counts as done so the run after it goes on.
   */
  private async publish(all: Outgoing[]): Promise<void> {
    if (!this.identity) return
    let refusals: (Refusal | undefined)[]
    try {
      refusals = await judge(this.ctx, this.identity.user, all)
    } catch (error) {
      // A hook that fails is not a verdict: nothing of this message is applied, and the client resends it.
      return this.internal(error)
    }
    if (this.ended) return
    let run: PubFrame[] = []
    for (const [i, frame] of all.entries()) {
      const refused = refusals[i]
      if (!refused && frame.t === 'pub') {
        run.push(frame)
        continue
      }
      if (run.length > 0 && !(await this.accept(run))) return
      run = []
      if (frame.t === 'void') {
        if (!(await this.voidIds(frame))) return
      } else if (refused && !(await this.refuse(refused, frame.t === 'pub' ? frame : undefined))) return
    }
    if (run.length > 0) await this.accept(run)
  }

  /**
   * Refuses one pub (or `skip`: no `pub`) for good, keeping the pub's call; false when the connection is being closed
   * (an out-of-order id).
   */
  private async refuse(r: Refusal, pub: PubFrame | undefined): Promise<boolean> {
    if (!this.identity) return false
    const { user, client } = this.identity
    const outcome = await this.ctx.store.refuse(user, client, r, pub?.topic, pub?.call)
    if (this.ended) return false
    switch (outcome.kind) {
      case 'refused':
        this.out.push({ t: 'nack', ...r })
        return true
      case 'duplicate': {
        // Resent after an answer the client never saw: the answer it would have had, refusal or ack.
        const known = (await this.ctx.store.refusals(user, client)).find((k) => k.id === r.id)
        this.out.push(known ? { t: 'nack', ...known } : { t: 'ack', id: r.id })
        return true
      }
      case 'out-of-order':
        this.reject('out-of-order', `pub.id ${r.id} is out of order: expected ${outcome.expected}`)
        return false
    }
  }

  /**
   * `void {from, to}`: answered with `voided` and an ack of the counter; false when the connection is being closed (an
   * out-of-order `from`, or a store without `void`: this server's welcome offered no `early`).
   */
  private async voidIds({ from, to }: VoidFrame): Promise<boolean> {
    const { store } = this.ctx
    // Each answer can carry every kept call: answered only with room to send it, as a replay starts, so a client that
    // sends voids without reading holds one answer's worth here, not one per void.
    await this.out.room()
    if (!this.identity || this.ended) return false
    if (!store.void) {
      this.reject('type', 'void is not taken here: the welcome offered no early')
      return false
    }
    const outcome = await store.void(this.identity.user, this.identity.client, from, to)
    if (this.ended) return false
    if (outcome.kind === 'out-of-order') {
      this.reject('out-of-order', `void.from ${from} is out of order: expected at most ${outcome.expected}`)
      return false
    }
    const calls = outcome.calls.map(({ id, tab, n, count }): [number, string, number, number] => [id, tab, n, count])
    this.out.push({ t: 'voided', from, to, was: outcome.was, calls })
    this.out.push({ t: 'ack', id: Math.max(outcome.was, to) })
    return true
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
    const inputs = pubs.map(
      ({ id, topic, body, call }): PubInput => (call ? { id, topic, body, call } : { id, topic, body }),
    )
    const outcomes = await this.ctx.store.accept(this.identity.user, this.identity.client, inputs)
    let acked = 0
    let published = 0
    let duplicates = 0
    outcomes.forEach((outcome, i) => {
      if (outcome.kind !== 'out-of-order') acked = Math.max(acked, pubs[i]?.id ?? 0)
      if (outcome.kind === 'published') published++
      else if (outcome.kind === 'duplicate') duplicates++
    })
    this.ctx.observer.pubs(published, duplicates)
    if (acked > 0) this.out.push({ t: 'ack', id: acked })
    const bad = outcomes.findIndex((o) => o.kind === 'out-of-order')
    const expected = outcomes[bad]
    if (expected?.kind === 'out-of-order') {
      this.reject('out-of-order', `pub.id ${pubs[bad]?.id} is out of order: expected ${expected.expected}`)
      return false
    }
    return true
  }

  /** Returns false when the connection is being closed (over `maxSubscriptions`). `allowed`: authorize's verdict. */
  private async subscribe(cursor: Cursor, allowed: boolean): Promise<boolean> {
    // A replay starts only with room to send it: subs sent faster than the client reads (re-subscribing one topic
    // over and over) wait here, never stacking replays.
    await this.out.room()
    if (!allowed) {
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
    let start = cursor
    if (cursor.latest) {
      const newest = await latestStart(store, cursor.topic)
      if (this.ended) return false
      this.out.push(newest.reset)
      start = newest.cursor
    }
    const feed = new Feed(cursor.topic, start, {
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

  /**
   * `range` frames of at most `replayBatch` msgs and about one WebSocket message each (`ReadSizer`); the first may
   * start after `after + 1` when older ones are gone. Always answered: a denied fetch gets `error forbidden` and an
   * empty `range` with `done`, so the client never waits for it.
   */
  private async fetch(f: FetchFrame): Promise<void> {
    if (!(await this.allowed(f.topic, 'sub'))) {
      this.out.push({ t: 'error', code: 'forbidden', message: `not allowed to read ${f.topic}` })
      this.out.push({ t: 'range', req: f.req, topic: f.topic, msgs: [], done: true })
      return
    }
    // Sizes are unknown until the first message: a range must not be 500 of them at 900 kB.
    const sizer = new ReadSizer(this.ctx.replayBatch, 1)
    let after = f.after
    let left = f.limit
    for (let done = false; !done; ) {
      done = await this.out.turn(async () => {
        if (this.ended) return true
        const r = await this.ctx.store.read(f.topic, after, Math.min(left, sizer.limit))
        if (this.ended) return true
        left -= r.msgs.length
        const lastSeq = r.msgs.at(-1)?.seq ?? after
        const last = r.msgs.length === 0 || left <= 0 || lastSeq >= r.last
        const msgs = r.msgs.map(({ seq, epoch, body }) => ({ seq, epoch, body }))
        sizer.observe(msgs.length, this.out.push({ t: 'range', req: f.req, topic: f.topic, msgs, done: last }))
        after = lastSeq
        return last
      })
    }
  }

  /** Takes `frames` tokens from the rate budget; false (and closing with 4429) when it is spent. */
  private withinRate(frames: number): boolean {
    const wait = this.limiter?.take(frames) ?? 0
    if (wait === 0) return true
    // This message is not processed; those before it were. Pubs not acked are resent by the client after the wait.
    this.close(CloseCode.RateLimited, `retry-after=${wait}`)
    return false
  }

  private reject(code: ServerErrorCode, message: string): void {
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
  return `${bytes
    .subarray(0, 120)
    .toString()
    .replace(/\uFFFD+$/, '')}…`
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, b) => sum + b.byteLength, 0)
  return data.byteLength
}

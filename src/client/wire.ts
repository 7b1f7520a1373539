import type * as Comlink from 'comlink'
import { TabwireError } from '../protocol/errors.ts'
import type { Body, Json } from '../protocol/frames.ts'
import { describeValue } from '../protocol/describe.ts'
import type {
  AttachResult,
  DialInfo,
  DeadLetter,
  DroppedMessage,
  OutboxEntry,
  OutboxStatus,
  ResetNotice,
  StateInfo,
  SubscribeMode,
  TabEvents,
  WireState,
  WorkerInspection,
  WorkerPort,
  WorkerStats,
} from '../protocol/port.ts'
import { wsUrlProblem } from '../protocol/ws-url.ts'
import { lazy } from '../protocol/lazy.ts'
import { binaryBody, checkBinarySize, checkSize, encodeBody } from './body.ts'
import { LazyStream } from './lazy-stream.ts'
import { relayPageEvents } from './page-events.ts'
import { registerSyncWhenHidden } from './background-sync.ts'
import { resolveOptions, warnIfUnencrypted, type ConnectOptions, type Provider } from './options.ts'
import type { PresenceHandle, Presence, PresenceOptions } from './presence.ts'
import { Receipts, type SendReceipt } from './receipts.ts'
import type { Requests, RequestOptions } from './requests.ts'
import type { WireParts } from './wire-parts.ts'
import { SendBatcher } from './send-batcher.ts'
import { changeByChange, SubscribeBatcher } from './subscribe-batcher.ts'
import { VolatileBatcher, type VolatileReceipt } from './volatile-batcher.ts'
import { Subscriptions, type Message, type VolatileMessage } from './subscriptions.ts'
import { TabLock } from './tab-lock.ts'
import type { AnyTopics, BodyOf, IsAnyTopics, ReceivedBody, SendBody, Sendable, TopicOf } from './topics.ts'
import { WorkerBinding } from './worker-binding.ts'
import { invalid } from './invalid.ts'

export type { Message, VolatileMessage } from './subscriptions.ts'
export type { SendReceipt } from './receipts.ts'
export type { Presence, PresenceChange, PresenceMember, PresenceOptions } from './presence.ts'
export type { RequestOptions } from './requests.ts'
export type { VolatileReceipt } from './volatile-batcher.ts'

/** `durable: false` makes a send volatile; `ttl` or `expiresAt` lets a durable one expire unsent (see `Wire.send`). */
export interface SendOptions {
  /**
   * `false`: not stored, numbered nor resent: written to the socket if it is open (`{ sent: true }`), else dropped
   * at once (`{ sent: false }`).
   * @default true
   */
  durable?: boolean
  /**
   * Ms from now after which the message is dropped if it was not written to a socket by then: its `acked` rejects
   * with code `expired` and `outbox.onExpired` reports it. Once written, it is delivered. Not with `expiresAt`.
   */
  ttl?: number
  /** As `ttl`, as a time (ms since epoch, as `Date.now()`); must lie ahead. */
  expiresAt?: number
}

/**
 * The body `send` takes for `topic`: the map's declared body, or with no map (`AnyTopics`) the call's own body `B`,
 * if JSON or bytes can carry it.
 */
export type SendBodyFor<Topics, K extends string, B> =
  IsAnyTopics<Topics> extends true ? Sendable<B> : SendBody<BodyOf<Topics, K>>

/** The body a subscriber to `topic` receives: the map's declared body, or with no map the `B` the caller names. */
export type ReceivedBodyFor<Topics, K extends string, B> =
  IsAnyTopics<Topics> extends true ? B : ReceivedBody<BodyOf<Topics, K>>

export interface WireStats extends WorkerStats {
  /** This tab's subscriptions and the last seq each has delivered. */
  subscriptions: { topic: string; last: number }[]
}

/**
 * What `wire.inspect()` gives: the namespace as the worker this tab is attached to sees it (`WorkerInspection`: owner,
 * tabs, state history, outbox, topics and lag, presence, counters, recent errors), plus this tab's own part.
 */
export interface Inspection extends WorkerInspection {
  /** This tab's id (as in `tabs.ids`). */
  tab: string
  /** This tab's subscriptions and the last seq each has delivered. */
  subscriptions: { topic: string; last: number }[]
}

export interface SubscribeOptions {
  /**
   * The last seq the caller already has: delivery starts at `after + 1`. Default 0: all the server still holds.
   * `'latest'`: the topic's newest message first (if there is one), then live ones.
   */
  after?: number | 'latest'
  /** Called instead of a silent hole when the range after the cursor is gone; delivery resumes after `seq`. */
  onReset?: (notice: ResetNotice) => void
  /**
   * Only the newest message while this tab is behind: while the handler runs (until the promise it returns settles),
   * while the tab is hidden, and when catching up, newer messages replace each other. `seq` shows what was skipped.
   */
  conflate?: boolean
  /** Aborting it ends the subscription, as `stop()` does; already aborted: nothing is subscribed. */
  signal?: AbortSignal
  /**
   * `'one-tab'`: each message goes to one of the namespace's tabs subscribed to the topic this way (a visible one if
   * any), for side effects that must happen once per browser profile (a notification, a sound). The next message waits
   * until that tab's handler has finished (the promise it returned has settled); a tab that closes before that hands
   * it to another. Not with `conflate` or `volatile`.
   * @default 'every-tab'
   */
  deliver?: 'every-tab' | 'one-tab'
  /**
   * Also hand the topic's volatile messages (`send(…, { durable: false })` by anyone) to `onMessage`, as
   * `{ topic, body, volatile: true }` without `seq`, while this subscription is live. Off by default, so a handler
   * written for the log never meets a message without a seq.
   * @default false
   */
  volatile?: boolean
}

/** `wire.messages()`: `SubscribeOptions` for a `for await` loop, and how many messages may wait for it. */
export interface MessagesOptions extends Omit<SubscribeOptions, 'signal' | 'volatile' | 'deliver'> {
  /** Aborting it ends the loop (`done`), as `break` does. */
  signal?: AbortSignal
  /**
   * Messages that may wait for a slow loop; then the stream pauses, and resumes after the last one once the loop has
   * taken them all (nothing is lost). Not used with `conflate`, where at most one waits.
   */
  buffer?: number
}

/** The namespace's outbox: every tab's messages that are stored and not yet acked by the server. */
export interface WireOutbox {
  /**
   * The queued messages, oldest first (id order, which is the order they reach the server), at most `limit`
   * (default 1,000, at most 10,000; `pending()` gives the count). Bodies are not included, only their size, unless
   * `bodies` is true: then each entry has its `body` and an answer stops once 8 MiB of bodies are in (page on with
   * `after`, the last id you got). `after` lists only ids above it, `topic` only that topic's messages.
   */
  list(options?: { limit?: number; after?: number; topic?: string; bodies?: boolean }): Promise<OutboxEntry[]>
  /**
   * The messages the server refused for good (not authorised for the topic, too large, refused by its validation),
   * oldest first, at most `limit` (default 1,000, at most 10,000), each with the server's reason (`code`, `message`).
   * Kept in IndexedDB until `purge()`; bodies are not included, only their size.
   */
  dead(options?: { limit?: number }): Promise<DeadLetter[]>
  /**
   * Where message `id` stands: `queued`, `sent`, `acked`, `dead` (with the server's `refusal`) or `unknown`. Works for
   * any id of the namespace, also one from before a reload or sent by another tab.
   */
  status(id: number): Promise<OutboxStatus>
  /**
   * Resolves once message `id` is acked (at once if it already is), rejects with code `refused` if the server refused
   * it for good, and with `invalid-argument` for an id no message ever had. For ids from before a reload too, where
   * the `acked` of `send()` is gone with the page.
   */
  whenAcked(id: number): Promise<void>
  /**
   * Calls `fn` whenever the namespace's queue changes (a message stored by any tab, written, acked, refused,
   * cancelled or expired), at most once per task however many changed together; `list()` then says how it stands.
   * Returns the unsubscribe.
   */
  onChange(fn: () => void): () => void
  /**
   * Drops message `id` (any tab's, also one from before a reload) if it was not yet written to a socket: it never
   * reaches the server, its `acked` rejects with code `cancelled`, and the messages after it keep their order.
   * Rejects with `already-sent` if it was written (or acked, or refused): what was sent is delivered; `expired` if it
   * expired first; `invalid-argument` for an id no message had. Cancelling it again resolves.
   */
  cancel(id: number): Promise<void>
  /**
   * Calls `fn` with the messages (any tab's) whose `ttl`/`expiresAt` passed before they were written, as they are
   * dropped; their `acked` rejects with code `expired`. Returns the unsubscribe.
   */
  onExpired(fn: (messages: DroppedMessage[]) => void): () => void
}

const TOPIC_MAX = 256
const BUFFER_DEFAULT = 1_000

type OutboxCode = typeof import('./outbox.ts')

type Handler = (m: Message | VolatileMessage) => unknown

/**
 * One tab's handle on the shared connection of a namespace. Every method is safe to call before the worker has
 * answered the attach: calls wait for it. The parts each have a home: option checks (options.ts), the tab's lifetime
 * lock (tab-lock.ts), the worker and its replacement (worker-binding.ts), send batching (send-batcher.ts) and
 * receipts (receipts.ts), subscriptions (subscriptions.ts), and what the page sees (page-events.ts). What no app
 * needs on the way to its first message is loaded on first use, each its own chunk reaching the wire through
 * `WireParts`: presence (presence.ts), requests (requests.ts), the `messages()` stream (message-stream.ts), and the
 * outbox's calls with `stats()` and `inspect()` (outbox.ts).
 */
export class Wire<Topics extends object = AnyTopics> {
  #info: StateInfo = { state: 'connecting', attempt: 0 }
  readonly #listeners = new Set<(s: StateInfo) => void>()
  readonly #worker: WorkerBinding
  readonly #namespace: string
  readonly #lock: TabLock
  readonly #subs = new Subscriptions()
  readonly #receipts = new Receipts()
  readonly #sends: SendBatcher
  readonly #subscribing: SubscribeBatcher
  /** The attached worker takes a batch of subscription changes in one call (one of an older release does not). */
  #batchedSubscriptions = false
  readonly #volatile: VolatileBatcher
  /** Made on the first `request()`, with its code (requests.ts is a chunk of its own). */
  #requests: Requests | undefined
  readonly #loadRequests = lazy('request', () => import('./requests.ts'))
  readonly #loadPresence = lazy('presence', () => import('./presence.ts'))
  readonly #loadStream = lazy('messages', () => import('./message-stream.ts'))
  readonly #loadOutbox = lazy('outbox', () => import('./outbox.ts'))
  /** What the code loaded on first use (outbox.ts, presence.ts, requests.ts) reaches of this wire. */
  readonly #parts: WireParts
  readonly #unlisten: () => void
  readonly #maxMessageBytes: number
  /** Ends each open `messages()` stream when the wire closes. */
  readonly #onClose = new Set<() => void>()
  // biome-ignore lint/suspicious/noExplicitAny: each handle keeps the state type its caller named
  readonly #presences = new Map<number, PresenceHandle<any>>()
  readonly #outboxListeners = new Set<() => void>()
  readonly #expiredListeners = new Set<(messages: DroppedMessage[]) => void>()
  #outboxChangePending = false

  readonly #options: ConnectOptions

  constructor(options: ConnectOptions) {
    this.#options = options
    const { config, kind, callTimeout, maxMessageBytes, maxPresenceStateBytes } = resolveOptions(
      options,
      typeof SharedWorker !== 'undefined',
    )
    this.#namespace = config.namespace
    this.#maxMessageBytes = maxMessageBytes
    // Only after the options passed: a lock taken for a wire that throws would never be released.
    this.#lock = new TabLock()
    this.#parts = {
      call: (what, fn) => this.#call(what, fn),
      cancelRequest: (req) => this.#worker.cancelRequest(req),
      receipts: this.#receipts,
      subs: this.#subs,
      tab: () => this.#lock.name,
      presences: this.#presences,
      maxPresenceStateBytes,
      wire: this,
    }
    this.#sends = new SendBatcher(async (messages, call) => {
      this.#assertOpen()
      return this.#worker.repeatable('send', (r, retry) => r.send(messages, { ...call(), retry }))
    }, this.#receipts)
    this.#subscribing = new SubscribeBatcher((changes) =>
      this.#call('subscribe', (r) =>
        this.#batchedSubscriptions ? r.subscriptions(changes) : changeByChange(r, changes),
      ),
    )
    this.#volatile = new VolatileBatcher((messages) => this.#call('send', (r) => r.sendVolatile(messages)))
    const dials = typeof options.url === 'function' || options.token !== undefined
    const wire = this
    this.#worker = new WorkerBinding(
      options,
      kind,
      config,
      { id: this.#lock.name, lock: this.#lock.name, dials, jsonBodies: true },
      this.#lock.held,
      callTimeout,
      {
        get closed() {
          return wire.#closed
        },
        tabEvents: () => this.#events(),
        attached: (result: AttachResult) => {
          this.#batchedSubscriptions = result.subscriptions === true
          this.#receipts.acked(result.acked)
          this.#setState(result.state)
        },
        failed: (e) => this.#setState({ state: 'failed', attempt: 0, error: errorInfo(e) }),
        died: () => {
          this.#requests?.rejectAll(
            new TabwireError('disconnected', 'the worker stopped; the request may or may not have run'),
          )
          this.#setState({
            state: 'connecting',
            attempt: 0,
            error: { code: 'worker-unavailable', message: 'worker restarted' },
          })
        },
        rebound: () => {
          for (const [id, topic, last, mode] of this.#subs.resumePoints())
            void this.#subscribing.enqueue({ sub: id, topic, after: last, mode }).catch((e: unknown) => reportError(e))
          for (const h of this.#presences.values()) h.rejoin()
        },
      },
    )
    const unlistenPage = relayPageEvents(
      (signal) => this.#worker.signal(signal),
      () => this.close(),
      () => {
        if (this.#closed) return
        this.#lock.renew()
        this.#worker.restored(this.#lock.name, this.#lock.held)
      },
      () => this.#worker.cached(),
    )
    const unlistenSync = registerSyncWhenHidden(this.#namespace, () => this.pending())
    this.#unlisten = () => {
      unlistenPage()
      unlistenSync()
    }
  }

  /** The connection state as last reported by the worker. */
  get state(): WireState {
    return this.#info.state
  }

  /** Calls `fn` on every state change; returns the function that stops it. */
  onState(fn: (s: StateInfo) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /**
   * Stores the message durably, then resolves with its id; `body` is any JSON value, or bytes (`Uint8Array`,
   * `ArrayBuffer`, a typed array) which travel as a binary WebSocket message and arrive as a `Uint8Array`; from then on it reaches the server exactly once, in order,
   * across reconnects, reloads and browser restarts. Sends made in the same task travel to the worker as one call and
   * share one IndexedDB transaction. Rejects with `invalid-argument`, `invalid-body`, `body-too-large`, `closed`,
   * `storage-full` or `storage` (then nothing of the call was stored), or `worker-unavailable` (the worker did not
   * answer within `callTimeout`: the message may or may not have been stored). A worker that dies under the call is
   * not such a case: the call is made again on the next worker, which stores it only if the dead one had not, so it
   * resolves once, with the ids it was stored under.
   */
  send<K extends TopicOf<Topics>, B = never>(
    topic: K,
    body: SendBodyFor<Topics, K, B>,
    options: SendOptions & { durable: false },
  ): Promise<VolatileReceipt>
  send<K extends TopicOf<Topics>, B = never>(
    topic: K,
    body: SendBodyFor<Topics, K, B>,
    options?: SendOptions & { durable?: true },
  ): Promise<SendReceipt>
  send<K extends TopicOf<Topics>, B = never>(
    topic: K,
    body: SendBodyFor<Topics, K, B>,
    options: SendOptions = {},
  ): Promise<SendReceipt | VolatileReceipt> {
    try {
      this.#assertOpen()
      checkTopic(topic)
      const expiresAt = expiryOf(options)
      const encoded = this.#encode(body)
      if (options.durable !== false) return this.#sends.enqueue({ topic, body: encoded, expiresAt })
      // Volatile: never waits for a connection, so with none known to be open it is dropped at once.
      if (this.#info.state !== 'open') return Promise.resolve({ sent: false })
      return this.#volatile.enqueue({ topic, body: encoded })
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Asks the server's handler of `topic` (`server.handle(topic, fn)` or `onRequest`) and resolves with its answer
   * (JSON, or bytes as a `Uint8Array`). Not durable: made while the socket is down, it waits for a connection until
   * `timeout`; it is sent at most once. Rejects with `TabwireError` code `remote` (the handler threw: its message),
   * `not-found` (no handler), `forbidden` (`authorize`), `timeout`, `aborted` (`signal`), `disconnected` (the
   * connection dropped after it was sent: it may or may not have run), `too-many-requests` (1,000 of the
   * namespace's requests are waiting already), or the body and argument errors `send()` has.
   */
  request<R = Body, K extends TopicOf<Topics> = TopicOf<Topics>, B = never>(
    topic: K,
    body: SendBodyFor<Topics, K, B>,
    options: RequestOptions = {},
  ): Promise<R> {
    try {
      this.#assertOpen()
      checkTopic(topic)
      const encoded = this.#encode(body)
      // Requests are taken in call order: each waits for the same load, and then runs in the order it was made.
      return this.#loadRequests().then(({ Requests }) => {
        this.#assertOpen()
        this.#requests ??= new Requests(this.#parts)
        return this.#requests.request(topic, encoded, options)
      }) as Promise<R>
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** JSON text or bytes, checked against `maxMessageBytes`. */
  #encode(body: unknown): string | Uint8Array {
    const bytes = binaryBody(body)
    if (bytes) {
      checkBinarySize(bytes, this.#maxMessageBytes)
      return bytes
    }
    const encoded = encodeBody(body)
    checkSize(encoded, this.#maxMessageBytes)
    return encoded
  }

  /**
   * Follows a topic: `onMessage` gets every message after `after`, once each, in seq order, across reconnects and
   * worker restarts; a range the server no longer has arrives as `onReset` instead. `after: 'latest'` starts at the
   * newest message; `conflate` hands a tab that is behind only the newest; `signal` ends it. Resolves with the
   * function that stops the subscription.
   */
  subscribe<B = Body, K extends TopicOf<Topics> = TopicOf<Topics>>(
    topic: K,
    onMessage: (
      m: Message<ReceivedBodyFor<Topics, K, B>, K> | VolatileMessage<ReceivedBodyFor<Topics, K, B>, K>,
    ) => unknown,
    options: SubscribeOptions & { volatile: true },
  ): Promise<() => Promise<void>>
  subscribe<B = Body, K extends TopicOf<Topics> = TopicOf<Topics>>(
    topic: K,
    onMessage: (m: Message<ReceivedBodyFor<Topics, K, B>, K>) => unknown,
    options?: SubscribeOptions & { volatile?: false },
  ): Promise<() => Promise<void>>
  async subscribe<B = Body, K extends TopicOf<Topics> = TopicOf<Topics>>(
    topic: K,
    onMessage: (m: Message<ReceivedBodyFor<Topics, K, B>, K>) => unknown,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    this.#assertOpen()
    checkTopic(topic)
    const { after, mode } = checkSubscribeOptions(options)
    if (typeof onMessage !== 'function') throw invalid('onMessage must be a function')
    const { signal } = options
    if (signal?.aborted) return async () => undefined
    const unsubscribe = await this.#follow(topic, onMessage as Handler, options.onReset, after, mode)
    const stop = () => {
      signal?.removeEventListener('abort', onAbort)
      return unsubscribe()
    }
    const onAbort = () => void stop().catch(() => undefined)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    return stop
  }

  /**
   * The topic's messages as an `AsyncIterable`, for `for await`: the same delivery as `subscribe` (every seq once, in
   * order, `after`, `'latest'`, `conflate`, `onReset`). It subscribes when the loop starts and ends (`done`) on
   * `break`, on `signal`'s abort and when the wire closes. A slow loop never makes memory grow: see `MessagesOptions`.
   * Bad arguments throw `invalid-argument` at once; a subscribe that fails rejects the loop's next step.
   */
  messages<B = Body, K extends TopicOf<Topics> = TopicOf<Topics>>(
    topic: K,
    options: MessagesOptions = {},
  ): AsyncIterableIterator<Message<ReceivedBodyFor<Topics, K, B>, K>> {
    this.#assertOpen()
    checkTopic(topic)
    const { after, mode } = checkSubscribeOptions(options)
    const buffer = options.buffer ?? BUFFER_DEFAULT
    if (!Number.isSafeInteger(buffer) || buffer < 1)
      throw invalid(`buffer must be an integer ≥ 1, got ${describeValue(buffer)}`)
    type M = Message<ReceivedBodyFor<Topics, K, B>, K>
    return new LazyStream<M>(
      this.#loadStream,
      (from, onMessage, onReset) =>
        from === 'latest'
          ? this.#follow(topic, onMessage as Handler, onReset, 0, mode)
          : this.#follow(topic, onMessage as Handler, onReset, from, { ...mode, latest: false }),
      {
        after: mode.latest ? 'latest' : after,
        conflate: mode.conflate === true,
        buffer,
        onReset: options.onReset,
        signal: options.signal,
      },
      (end) => {
        this.#onClose.add(end)
        return () => this.#onClose.delete(end)
      },
    )
  }

  /**
   * Joins `topic`'s presence: this browser profile becomes one member (`{ user, client, state, since }`) however many
   * of its tabs join; its state is the last any of them set. Resolves once the server's member list is in (at once
   * while offline: the list follows the connection). The member leaves when its last tab calls `leave()` (or aborts
   * `signal`) or closes, or when the connection has been gone longer than the server's grace period; a reload or a
   * short drop is not seen by the others. After a reconnect the list is fetched anew (`onChange` with `sync: true`).
   * Rejects with `invalid-argument`, `invalid-body`, `body-too-large` (over `maxPresenceStateBytes`), `forbidden`
   * (the server's `authorize` said no) or `closed`.
   */
  async presence<S = Json>(topic: TopicOf<Topics>, options: PresenceOptions<S> = {}): Promise<Presence<S>> {
    this.#assertOpen()
    checkTopic(topic)
    options.signal?.throwIfAborted()
    const { joinPresence } = await this.#loadPresence()
    this.#assertOpen()
    return joinPresence<S>(this.#parts, topic, options)
  }

  /**
   * A snapshot for debugging and status displays: connection state, outbox size, cursors, tabs attached, which
   * worker (and version) serves this tab and whether it owns the socket, plus this tab's own subscriptions.
   */
  stats(): Promise<WireStats> {
    return this.#outboxCall((c, w) => c.stats(w))
  }

  /**
   * A snapshot of the namespace for debugging and inspector panels (see `Inspection`). It reads the outbox and dead
   * letters from IndexedDB (up to 10,000 each), so poll it every second or so, not in a tight loop.
   */
  inspect(): Promise<Inspection> {
    return this.#outboxCall((c, w) => c.inspect(w))
  }

  /** The namespace's outbox, shared by every tab: see `WireOutbox`. */
  readonly outbox: WireOutbox = {
    list: (options) => this.#outboxCall((c, w) => c.list(w, options)),
    onChange: (fn) => listen(this.#outboxListeners, fn, 'onChange'),
    status: (id) => this.#outboxCall((c, w) => c.status(w, id)),
    whenAcked: (id) => this.#outboxCall((c, w) => c.whenAcked(w, id)),
    dead: (options) => this.#outboxCall((c, w) => c.dead(w, options)),
    cancel: (id) => this.#outboxCall((c, w) => c.cancel(w, id)),
    onExpired: (fn) => listen(this.#expiredListeners, fn, 'onExpired'),
  }

  /** How many messages of this namespace are stored but not yet acked by the server (all tabs together). */
  pending(): Promise<number> {
    return this.#call('pending', (r) => r.pending())
  }

  /**
   * Tries to connect now: after `failed`, or to skip a backoff wait. If attaching to the worker itself failed (its
   * storage could not be opened, say), attaches again.
   */
  reconnect(): Promise<void> {
    if (this.#worker.failed && !this.#closed) return this.#worker.reattach()
    return this.#call('reconnect', (r) => r.reconnect())
  }

  /**
   * Logs out: deletes this namespace's outbox (unsent messages are lost), cursors and local log, and closes its
   * socket. Every tab of the namespace sees `closed`; `connect()` again to start afresh.
   */
  async purge(): Promise<void> {
    try {
      await this.#call('purge', (r) => r.purge())
    } finally {
      this.#shutdown()
      this.#lock.release()
      this.#worker.release()
    }
  }

  /** This tab leaves: its subscriptions end; the worker and its socket stay for the other tabs. */
  close(): void {
    if (this.#closed) return
    this.#shutdown()
    // Sends handed over are stored: the port is let go once they are answered (the detach, answered at once, would
    // overtake them), and the lock only once the worker has read the detach (the worker takes the lock's grant for
    // the tab's end, refusing what the tab posted that it has not read yet, and the browser may grant it first).
    void this.#sends.answered().then(() => this.#worker.detach(() => this.#lock.release()))
  }

  get #closed(): boolean {
    return this.#info.state === 'closed'
  }

  #assertOpen(): void {
    if (this.#closed) throw new TabwireError('closed', 'this wire is closed; connect() again')
  }

  /** Registers a subscription with the worker; resolves with the function that ends it. */
  async #follow(
    topic: string,
    onMessage: Handler,
    onReset: ((notice: ResetNotice) => void) | undefined,
    after: number,
    mode: SubscribeMode,
  ): Promise<() => Promise<void>> {
    const sub = this.#subs.add(topic, onMessage, onReset, after, mode)
    try {
      await this.#subscribing.enqueue({ sub, topic, after, mode })
    } catch (e) {
      this.#subs.delete(sub)
      throw e
    }
    return async () => {
      if (!this.#subs.delete(sub) || this.#closed) return
      try {
        await this.#subscribing.enqueue({ sub, unsubscribe: true })
      } catch (e) {
        // A stop made in the task that closes the wire is no failure: the worker forgets a closed tab's subscriptions.
        if (!this.#closed) throw e
      }
    }
  }

  /** Calls made while the code loads wait for the same load, and then run in the order they were made. */
  #outboxCall<T>(fn: (code: OutboxCode, wire: WireParts) => Promise<T>): Promise<T> {
    return this.#loadOutbox().then((code) => fn(code, this.#parts))
  }

  async #call<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>): Promise<T> {
    this.#assertOpen()
    return this.#worker.call(what, fn)
  }

  #events(): TabEvents {
    return {
      state: (info) => this.#setState(info),
      messages: (sub, msgs) => this.#subs.deliver(sub, msgs),
      bodiesJson: (sub, topic, first, json) =>
        this.#subs.deliver(
          sub,
          (JSON.parse(json) as Body[]).map((body, i) => ({ topic, seq: first + i, body })),
        ),
      reset: (sub, notice) => this.#subs.reset(sub, notice),
      volatile: (sub, msgs) => this.#subs.volatile(sub, msgs),
      replied: (req, outcome) => this.#requests?.replied(req, outcome),
      acked: (upTo) => {
        this.#receipts.acked(upTo)
        this.#outboxChanged()
      },
      sent: (upTo) => {
        this.#receipts.sent(upTo)
        this.#outboxChanged()
      },
      renumbered: (from, delta) => {
        this.#receipts.renumbered(from, delta)
        this.#outboxChanged()
      },
      dead: (letters) => {
        this.#receipts.dead(letters)
        this.#outboxChanged()
      },
      queued: () => this.#outboxChanged(),
      dropped: (messages) => {
        this.#receipts.dropped(messages)
        this.#outboxChanged()
        const expired = messages.filter((m) => m.code === 'expired')
        if (expired[0] && !this.#closed)
          for (const fn of [...this.#expiredListeners])
            try {
              fn(expired)
            } catch (e) {
              reportError(e)
            }
      },
      dial: () => this.#dial(),
      presence: (pid, event) => this.#presences.get(pid)?.event(event),
      log: (lines) => {
        for (const l of lines) console[l.level](l.text)
      },
    }
  }

  /** A provider's answer that is no URL is named to the worker, which fails for good (`invalid-url`): no retry mends it. */
  async #dial(): Promise<DialInfo> {
    const url: unknown = await provide(this.#options.url)
    const problem = wsUrlProblem(url)
    if (problem) return { invalidUrl: `the url provider returned an unusable URL: ${problem}` }
    warnIfUnencrypted(url as string)
    const token = this.#options.token === undefined ? undefined : await provide(this.#options.token)
    return token === undefined ? { url: url as string } : { url: url as string, token }
  }

  /** One call per task to each `outbox.onChange` listener, however many events came in it. */
  #outboxChanged(): void {
    if (this.#outboxChangePending || this.#outboxListeners.size === 0) return
    this.#outboxChangePending = true
    setTimeout(() => {
      this.#outboxChangePending = false
      if (this.#closed) return
      for (const fn of [...this.#outboxListeners]) {
        try {
          fn()
        } catch (e) {
          reportError(e)
        }
      }
    }, 0)
  }

  #setState(info: StateInfo): void {
    if (this.#closed) return
    if (this.#options.debug) console.debug(`[tabwire:${this.#namespace}] state`, info)
    this.#info = info
    for (const fn of this.#listeners) fn(info)
    if (info.state === 'closed') {
      this.#shutdown()
      this.#lock.release()
    }
  }

  #shutdown(): void {
    if (this.#info.state !== 'closed') {
      this.#info = { state: 'closed', attempt: 0 }
      for (const fn of this.#listeners) fn(this.#info)
    }
    this.#unlisten()
    this.#subs.clear()
    for (const end of [...this.#onClose]) end()
    for (const h of this.#presences.values()) h.end()
    this.#presences.clear()
    this.#receipts.clear()
    this.#requests?.rejectAll(new TabwireError('closed', 'the wire was closed before the answer came'))
    // The port stays usable: a call already in flight (purge's own answer among them) still gets its reply.
    this.#sends.rejectQueued(new TabwireError('closed', 'the wire was closed before this send was stored'))
  }
}

/** `after` as the worker takes it (0 with `latest`), and the mode; throws `invalid-argument` on anything else. */
function checkSubscribeOptions(options: SubscribeOptions | MessagesOptions): { after: number; mode: SubscribeMode } {
  const after = options.after ?? 0
  const latest = after === 'latest'
  if (!latest && (!Number.isSafeInteger(after) || (after as number) < 0))
    throw invalid(`after must be an integer ≥ 0 or 'latest', got ${describeValue(after)}`)
  if (options.conflate !== undefined && typeof options.conflate !== 'boolean')
    throw invalid(`conflate must be a boolean, got ${describeValue(options.conflate)}`)
  const { signal } = options
  if (signal !== undefined && !isAbortSignal(signal))
    throw invalid(`signal must be an AbortSignal, got ${describeValue(signal)}`)
  const volatile = 'volatile' in options ? options.volatile : undefined
  if (volatile !== undefined && typeof volatile !== 'boolean')
    throw invalid(`volatile must be a boolean, got ${describeValue(volatile)}`)
  const { deliver } = options as SubscribeOptions
  if (deliver !== undefined && deliver !== 'every-tab' && (deliver !== 'one-tab' || options.conflate || volatile))
    throw invalid(
      `deliver must be 'every-tab' or 'one-tab' (not with conflate or volatile), got ${describeValue(deliver)}`,
    )
  const mode: SubscribeMode = {}
  if (deliver === 'one-tab') mode.oneTab = true
  if (latest) mode.latest = true
  if (options.conflate) mode.conflate = true
  if (volatile) mode.volatile = true
  return { after: latest ? 0 : (after as number), mode }
}

function isAbortSignal(v: unknown): v is AbortSignal {
  const s = v as AbortSignal | null
  return (
    typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function'
  )
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > TOPIC_MAX)
    throw invalid(`topic must be a string of 1 to ${TOPIC_MAX} characters`)
}

async function provide<T>(p: Provider<T>): Promise<T> {
  return typeof p === 'function' ? await (p as () => T | Promise<T>)() : p
}

function errorInfo(e: unknown): StateInfo['error'] {
  const err = e instanceof TabwireError ? e : new TabwireError('worker-unavailable', String(e))
  return { code: err.code, message: err.message }
}

/** The `expiresAt` a durable send's `ttl` or `expiresAt` option gives, checked. */
function expiryOf({ ttl, expiresAt, durable }: SendOptions): number | undefined {
  if (ttl === undefined && expiresAt === undefined) return undefined
  const at = ttl === undefined ? expiresAt : Date.now() + ttl
  if (
    typeof at !== 'number' ||
    !(at > Date.now() && at < Infinity) ||
    durable === false ||
    (ttl === undefined) === (expiresAt === undefined)
  )
    throw invalid(
      `send() takes ttl (ms > 0) or expiresAt (ahead), not both, durable only: got ${describeValue(ttl)}, ${describeValue(expiresAt)}`,
    )
  return at
}

/** Adds `fn` to `set` until the returned function is called. */
function listen<F>(set: Set<F>, fn: F, name: string): () => void {
  if (typeof fn !== 'function') throw invalid(`${name} needs a function`)
  set.add(fn)
  return () => void set.delete(fn)
}

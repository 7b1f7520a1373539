import type * as Comlink from 'comlink'
import { TabwireError } from '../protocol/errors.ts'
import type { Body } from '../protocol/frames.ts'
import { describeValue } from '../protocol/describe.ts'
import type {
  AttachResult,
  DialInfo,
  OutboxEntry,
  ResetNotice,
  StateInfo,
  TabEvents,
  WireState,
  WorkerPort,
  WorkerStats,
} from '../protocol/port.ts'
import { wsUrlProblem } from '../protocol/ws-url.ts'
import { binaryBody, checkBinarySize, checkSize, encodeBody } from './body.ts'
import { relayPageEvents } from './page-events.ts'
import { resolveOptions, warnIfUnencrypted, type ConnectOptions, type Provider } from './options.ts'
import { Receipts, type SendReceipt } from './receipts.ts'
import { SendBatcher } from './send-batcher.ts'
import { Subscriptions, type Message } from './subscriptions.ts'
import { TabLock } from './tab-lock.ts'
import type { AnyTopics, BodyOf, IsAnyTopics, ReceivedBody, SendBody, Sendable, TopicOf } from './topics.ts'
import { WorkerBinding } from './worker-binding.ts'

export type { Message } from './subscriptions.ts'
export type { SendReceipt } from './receipts.ts'

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

export interface SubscribeOptions {
  /** The last seq the caller already has: delivery starts at `after + 1`. Default 0: all the server still holds. */
  after?: number
  /** Called instead of a silent hole when the range after the cursor is gone; delivery resumes after `seq`. */
  onReset?: (notice: ResetNotice) => void
}

/** The namespace's outbox: every tab's messages that are stored and not yet acked by the server. */
export interface WireOutbox {
  /**
   * The queued messages, oldest first (id order, which is the order they reach the server), at most `limit`
   * (default 1,000, at most 10,000; `pending()` gives the count). Bodies are not included, only their size.
   */
  list(options?: { limit?: number }): Promise<OutboxEntry[]>
}

const TOPIC_MAX = 256
const LIST_DEFAULT = 1_000
const LIST_MAX = 10_000

/**
 * One tab's handle on the shared connection of a namespace. Every method is safe to call before the worker has
 * answered the attach: calls wait for it. The parts each have a home: option checks (options.ts), the tab's lifetime
 * lock (tab-lock.ts), the worker and its replacement (worker-binding.ts), send batching (send-batcher.ts) and
 * receipts (receipts.ts), subscriptions (subscriptions.ts), and what the page sees (page-events.ts).
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
  readonly #unlisten: () => void
  readonly #maxMessageBytes: number

  readonly #options: ConnectOptions

  constructor(options: ConnectOptions) {
    this.#options = options
    const { config, kind, callTimeout, maxMessageBytes } = resolveOptions(options, typeof SharedWorker !== 'undefined')
    this.#namespace = config.namespace
    this.#maxMessageBytes = maxMessageBytes
    // Only after the options passed: a lock taken for a wire that throws would never be released.
    this.#lock = new TabLock()
    this.#sends = new SendBatcher((messages, call) => {
      this.#assertOpen()
      return this.#worker.repeatable('send', (r, retry) => r.send(messages, { ...call(), retry }))
    }, this.#receipts)
    const dials = typeof options.url === 'function' || options.token !== undefined
    const wire = this
    this.#worker = new WorkerBinding(
      options,
      kind,
      config,
      { id: this.#lock.name, lock: this.#lock.name, dials },
      this.#lock.held,
      callTimeout,
      {
        get closed() {
          return wire.#closed
        },
        tabEvents: () => this.#events(),
        attached: (result: AttachResult) => {
          this.#receipts.acked(result.acked)
          this.#setState(result.state)
        },
        failed: (e) => this.#setState({ state: 'failed', attempt: 0, error: errorInfo(e) }),
        died: () =>
          this.#setState({
            state: 'connecting',
            attempt: 0,
            error: { code: 'worker-unavailable', message: 'worker restarted' },
          }),
        rebound: () => {
          for (const [id, topic, last] of this.#subs.resumePoints())
            void this.#call('subscribe', (r) => r.subscribe(id, topic, last)).catch((e: unknown) => reportError(e))
        },
      },
    )
    this.#unlisten = relayPageEvents(
      (signal) => this.#worker.signal(signal),
      () => this.close(),
      () => {
        if (this.#closed) return
        this.#lock.renew()
        this.#worker.restored(this.#lock.name, this.#lock.held)
      },
    )
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
  send<K extends TopicOf<Topics>, B = never>(topic: K, body: SendBodyFor<Topics, K, B>): Promise<SendReceipt> {
    try {
      this.#assertOpen()
      checkTopic(topic)
      const bytes = binaryBody(body)
      let encoded: string | Uint8Array
      if (bytes) {
        checkBinarySize(bytes, this.#maxMessageBytes)
        encoded = bytes
      } else {
        encoded = encodeBody(body)
        checkSize(encoded, this.#maxMessageBytes)
      }
      return this.#sends.enqueue({ topic, body: encoded })
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Follows a topic: `onMessage` gets every message after `after`, once each, in seq order, across reconnects and
   * worker restarts; a range the server no longer has arrives as `onReset` instead. Resolves with the function that
   * stops the subscription.
   */
  async subscribe<B = Body, K extends TopicOf<Topics> = TopicOf<Topics>>(
    topic: K,
    onMessage: (m: Message<ReceivedBodyFor<Topics, K, B>, K>) => void,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    this.#assertOpen()
    checkTopic(topic)
    const after = options.after ?? 0
    if (!Number.isSafeInteger(after) || after < 0)
      throw new TabwireError('invalid-argument', 'after must be an integer ≥ 0')
    if (typeof onMessage !== 'function') throw new TabwireError('invalid-argument', 'onMessage must be a function')
    const id = this.#subs.add(topic, onMessage as (m: Message) => void, options.onReset, after)
    try {
      await this.#call('subscribe', (r) => r.subscribe(id, topic, after))
    } catch (e) {
      this.#subs.delete(id)
      throw e
    }
    return async () => {
      if (!this.#subs.delete(id) || this.#closed) return
      await this.#call('unsubscribe', (r) => r.unsubscribe(id))
    }
  }

  /**
   * A snapshot for debugging and status displays: connection state, outbox size, cursors, tabs attached, which
   * worker (and version) serves this tab and whether it owns the socket, plus this tab's own subscriptions.
   */
  async stats(): Promise<WireStats> {
    const worker = await this.#call('stats', (r) => r.stats())
    return { ...worker, subscriptions: this.#subs.snapshot() }
  }

  /** The namespace's outbox, shared by every tab: see `WireOutbox`. */
  readonly outbox: WireOutbox = {
    list: (options = {}) => {
      const limit = options.limit ?? LIST_DEFAULT
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX) {
        const got = describeValue(limit)
        return Promise.reject(
          new TabwireError('invalid-argument', `limit must be an integer from 1 to ${LIST_MAX}, got ${got}`),
        )
      }
      return this.#call('outbox.list', (r) => r.outboxList(limit))
    },
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
      this.#worker.release()
    }
  }

  /** This tab leaves: its subscriptions end; the worker and its socket stay for the other tabs. */
  close(): void {
    if (this.#closed) return
    this.#shutdown()
    this.#worker.detach()
  }

  get #closed(): boolean {
    return this.#info.state === 'closed'
  }

  #assertOpen(): void {
    if (this.#closed) throw new TabwireError('closed', 'this wire is closed; connect() again')
  }

  async #call<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>): Promise<T> {
    this.#assertOpen()
    return this.#worker.call(what, fn)
  }

  #events(): TabEvents {
    return {
      state: (info) => this.#setState(info),
      messages: (sub, msgs) => this.#subs.deliver(sub, msgs),
      reset: (sub, notice) => this.#subs.reset(sub, notice),
      acked: (upTo) => this.#receipts.acked(upTo),
      sent: (upTo) => this.#receipts.sent(upTo),
      renumbered: (from, delta) => this.#receipts.renumbered(from, delta),
      dial: () => this.#dial(),
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

  #setState(info: StateInfo): void {
    if (this.#closed) return
    if (this.#options.debug) console.debug(`[tabwire:${this.#namespace}] state`, info)
    this.#info = info
    for (const fn of this.#listeners) fn(info)
    if (info.state === 'closed') this.#shutdown()
  }

  #shutdown(): void {
    if (this.#info.state !== 'closed') {
      this.#info = { state: 'closed', attempt: 0 }
      for (const fn of this.#listeners) fn(this.#info)
    }
    this.#unlisten()
    this.#lock.release()
    this.#subs.clear()
    this.#receipts.clear()
    // The port stays usable: a call already in flight (purge's own answer among them) still gets its reply.
    this.#sends.rejectQueued(new TabwireError('closed', 'the wire was closed before this send was stored'))
  }
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > TOPIC_MAX)
    throw new TabwireError('invalid-argument', `topic must be a string of 1 to ${TOPIC_MAX} characters`)
}

async function provide<T>(p: Provider<T>): Promise<T> {
  return typeof p === 'function' ? await (p as () => T | Promise<T>)() : p
}

function errorInfo(e: unknown): StateInfo['error'] {
  const err = e instanceof TabwireError ? e : new TabwireError('worker-unavailable', String(e))
  return { code: err.code, message: err.message }
}

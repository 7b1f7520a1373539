import * as Comlink from 'comlink'
import { TabwireError } from '../protocol/errors.ts'
import type { Body } from '../protocol/frames.ts'
import type {
  BrowserSignal,
  Delivery,
  DialInfo,
  OutgoingMessage,
  ResetNotice,
  SessionConfig,
  StateInfo,
  TabEvents,
  WireState,
  WorkerPort,
  WorkerStats,
} from '../protocol/port.ts'
import { binaryBody, checkBinarySize, checkSize, encodeBody } from './body.ts'
import { describeValue } from '../protocol/describe.ts'
import { wsUrlProblem } from '../protocol/ws-url.ts'
import {
  checkOptionsObject,
  checkUrlOption,
  checkWorkerInstance,
  DEFAULTS,
  resolveNumber,
  resolveReconnect,
  warnIfUnencrypted,
  workerKind,
  type ConnectOptions,
  type Provider,
} from './options.ts'
import type { AnyTopics, BodyOf, IsAnyTopics, ReceivedBody, SendBody, Sendable, TopicOf } from './topics.ts'
import { Watermark } from './watermark.ts'
import { workerCall } from './worker-call.ts'

export interface Message<T = Body, K extends string = string> {
  topic: K
  seq: number
  body: T
}

/**
 * The body `send` takes for `topic`: the map's declared body, or with no map (`AnyTopics`) the call's own body `B`,
 * if JSON or bytes can carry it.
 */
export type SendBodyFor<Topics, K extends string, B> = IsAnyTopics<Topics> extends true ? Sendable<B> : SendBody<BodyOf<Topics, K>>

/** The body a subscriber to `topic` receives: the map's declared body, or with no map the `B` the caller names. */
export type ReceivedBodyFor<Topics, K extends string, B> = IsAnyTopics<Topics> extends true ? B : ReceivedBody<BodyOf<Topics, K>>

export interface WireStats extends WorkerStats {
  /** This tab's subscriptions and the last seq each has delivered. */
  subscriptions: { topic: string; last: number }[]
}

export interface SendReceipt {
  /** The message's id in this namespace's outbox: 1, 2, 3… in send order. */
  id: number
  /**
   * Resolves when the message has been written to an open socket (it may be written again after a reconnect).
   * Never rejects; stays pending if this tab closes first.
   */
  sent: Promise<void>
  /** Resolves when the server has acked the message. Never rejects; stays pending if this tab closes first. */
  acked: Promise<void>
}

export interface SubscribeOptions {
  /** The last seq the caller already has: delivery starts at `after + 1`. Default 0: all the server still holds. */
  after?: number
  /** Called instead of a silent hole when the range after the cursor is gone; delivery resumes after `seq`. */
  onReset?: (notice: ResetNotice) => void
}

interface Subscription {
  topic: string
  onMessage: (m: Message) => void
  onReset: ((n: ResetNotice) => void) | undefined
  /** Last seq handed to `onMessage`: a guard against anything delivered twice. */
  last: number
}

interface QueuedSend {
  message: OutgoingMessage
  resolve: (r: SendReceipt) => void
  reject: (e: unknown) => void
}

const TOPIC_MAX = 256
/** How long one re-attach to a replacement worker may take before we try another. */
const REATTACH_TIMEOUT = 2_000

/**
 * One tab's handle on the shared connection of a namespace. Every method is safe to call before the worker has
 * answered the attach: calls wait for it.
 */
export class Wire<Topics extends object = AnyTopics> {
  private info: StateInfo = { state: 'connecting', attempt: 0 }
  private readonly listeners = new Set<(s: StateInfo) => void>()
  private binding!: Binding
  private readonly config: SessionConfig
  private readonly lock = `tabwire-tab:${crypto.randomUUID()}`
  private readonly lockHeld: Promise<void>
  private readonly subs = new Map<number, Subscription>()
  private nextSub = 1
  private readonly acks = new Watermark()
  private readonly sends = new Watermark()
  private queue: QueuedSend[] = []
  private releaseLock: (() => void) | undefined
  private readonly unlisten: (() => void)[] = []
  private readonly callTimeout: number
  private readonly maxMessageBytes: number
  private readonly kind: 'shared' | 'dedicated'

  constructor(private readonly options: ConnectOptions) {
    checkOptionsObject(options)
    const namespace: unknown = options.namespace ?? DEFAULTS.namespace
    if (typeof namespace !== 'string' || namespace === '')
      throw new TabwireError('invalid-argument', `namespace must be a non-empty string, got ${describeValue(namespace)}`)
    checkUrlOption(options.url)
    this.kind = workerKind(options, typeof SharedWorker !== 'undefined')
    this.callTimeout = resolveNumber('callTimeout', options.callTimeout, DEFAULTS.callTimeout)
    this.maxMessageBytes = resolveNumber('maxMessageBytes', options.maxMessageBytes, DEFAULTS.maxMessageBytes)
    const config: SessionConfig = {
      namespace,
      reconnect: resolveReconnect(options.reconnect),
      maxMessageBytes: this.maxMessageBytes,
      inboxRetention: resolveNumber('inboxRetention', options.inboxRetention, DEFAULTS.inboxRetention),
      whenHidden: options.whenHidden ?? DEFAULTS.whenHidden,
      hiddenGrace: resolveNumber('hiddenGrace', options.hiddenGrace, DEFAULTS.hiddenGrace),
      debug: options.debug === true,
    }
    if (config.whenHidden !== 'keep' && config.whenHidden !== 'disconnect')
      throw new TabwireError('invalid-argument', `whenHidden must be 'keep' or 'disconnect', got ${describeValue(config.whenHidden)}`)
    if (typeof options.url === 'string') config.url = options.url
    this.config = config
    this.lockHeld = this.holdTabLock()
    this.bind(pickWorker(options, this.kind))
    this.listenToPage()
  }

  /** The connection state as last reported by the worker. */
  get state(): WireState {
    return this.info.state
  }

  /** Calls `fn` on every state change; returns the function that stops it. */
  onState(fn: (s: StateInfo) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /**
   * Stores the message durably, then resolves with its id; `body` is any JSON value, or bytes (`Uint8Array`,
   * `ArrayBuffer`, a typed array) which travel as a binary WebSocket message and arrive as a `Uint8Array`; from then on it reaches the server exactly once, in order,
   * across reconnects, reloads and browser restarts. Sends made in the same task travel to the worker as one call and
   * share one IndexedDB transaction. Rejects with `invalid-argument`, `invalid-body`, `body-too-large`, `closed`,
   * `storage-full` or `storage` (then nothing of the call was stored), or `worker-unavailable` (the worker did not
   * answer in time or died: the message may or may not have been stored).
   */
  send<K extends TopicOf<Topics>, B = never>(topic: K, body: SendBodyFor<Topics, K, B>): Promise<SendReceipt> {
    try {
      this.assertOpen()
      checkTopic(topic)
      const bytes = binaryBody(body)
      let encoded: string | Uint8Array
      if (bytes) {
        checkBinarySize(bytes, this.maxMessageBytes)
        encoded = bytes
      } else {
        encoded = encodeBody(body)
        checkSize(encoded, this.maxMessageBytes)
      }
      return new Promise((resolve, reject) => {
        if (this.queue.length === 0) queueMicrotask(() => void this.flushSends())
        this.queue.push({ message: { topic, body: encoded }, resolve, reject })
      })
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
    this.assertOpen()
    checkTopic(topic)
    const after = options.after ?? 0
    if (!Number.isSafeInteger(after) || after < 0) throw new TabwireError('invalid-argument', 'after must be an integer ≥ 0')
    if (typeof onMessage !== 'function') throw new TabwireError('invalid-argument', 'onMessage must be a function')
    const id = this.nextSub++
    this.subs.set(id, { topic, onMessage: onMessage as (m: Message) => void, onReset: options.onReset, last: after })
    try {
      await this.call('subscribe', (r) => r.subscribe(id, topic, after))
    } catch (e) {
      this.subs.delete(id)
      throw e
    }
    return async () => {
      if (!this.subs.delete(id) || this.closed) return
      await this.call('unsubscribe', (r) => r.unsubscribe(id))
    }
  }

  /**
   * A snapshot for debugging and status displays: connection state, outbox size, cursors, tabs attached, which
   * worker (and version) serves this tab and whether it owns the socket, plus this tab's own subscriptions.
   */
  async stats(): Promise<WireStats> {
    const worker = await this.call('stats', (r) => r.stats())
    return { ...worker, subscriptions: [...this.subs.values()].map((s) => ({ topic: s.topic, last: s.last })) }
  }

  /** How many messages of this namespace are stored but not yet acked by the server (all tabs together). */
  pending(): Promise<number> {
    return this.call('pending', (r) => r.pending())
  }

  /**
   * Tries to connect now: after `failed`, or to skip a backoff wait. If attaching to the worker itself failed (its
   * storage could not be opened, say), attaches again.
   */
  reconnect(): Promise<void> {
    if (this.binding.failed && !this.closed) {
      this.binding.release()
      this.bind(pickWorker(this.options, this.kind))
      return this.binding.attached
    }
    return this.call('reconnect', (r) => r.reconnect())
  }

  /**
   * Logs out: deletes this namespace's outbox (unsent messages are lost), cursors and local log, and closes its
   * socket. Every tab of the namespace sees `closed`; `connect()` again to start afresh.
   */
  async purge(): Promise<void> {
    try {
      await this.call('purge', (r) => r.purge())
    } finally {
      this.shutdown()
      this.binding.release()
    }
  }

  /** This tab leaves: its subscriptions end; the worker and its socket stay for the other tabs. */
  close(): void {
    if (this.closed) return
    this.shutdown()
    const { remote, release } = this.binding
    void workerCall(remote.detach(), this.callTimeout, 'detach')
      .catch(() => undefined)
      .finally(release)
  }

  private get closed(): boolean {
    return this.info.state === 'closed'
  }

  private assertOpen(): void {
    if (this.closed) throw new TabwireError('closed', 'this wire is closed; connect() again')
  }

  /**
   * A call into the current worker: it waits for the attach, gives up after `callTimeout`, and fails at once with
   * `worker-unavailable` if the worker dies meanwhile (a call to a dead worker would otherwise never settle).
   */
  private async call<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>): Promise<T> {
    this.assertOpen()
    const b = this.binding
    await workerCall(Promise.race([b.attached, b.died]), this.callTimeout, 'attach')
    return workerCall(Promise.race([fn(b.remote), b.died]), this.callTimeout, what)
  }

  /** Holds a Web Lock for the tab's whole life: a worker's request for it is granted only when the tab is gone. */
  private holdTabLock(): Promise<void> {
    return new Promise<void>((held) => {
      void navigator.locks.request(this.lock, () => {
        held()
        return new Promise<void>((release) => (this.releaseLock = release))
      })
    })
  }

  /** Attaches to a worker; when that worker dies, attaches to a new one and resubscribes from each `last` seq. */
  private bind(worker: WorkerHandle, attachTimeout = this.callTimeout, reportFailure = true): Binding {
    let died!: (e: TabwireError) => void
    const b: Binding = {
      remote: Comlink.wrap<WorkerPort>(worker.endpoint),
      attached: Promise.resolve(),
      failed: false,
      died: new Promise<never>((_, reject) => (died = reject)),
      release: () => {
        b.remote[Comlink.releaseProxy]()
        worker.terminate()
      },
    }
    b.died.catch(() => undefined)
    this.binding = b
    b.attached = this.attach(b, died, attachTimeout)
    b.attached.catch((e: unknown) => {
      b.failed = true
      if (this.binding === b && reportFailure) this.setState({ state: 'failed', attempt: 0, error: errorInfo(e) })
    })
    return b
  }

  private async attach(b: Binding, died: (e: TabwireError) => void, timeout: number): Promise<void> {
    await this.lockHeld
    const dials = typeof this.options.url === 'function' || this.options.token !== undefined
    const result = await workerCall(
      Promise.race([b.remote.attach(this.config, { id: this.lock, lock: this.lock, dials }, Comlink.proxy(this.events())), b.died]),
      timeout,
      'attach',
    )
    // The worker holds this lock for its lifetime: our request is granted only once it is gone.
    void navigator.locks.request(`tabwire-worker:${result.worker}`, () => {
      if (this.binding !== b || this.closed) return
      died(new TabwireError('worker-unavailable', 'the worker stopped; calls in flight may not have taken effect'))
      this.setState({ state: 'connecting', attempt: 0, error: { code: 'worker-unavailable', message: 'worker restarted' } })
      void this.rebind()
    })
    this.sends.mark(result.acked)
    this.acks.mark(result.acked)
    this.setState(result.state)
  }

  /**
   * Attaches to a fresh worker after ours died, then resubscribes every subscription from its last seq. Retried with
   * a growing pause: Firefox hands a `new SharedWorker()` made while the old one is still closing to the dying
   * instance, which never answers.
   */
  private async rebind(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)))
      if (this.closed) return
      const b = this.bind(pickWorker(this.options, this.kind), Math.min(this.callTimeout, REATTACH_TIMEOUT), false)
      try {
        await b.attached
        break
      } catch {
        if (this.binding === b) b.release()
      }
    }
    for (const [id, s] of this.subs)
      void this.call('subscribe', (r) => r.subscribe(id, s.topic, s.last)).catch((e: unknown) => reportError(e))
  }

  private events(): TabEvents {
    return {
      state: (info) => this.setState(info),
      messages: (sub, msgs) => this.deliver(sub, msgs),
      reset: (sub, notice) => {
        const s = this.subs.get(sub)
        if (!s) return
        s.last = notice.seq
        s.onReset?.(notice)
      },
      acked: (upTo) => {
        this.sends.mark(upTo)
        this.acks.mark(upTo)
      },
      sent: (upTo) => this.sends.mark(upTo),
      renumbered: (from, delta) => {
        this.sends.shift(from, delta)
        this.acks.shift(from, delta)
      },
      dial: () => this.dial(),
    }
  }

  /** A provider's answer that is no URL is named to the worker, which fails for good (`invalid-url`): no retry mends it. */
  private async dial(): Promise<DialInfo> {
    const url: unknown = await provide(this.options.url)
    const problem = wsUrlProblem(url)
    if (problem) return { invalidUrl: `the url provider returned an unusable URL: ${problem}` }
    warnIfUnencrypted(url as string)
    const token = this.options.token === undefined ? undefined : await provide(this.options.token)
    return token === undefined ? { url: url as string } : { url: url as string, token }
  }

  private deliver(sub: number, msgs: Delivery[]): void {
    const s = this.subs.get(sub)
    if (!s) return
    for (const m of msgs) {
      if (m.seq <= s.last) continue
      s.last = m.seq
      try {
        s.onMessage(m)
      } catch (e) {
        // One failing handler must not cost the others their messages: report it the way an event listener would.
        reportError(e)
      }
    }
  }

  private async flushSends(): Promise<void> {
    const batch = this.queue
    this.queue = []
    try {
      const ids = await this.call('send', (r) => r.send(batch.map((q) => q.message)))
      batch.forEach((q, i) => {
        const id = ids[i] as number
        q.resolve({ id, sent: this.sends.wait(id), acked: this.acks.wait(id) })
      })
    } catch (e) {
      for (const q of batch) q.reject(e)
    }
  }

  private setState(info: StateInfo): void {
    if (this.closed) return
    if (this.options.debug) console.debug(`[tabwire:${this.config.namespace}] state`, info)
    this.info = info
    for (const fn of this.listeners) fn(info)
    if (info.state === 'closed') this.shutdown()
  }

  /** Chrome fires no online/offline events inside workers: the tab forwards what the page sees. */
  private listenToPage(): void {
    if (typeof window === 'undefined') return
    const listen = (target: EventTarget, type: string, handler: (ev: Event) => void) => {
      target.addEventListener(type, handler)
      this.unlisten.push(() => target.removeEventListener(type, handler))
    }
    const forward = (signal: () => BrowserSignal) => () => void this.binding.attached.then(() => this.binding.remote.signal(signal()))
    listen(window, 'online', forward(() => 'online'))
    listen(window, 'offline', forward(() => 'offline'))
    listen(document, 'visibilitychange', forward(() => (document.visibilityState === 'hidden' ? 'hidden' : 'visible')))
    listen(document, 'freeze', forward(() => 'freeze'))
    listen(document, 'resume', forward(() => 'resume'))
    // The fast path for a tab that goes away for good; the tab's Web Lock is the path that never misses.
    listen(window, 'pagehide', (ev) => {
      if (!(ev as PageTransitionEvent).persisted) this.close()
    })
    if (!navigator.onLine) forward(() => 'offline')()
    if (document.visibilityState === 'hidden') forward(() => 'hidden')()
  }

  private shutdown(): void {
    if (this.info.state !== 'closed') {
      this.info = { state: 'closed', attempt: 0 }
      for (const fn of this.listeners) fn(this.info)
    }
    for (const off of this.unlisten.splice(0)) off()
    this.releaseLock?.()
    this.subs.clear()
    this.acks.clear()
    this.sends.clear()
    // The port stays usable: a call already in flight (purge's own answer among them) still gets its reply.
    for (const q of this.queue.splice(0)) q.reject(new TabwireError('closed', 'the wire was closed before this send was stored'))
  }
}

/** One attachment to one worker instance; replaced when that worker dies. */
interface Binding {
  remote: Comlink.Remote<WorkerPort>
  attached: Promise<void>
  /** The attach was refused (storage could not be opened): `reconnect()` attaches again. */
  failed: boolean
  /** Rejects when the worker dies: every call races it. */
  died: Promise<never>
  release(): void
}

interface WorkerHandle {
  endpoint: MessagePort | Worker
  terminate(): void
}

/** Starts the worker `workerKind` chose (its options were checked there). */
function pickWorker(options: ConnectOptions, kind: 'shared' | 'dedicated'): WorkerHandle {
  if (kind === 'shared') {
    const w = checkWorkerInstance('worker', options.worker?.(), SharedWorker)
    return { endpoint: w.port, terminate: () => w.port.close() }
  }
  const w = checkWorkerInstance('dedicatedWorker', options.dedicatedWorker?.(), Worker)
  return { endpoint: w, terminate: () => w.terminate() }
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

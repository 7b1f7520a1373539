import type { RoleInspection } from './role.ts'
import { encodeFrames } from '../protocol/encode.ts'
import { TabwireError } from '../protocol/errors.ts'
import type { MsgFrame, ServerFrame, WelcomeFrame } from '../protocol/frames.ts'
import type {
  DialInfo,
  OutgoingMessage,
  RequestOutcome,
  SessionConfig,
  StateInfo,
  SubscribeMode,
  VolatileDelivery,
} from '../protocol/port.ts'
import type { OutboxBatch } from './db.ts'
import { packSubs } from './frame-room.ts'
import { Inbox, type SubTarget, type TopicSub } from './inbox.ts'
import { MAX_OUTBOX_ID } from './outbox-counters.ts'
import type { OutboxStore } from './outbox-store.ts'
import type { Database, Platform } from './platform.ts'
import { OneTabGroup } from './one-tab.ts'
import { presenceCode, requestsCode } from './features.ts'
import { Gate } from './lazy-code.ts'
import type { PresenceRelay } from './presence.ts'
import { Resender, type ResendHost } from './resender.ts'
import { SocketLoop, type Hold } from './socket-loop.ts'
import { SubFrames } from './sub-frames.ts'
import { TokenRefresh } from './token-refresh.ts'
import type { RequestBook } from './requests.ts'
import { MAX_PENDING_REQUESTS } from './request-limit.ts'
import { VolatileSender } from './volatile-sender.ts'

/** Presence calls that may wait for presence.ts at once (joins, updates and leaves, every tab's and follower's). */
const MAX_PRESENCE_WAITING = 10_000

/** What the owning session needs from the role around it. */
export interface OwnerSessionHost extends Omit<ResendHost, 'reconciled'> {
  dial(): Promise<DialInfo>
  state(info: StateInfo): void
  /** Chatter for the `debug` option only. */
  debug?(message: string): void
  /** Volatile messages of one WebSocket message, for every subscription of their topics (every worker's). */
  volatile?(msgs: VolatileDelivery[]): void
}

/**
 * The socket side of one namespace, run only by the worker that holds the namespace's owner lock: it ties the
 * socket loop to the resend of the shared outbox and to the inbox, routes the server's frames to them, and keys the
 * subscriptions (local tabs' and relayed ones alike) so a worker's can be dropped together.
 */
export class OwnerSession {
  readonly ready: Promise<void>
  readonly #socket: SocketLoop
  readonly #resender: Resender
  /** Made on the first request (requests.ts is loaded then). */
  readonly #requests: Gate<typeof import('./requests.ts'), RequestBook>
  readonly #volatile: VolatileSender
  readonly #refresh: TokenRefresh
  #inbox!: Inbox
  readonly #subFrames: SubFrames
  readonly #subs = new Map<string, TopicSub>()
  /** `deliver: 'one-tab'` subscriptions: one group per topic, and each member's key → its topic. */
  readonly #oneTab = new Map<string, { group: OneTabGroup; sub: TopicSub }>()
  readonly #oneTabKeys = new Map<string, string>()
  #openWaiters: (() => void)[] = []
  #closed = false
  /**
   * The namespace's presence handles: one member per topic, whatever the number of tabs. Made on the first join
   * (presence.ts is loaded then).
   */
  readonly presence: Gate<typeof import('./presence.ts'), PresenceRelay>

  readonly #db: Database
  readonly #outbox: OutboxStore
  readonly #host: OwnerSessionHost

  constructor(
    readonly config: SessionConfig,
    db: Database,
    outbox: OutboxStore,
    host: OwnerSessionHost,
    platform: Pick<Platform, 'clock' | 'socket'>,
  ) {
    this.#db = db
    this.#outbox = outbox
    this.#host = host
    this.#socket = new SocketLoop(
      config.reconnect,
      {
        dial: () => host.dial(),
        hello: () => ({ client: this.#outbox.clientId, subs: (room) => this.#inbox.activeCursors(room) }),
        opened: (welcome) => this.#opened(welcome),
        frames: (frames) => this.#frames(frames),
        dropped: () => {
          this.#refresh.stop()
          this.#inbox.dropped()
          this.#requests.ifUsed((book) => book.dropped())
          this.#volatile.dropped()
        },
        tooLarge: (largest) => this.#resender.learnLimit(largest),
        state: (info) => host.state(info),
        log: (m, level) => host.log(m, level),
        ...(host.debug ? { trace: (dir: '->' | '<-', text: string) => host.debug?.(`${dir} ${text}`) } : {}),
      },
      platform.clock,
      platform.socket,
    )
    this.#refresh = new TokenRefresh(
      {
        // One tab, the one a reconnect would ask: `dial` answers with the URL too, which an open socket ignores.
        token: async () => {
          const dial = await host.dial()
          return 'token' in dial ? dial.token : undefined
        },
        sendAuth: (token) => this.#socket.sendAuth(token),
        log: (m) => host.log(m),
      },
      platform.clock,
    )
    this.#subFrames = new SubFrames(this.#socket)
    this.#requests = new Gate(
      requestsCode,
      ({ RequestBook }) => new RequestBook(this.#socket, platform.clock),
      MAX_PENDING_REQUESTS,
    )
    this.#volatile = new VolatileSender(this.#socket)
    this.#resender = new Resender(outbox, this.#socket, {
      acked: (upTo) => host.acked(upTo),
      sent: (upTo) => host.sent(upTo),
      renumbered: (from, delta) => host.renumbered(from, delta),
      refused: (letters) => host.refused(letters),
      dropped: (messages) => host.dropped(messages),
      reconciled: () => {
        for (const w of this.#openWaiters.splice(0)) w()
      },
      log: (m, level) => host.log(m, level),
    })
    this.presence = new Gate(
      presenceCode,
      ({ PresenceRelay }) =>
        new PresenceRelay(
          (f) => this.#socket.send(encodeFrames([f])),
          () => this.#socket.isOpen,
          platform.clock,
        ),
      MAX_PRESENCE_WAITING,
    )
    this.ready = this.#load()
  }

  async #load(): Promise<void> {
    this.#inbox = await Inbox.load(
      this.#db,
      {
        sendFrame: (f) => (f.t === 'fetch' ? this.#socket.send(encodeFrames([f])) : this.#subFrames.queue(f)),
        sendFrames: (frames) => {
          for (const message of packSubs(frames, this.#socket.messageLimit)) this.#socket.send(message)
        },
        whenOpen: () => this.#whenOpen(),
        log: (m, level) => this.#host.log(m, level),
      },
      this.config.inboxRetention,
      // A fetch with no answer for as long as a silent link is given is treated as unanswerable.
      this.config.reconnect.heartbeatTimeout,
    )
    if (!this.#closed) this.#socket.start()
  }

  get state(): StateInfo {
    return this.#socket.stateInfo
  }

  cursors(): Record<string, number> {
    return this.#inbox.cursors()
  }

  /** Per followed topic, the worker's seq and the newest the server has shown (see `WorkerInspection.topics`). */
  topics(): RoleInspection['topics'] {
    return this.#inbox.topics()
  }

  /** `key` names the subscription across workers: `<worker>/<tab>/<sub>`. A repeated key replaces the old one. */
  subscribe(key: string, topic: string, after: number, target: SubTarget, mode?: SubscribeMode): void {
    this.unsubscribe(key)
    if (mode?.oneTab) this.#joinOneTab(key, topic, after, target)
    else this.#subs.set(key, this.#inbox.subscribe(topic, after, target, mode))
  }

  /**
   * The topic's one-tab group follows it once, from where its first member stood (a member joining later, or again
   * under a new owner, goes on from where the group is).
   */
  #joinOneTab(key: string, topic: string, after: number, target: SubTarget): void {
    let g = this.#oneTab.get(topic)
    if (!g) {
      const group = new OneTabGroup()
      g = { group, sub: this.#inbox.subscribe(topic, after, group) }
      this.#oneTab.set(topic, g)
    }
    this.#oneTabKeys.set(key, topic)
    g.group.add(key, {
      messages: (m) => target.messages(m),
      reset: (n) => target.reset(n),
      shown: () => target.shown?.() === true,
    })
  }

  unsubscribe(key: string): void {
    const topic = this.#oneTabKeys.get(key)
    const g = topic === undefined ? undefined : this.#oneTab.get(topic)
    if (g) {
      this.#oneTabKeys.delete(key)
      g.group.remove(key)
      if (g.group.size > 0) return
      this.#oneTab.delete(topic as string)
      this.#inbox.unsubscribe(g.sub)
      return
    }
    const s = this.#subs.get(key)
    if (!s) return
    this.#subs.delete(key)
    this.#inbox.unsubscribe(s)
  }

  /** Drops every subscription whose key starts with `prefix` (a tab or a whole worker went away). */
  unsubscribeAll(prefix: string): void {
    for (const key of [...this.#subs.keys(), ...this.#oneTabKeys.keys()])
      if (key.startsWith(prefix)) this.unsubscribe(key)
    this.presence.ifUsed((p) => p.dropAll(prefix))
  }

  /** Try now. An explicit request overrides the browser's offline flag, which is often wrong (captive portals, VPNs). */
  reconnect(): void {
    this.#socket.hold('offline', false)
    this.#socket.reconnectNow()
  }

  hold(reason: Hold, on: boolean): void {
    this.#socket.hold(reason, on)
  }

  /** New outbox records are on disk (written by this worker or another). */
  committed(batch?: OutboxBatch): void {
    this.#resender.committed(batch)
  }

  /** Volatile messages: `true` once handed to the open socket, `false` (dropped) when it is not open. */
  sendVolatile(messages: readonly OutgoingMessage[]): boolean {
    return this.#volatile.send(messages)
  }

  /** `key` names the request across workers: `<worker>/<tab>/<req>`. `done` is called exactly once. */
  request(
    key: string,
    topic: string,
    body: string | Uint8Array,
    timeout: number,
    done: (o: RequestOutcome) => void,
  ): void {
    this.#requests.use(
      (book) => book.ask(key, topic, body, timeout, done),
      (e) => done({ ok: false, code: e.code, message: e.message }),
      key,
    )
  }

  cancelRequest(key: string): void {
    if (!this.#requests.cancel(key)) this.#requests.ifUsed((book) => book.cancel(key))
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#refresh.stop()
    this.#requests.close(new TabwireError('disconnected', 'the worker that owned the connection left'), (book) =>
      book.close(),
    )
    this.#socket.close()
    this.#inbox?.clear()
    this.presence.close(new TabwireError('closed', 'the worker left the connection'), (p) => p.close())
  }

  /** A `welcome` opened a connection; the server holds (or refused) every id ≤ `acked`. */
  #opened(welcome: WelcomeFrame): void {
    const { acked } = welcome
    // Moving the counter there would run ids past the safe integers, where two sends share one id and one record.
    if (acked > MAX_OUTBOX_ID) {
      this.#socket.protocolError(`welcome.acked ${acked} leaves no room for new ids`)
      return
    }
    this.#refresh.expiresIn(welcome.expiresIn)
    this.#inbox.opened()
    void this.#resender.opened(welcome)
    this.presence.ifUsed((p) => p.opened())
    this.#requests.ifUsed((book) => book.opened())
  }

  #whenOpen(): Promise<void> {
    if (this.#socket.isOpen) return Promise.resolve()
    return new Promise((resolve) => this.#openWaiters.push(resolve))
  }

  /** Routes one WebSocket message's frames; consecutive `msg`s of one topic reach the inbox as one run. */
  #frames(frames: ServerFrame[]): void {
    let run: MsgFrame[] = []
    const volatile: VolatileDelivery[] = []
    const flushRun = () => {
      const first = run[0]
      if (first) this.#inbox.receive(first.topic, run)
      run = []
    }
    for (const f of frames) {
      if (f.t === 'msg') {
        if (run[0] && run[0].topic !== f.topic) flushRun()
        run.push(f)
        continue
      }
      flushRun()
      switch (f.t) {
        case 'ack':
          if (!this.#resender.ack(f.id)) return
          break
        case 'nack':
          if (!this.#resender.nack(f)) return
          break
        case 'reset':
          this.#inbox.reset(f)
          break
        case 'range':
          if (this.#inbox.range(f)) break
          this.#socket.protocolError(`range ${f.req} holds more messages than its fetch asked for`)
          return
        case 'error':
          if (f.code === 'auth-refused') this.#refresh.refused(f.message)
          else this.#host.log(`server error ${f.code}: ${f.message}`, 'error')
          break
        case 'authed':
          this.#refresh.expiresIn(f.expiresIn)
          break
        case 'presence':
        case 'pdiff':
          this.presence.ifUsed((p) => p.receive(f))
          break
        case 'vmsg':
          volatile.push({ topic: f.topic, body: f.body })
          break
        case 'reply':
          this.#requests.ifUsed((book) => book.reply(f))
          break
        case 'pong':
        case 'welcome':
          break
      }
    }
    flushRun()
    if (volatile.length > 0) this.#host.volatile?.(volatile)
  }
}

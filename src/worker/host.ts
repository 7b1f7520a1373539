import { TabwireError } from '../protocol/errors.ts'
import type {
  BrowserSignal,
  Delivery,
  DialInfo,
  OutgoingMessage,
  ResetNotice,
  SessionConfig,
  StateInfo,
  WorkerStats,
} from '../protocol/port.ts'
import { Bus, ownerLock, workerLock, type BusMessage } from './bus.ts'
import { DbHandle } from './db.ts'
import { OutboxStore } from './outbox-store.ts'
import { OwnerSession } from './owner-session.ts'
import type { Tab } from './tab.ts'

/** A tab's subscription as this worker tracks it: `last` survives a change of owner, so nothing repeats or goes missing. */
interface HostSub {
  tab: Tab
  sub: number
  topic: string
  last: number
}

/**
 * One namespace inside one worker. Every worker writes the shared outbox itself; only the worker holding the
 * namespace's owner lock runs the `OwnerSession` with the socket. The others are followers that relay subscriptions over
 * the bus — so two worker versions after a deploy, or the dedicated workers of several tabs, still make one socket.
 * When the owner goes (its lock is released), the next worker in the lock's queue takes over and resubscribes every
 * tab from the last seq it delivered.
 */
export class NamespaceHost {
  readonly tabs = new Set<Tab>()
  readonly ready: Promise<void>
  private readonly db: DbHandle
  private readonly bus: Bus
  private outbox!: OutboxStore
  private session: OwnerSession | undefined
  private readonly subs = new Map<string, HostSub>()
  private info: StateInfo = { state: 'connecting', attempt: 0 }
  /** Releases the owner lock (owner) or withdraws the request for it (follower). */
  private readonly leave = new AbortController()
  private releaseOwnership: (() => void) | undefined
  private readonly watchedFollowers = new Set<string>()
  /** Followers' visibility (owner only): worker id → whether any of its tabs is visible. */
  private readonly followerVisible = new Map<string, boolean>()
  private hiddenTimer: ReturnType<typeof setTimeout> | undefined
  /** The last online/offline signal of this worker's tabs, replayed to whoever owns the socket next. */
  private offline = false
  private lastReportedVisible: boolean | undefined
  private ended = false

  constructor(
    readonly config: SessionConfig,
    private readonly workerId: string,
    private readonly onEnd: () => void,
  ) {
    this.db = new DbHandle(config.namespace)
    this.bus = new Bus(config.namespace, (m) => this.onBus(m))
    this.ready = this.load()
    // A host whose storage cannot be opened is dropped, so the tab's next attach (`wire.reconnect()`) starts afresh.
    this.ready.catch(() => {
      this.ended = true
      this.bus.close()
      this.onEnd()
    })
  }

  private async load(): Promise<void> {
    this.outbox = await OutboxStore.load(this.db, (batch) => {
      this.session?.committed(batch)
      // Everyone keeps count (pending(), and a follower that becomes the owner resends from the right place).
      this.bus.post({ k: 'committed', last: batch.last })
    })
    if (this.ended) return
    navigator.locks
      .request(ownerLock(this.config.namespace), { signal: this.leave.signal }, () => this.own())
      .catch(() => undefined) // aborted: this host ended before it became the owner
    this.bus.post({ k: 'join', from: this.workerId })
  }

  get state(): StateInfo {
    return this.info
  }

  get acked(): number {
    return this.outbox.acked
  }

  attach(tab: Tab): void {
    this.assertLive()
    this.tabs.add(tab)
  }

  /** Forgets a tab (closed, navigated away, or `close()`d); the last tab ends this worker's part in the namespace. */
  detach(tab: Tab): void {
    if (!this.tabs.delete(tab)) return
    tab.gone = true
    for (const [key, hs] of this.subs) if (hs.tab === tab) this.unsubscribeKey(key)
    if (this.tabs.size === 0) this.end()
    else this.visibilityChanged()
  }

  send(messages: OutgoingMessage[]): Promise<number[]> {
    this.assertLive()
    return this.outbox.send(messages)
  }

  subscribe(tab: Tab, sub: number, topic: string, after: number): void {
    this.assertLive()
    const key = `${this.workerId}/${tab.info.id}/${sub}`
    if (this.subs.has(key)) throw new TabwireError('invalid-argument', `subscription ${sub} already exists`)
    const hs: HostSub = { tab, sub, topic, last: after }
    this.subs.set(key, hs)
    this.route(key, hs)
  }

  unsubscribe(tab: Tab, sub: number): void {
    this.unsubscribeKey(`${this.workerId}/${tab.info.id}/${sub}`)
  }

  pending(): number {
    return this.outbox.pending()
  }

  stats(worker: WorkerStats['worker']): WorkerStats {
    return {
      state: this.info,
      pending: this.outbox.pending(),
      acked: this.outbox.acked,
      cursors: this.session?.cursors() ?? {},
      tabs: this.tabs.size,
      owner: this.session !== undefined,
      worker,
    }
  }

  reconnect(): void {
    if (this.session) this.session.reconnect()
    else this.bus.post({ k: 'reconnect' })
  }

  signal(tab: Tab, signal: BrowserSignal): void {
    switch (signal) {
      case 'online':
      case 'offline':
        this.offline = signal === 'offline'
        if (this.session) this.session.hold('offline', this.offline)
        else this.bus.post({ k: 'online', online: !this.offline })
        break
      case 'visible':
      case 'hidden':
        tab.visible = signal === 'visible'
        this.visibilityChanged()
        break
      case 'freeze':
      case 'resume':
        tab.frozen = signal === 'freeze'
        this.visibilityChanged()
        break
    }
  }

  /**
   * Applies `whenHidden`. The owner decides from its tabs and the followers' reports; a follower reports whether
   * any of its own tabs is visible whenever that changes (or a new owner asks by announcing itself).
   */
  private visibilityChanged(): void {
    const mine = [...this.tabs].some((t) => t.shown)
    if (!this.session) {
      if (mine !== this.lastReportedVisible) {
        this.lastReportedVisible = mine
        this.bus.post({ k: 'visible', from: this.workerId, visible: mine })
      }
      return
    }
    if (this.config.whenHidden !== 'disconnect') return
    const any = mine || [...this.followerVisible.values()].some(Boolean)
    clearTimeout(this.hiddenTimer)
    if (any) this.session.hold('hidden', false)
    else this.hiddenTimer = setTimeout(() => this.session?.hold('hidden', true), this.config.hiddenGrace)
  }

  /** Log out: every worker of the namespace lets go of it, then its database is deleted. */
  async purge(): Promise<void> {
    this.bus.post({ k: 'purged' })
    this.end()
    await this.db.destroy()
  }

  /** URL and token from the most recently attached tab that answers. */
  private async dial(): Promise<DialInfo> {
    let last: unknown
    for (const tab of [...this.tabs].reverse()) {
      if (!tab.info.dials) continue
      try {
        return await tab.dial(this.config.reconnect.connectTimeout)
      } catch (e) {
        last = e
        this.log(`dial: ${errorText(e)}`)
      }
    }
    if (this.config.url) return { url: this.config.url }
    throw new TabwireError('failed', `no live tab could provide the URL or token${last ? `: ${errorText(last)}` : ''}`)
  }

  /** Runs while this worker holds the owner lock; resolving releases it to the next worker in line. */
  private async own(): Promise<void> {
    if (this.ended) return
    const session = new OwnerSession(this.config, this.db, this.outbox, {
      dial: () => this.dial(),
      state: (info) => {
        // An owner that is leaving closes its socket; that `closed` is not the namespace's, and must not reach tabs
        // that stay (the next owner takes over and reports its own state).
        if (this.ended) return
        this.setState(info)
        this.bus.post({ k: 'state', state: info })
      },
      acked: (upTo) => {
        this.ackTabs(upTo)
        this.bus.post({ k: 'acked', upTo })
      },
      sent: (upTo) => {
        for (const tab of this.tabs) void tab.events.sent(upTo)
        this.bus.post({ k: 'sent', upTo })
      },
      renumbered: (from, delta) => {
        this.renumberTabs(from, delta)
        this.bus.post({ k: 'renumbered', from, delta })
      },
      log: (m) => this.log(m),
      ...(this.config.debug ? { debug: (m: string) => this.debug(m) } : {}),
    })
    const released = new Promise<void>((resolve) => (this.releaseOwnership = resolve))
    try {
      await session.ready
    } catch (e) {
      this.log(`cannot own the namespace: ${String(e)}`)
      session.close()
      return
    }
    if (this.ended) {
      session.close()
      return
    }
    this.session = session
    session.hold('offline', this.offline)
    this.debug(`worker ${this.workerId} owns the socket`)
    for (const [key, hs] of this.subs) this.route(key, hs)
    this.bus.post({ k: 'owner', id: this.workerId, state: session.state, acked: this.outbox.acked })
    this.visibilityChanged()
    // Followers may have committed while nobody owned the socket: send whatever is on disk.
    session.committed()
    await released
  }

  private route(key: string, hs: HostSub): void {
    if (this.session)
      this.session.subscribe(key, hs.topic, hs.last, {
        messages: (msgs) => this.deliver(hs, msgs),
        reset: (notice) => this.reset(hs, notice),
      })
    else this.bus.post({ k: 'sub', from: this.workerId, key, topic: hs.topic, after: hs.last })
  }

  private unsubscribeKey(key: string): void {
    if (!this.subs.delete(key)) return
    if (this.session) this.session.unsubscribe(key)
    else this.bus.post({ k: 'unsub', from: this.workerId, key })
  }

  private deliver(hs: HostSub, msgs: Delivery[]): void {
    const fresh = msgs.filter((m) => m.seq > hs.last)
    const last = fresh[fresh.length - 1]
    if (!last || hs.tab.gone) return
    hs.last = last.seq
    void hs.tab.events.messages(hs.sub, fresh)
  }

  private reset(hs: HostSub, notice: ResetNotice): void {
    if (hs.tab.gone) return
    hs.last = notice.seq
    void hs.tab.events.reset(hs.sub, notice)
  }

  private onBus(m: BusMessage): void {
    if (this.ended) return
    switch (m.k) {
      case 'committed':
        this.outbox?.noteCommitted(m.last)
        this.session?.committed()
        return
      case 'purged':
        this.end()
        return
    }
    if (this.session) this.onBusAsOwner(m)
    else this.onBusAsFollower(m)
  }

  private onBusAsOwner(m: BusMessage): void {
    const session = this.session as OwnerSession
    switch (m.k) {
      case 'join':
        this.bus.post({ k: 'owner', id: this.workerId, state: session.state, acked: this.outbox.acked })
        break
      case 'sub':
        this.watchFollower(m.from)
        session.subscribe(m.key, m.topic, m.after, {
          messages: (msgs) => this.bus.post({ k: 'msgs', to: m.from, key: m.key, msgs }),
          reset: (notice) => this.bus.post({ k: 'reset', to: m.from, key: m.key, notice }),
        })
        break
      case 'unsub':
        session.unsubscribe(m.key)
        break
      case 'reconnect':
        session.reconnect()
        break
      case 'online':
        session.hold('offline', !m.online)
        break
      case 'visible':
        this.watchFollower(m.from)
        this.followerVisible.set(m.from, m.visible)
        this.visibilityChanged()
        break
    }
  }

  private onBusAsFollower(m: BusMessage): void {
    switch (m.k) {
      case 'owner':
        // A new owner knows nothing of our tabs: subscribe them again from what each has already received.
        this.setState(m.state)
        void this.followAck(m.acked, true)
        for (const [key, hs] of this.subs) this.route(key, hs)
        if (this.offline) this.bus.post({ k: 'online', online: false })
        this.lastReportedVisible = undefined
        this.visibilityChanged()
        break
      case 'state':
        this.setState(m.state)
        break
      case 'acked':
        void this.followAck(m.upTo, false)
        break
      case 'renumbered':
        void this.outbox.followRenumber(m.from, m.delta)
        this.renumberTabs(m.from, m.delta)
        break
      case 'sent':
        for (const tab of this.tabs) void tab.events.sent(m.upTo)
        break
      case 'msgs':
        if (m.to === this.workerId) {
          const hs = this.subs.get(m.key)
          if (hs) this.deliver(hs, m.msgs)
        }
        break
      case 'reset':
        if (m.to === this.workerId) {
          const hs = this.subs.get(m.key)
          if (hs) this.reset(hs, m.notice)
        }
        break
    }
  }

  /** The owner's word on what the server acked; `settle` tells the tabs even when it moved nothing (a new owner). */
  private async followAck(upTo: number, settle: boolean): Promise<void> {
    const moved = await this.outbox.ackRelayed(upTo)
    if (!moved && upTo > this.outbox.last) this.log(`ignored the owner's ack of ${upTo}: only ${this.outbox.last} ever stored`)
    if (moved || settle) this.ackTabs(this.outbox.acked)
  }

  /** A follower worker that dies takes its subscriptions with it: its lifetime lock tells us when. */
  private watchFollower(id: string): void {
    if (this.watchedFollowers.has(id)) return
    this.watchedFollowers.add(id)
    void navigator.locks.request(workerLock(id), { signal: this.leave.signal }, () => {
      this.watchedFollowers.delete(id)
      this.followerVisible.delete(id)
      this.session?.unsubscribeAll(`${id}/`)
      this.visibilityChanged()
    }).catch(() => undefined)
  }

  private setState(info: StateInfo): void {
    this.info = info
    this.debug(`state ${JSON.stringify(info)}`)
    for (const tab of this.tabs) void tab.events.state(info)
  }

  private renumberTabs(from: number, delta: number): void {
    for (const tab of this.tabs) void tab.events.renumbered(from, delta)
  }

  private ackTabs(upTo: number): void {
    for (const tab of this.tabs) void tab.events.acked(upTo)
  }

  private assertLive(): void {
    if (this.ended) throw new TabwireError('closed', `namespace ${this.config.namespace} was closed or purged`)
  }

  private end(): void {
    if (this.ended) return
    this.ended = true
    if (!this.session) for (const key of this.subs.keys()) this.bus.post({ k: 'unsub', from: this.workerId, key })
    this.subs.clear()
    clearTimeout(this.hiddenTimer)
    this.outbox?.dispose()
    this.session?.close()
    this.session = undefined
    this.setState({ state: 'closed', attempt: 0 })
    this.tabs.clear()
    this.releaseOwnership?.()
    this.leave.abort()
    this.bus.close()
    this.onEnd()
  }

  private log(message: string): void {
    console.warn(`[tabwire:${this.config.namespace}] ${message}`)
  }

  private debug(message: string): void {
    if (this.config.debug) console.debug(`[tabwire:${this.config.namespace}] ${message}`)
  }
}

/** Errors from a tab arrive as plain `{ code, message }` records (see PortApi): show their message, not `[object]`. */
function errorText(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message
  return typeof m === 'string' ? m : String(e)
}

import { TabwireError } from '../protocol/errors.ts'
import type {
  BrowserSignal,
  DeadLetter,
  Delivery,
  DroppedMessage,
  DialInfo,
  OutboxEntry,
  OutboxListOptions,
  OutboxStatus,
  OutgoingMessage,
  ResetNotice,
  SessionConfig,
  StateInfo,
  SubscribeMode,
  StateRecord,
  VolatileDelivery,
  WorkerInspection,
  WorkerLogLine,
  WorkerStats,
} from '../protocol/port.ts'
import { VERSION } from '../protocol/version.ts'
import { Bus, ownerLock, type BusMessage } from './bus.ts'
import { Conflator } from './conflator.ts'
import { dialFromTabs } from './dial.ts'
import { outboxQueriesCode } from './features.ts'
import { FollowerSlot } from './follower-slot.ts'
import { OutboxStore, OutboxWriter, type TabCall } from './outbox-store.ts'
import { OwnerRole } from './owner-role.ts'
import { browserPlatform, type Database, type Platform, type TimerId } from './platform.ts'
import type { Json } from '../protocol/frames.ts'
import type { PresenceEvent } from '../protocol/presence-port.ts'
import type { HostPresence, HostSub, Role, RoleHost } from './role.ts'
import type { Tab } from './tab.ts'
import { WorkerLog } from './worker-log.ts'

/** States kept for `inspect()`. */
export const MAX_STATE_HISTORY = 20

/**
 * One namespace inside one worker: its tabs and their subscriptions, the shared outbox (every worker writes it
 * itself), and teardown. What depends on owning the socket is delegated to a role: every host starts as a follower
 * that relays over the bus, and becomes the owner when it wins the namespace's owner lock — so two worker versions
 * after a deploy, or the dedicated workers of several tabs, still make one socket. When the owner goes (its lock is
 * released), the next worker in the lock's queue takes over and resubscribes every tab from the last seq it delivered.
 */
export class NamespaceHost implements RoleHost {
  readonly tabs = new Set<Tab>()
  readonly ready: Promise<void>
  readonly db: Database
  readonly bus: Bus
  #outbox: OutboxStore | undefined
  #writer: OutboxWriter | undefined
  readonly subs = new Map<string, HostSub>()
  readonly presences = new Map<string, HostPresence>()
  #offline = false
  #ended = false
  readonly #follower = new FollowerSlot(this)
  #role: Role = this.#follower
  #info: StateInfo = { state: 'connecting', attempt: 0 }
  /** Highest outbox id written to the owner's current connection (for `outboxList`; 0 while not open). */
  #sentUpTo = 0
  /** Releases the owner lock (owner) or withdraws the request for it (follower). */
  readonly #leave = new AbortController()
  #releaseOwnership: (() => void) | undefined

  readonly #onEnd: () => void
  readonly #platform: Platform
  readonly #log: WorkerLog
  readonly #states: StateRecord[] = []
  #owner: WorkerInspection['owner'] = null
  readonly #counters: WorkerInspection['counters'] = {
    volatileSent: 0,
    volatileDropped: 0,
    volatileDelivered: 0,
    requests: 0,
    requestsOk: 0,
    requestsFailed: 0,
    requestsPending: 0,
  }
  /** Keys of this worker's requests not yet answered nor cancelled (each ends once: `done`, or a cancel before it). */
  readonly #requestsWaiting = new Set<string>()
  /**
   * Subscriptions of a last tab that left, still routed while `lastTabGrace` runs: the server keeps sending their
   * topics into the local log, so a reload that attaches in time replays the newest from there, as a warm tab does.
   */
  readonly #lingering = new Set<string>()
  /** Runs from the last tab's detach for `lastTabGrace` ms: then the lingering subscriptions go, and with no tab the namespace. */
  #graceTimer: TimerId | undefined

  constructor(
    readonly config: SessionConfig,
    readonly workerId: string,
    onEnd: () => void,
    platform: Platform = browserPlatform,
  ) {
    this.#onEnd = onEnd
    this.#platform = platform
    this.#log = new WorkerLog(`[tabwire worker ns=${config.namespace} v=${VERSION}]`, platform.clock, (lines) =>
      this.#tabsLog(lines),
    )
    this.#recordState(this.#info)
    this.db = platform.database(config.namespace)
    this.bus = new Bus(config.namespace, platform.channel, (m) => this.#onBus(m))
    this.ready = this.#load()
    // A host whose storage cannot be opened is dropped, so the tab's next attach (`wire.reconnect()`) starts afresh.
    this.ready.catch(() => {
      this.#ended = true
      this.bus.close()
      this.#onEnd()
    })
  }

  async #load(): Promise<void> {
    this.#outbox = await OutboxStore.load(this.db, this.#platform.clock)
    this.#writer = new OutboxWriter(this.#outbox, (batch) => {
      this.#role.committed(batch)
      // Written at once (the owner's usual case): the tabs were just told `sent` up to it, which says as much, and one
      // event less per send is one port message less on each tab's way to its `send()` answer.
      if (this.#sentUpTo < batch.last) this.#tabsQueued(batch.last)
      // Everyone keeps count (pending(), and a follower that becomes the owner resends from the right place).
      const exp = earliest(batch.expiresAt)
      this.bus.post(
        exp === undefined ? { k: 'committed', last: batch.last } : { k: 'committed', last: batch.last, exp },
      )
    })
    if (this.#ended) return
    this.#platform.locks
      .request(ownerLock(this.config.namespace), { signal: this.#leave.signal }, () => this.#own())
      .catch(() => undefined) // aborted: this host ended before it became the owner
    this.bus.post({ k: 'join', from: this.workerId })
  }

  /** Set once the storage is open (`ready`); roles and ports use it only after that. */
  get outbox(): OutboxStore {
    return this.#outbox as OutboxStore
  }

  get offline(): boolean {
    return this.#offline
  }

  get ended(): boolean {
    return this.#ended
  }

  get state(): StateInfo {
    return this.#info
  }

  get acked(): number {
    return this.outbox.counters.acked
  }

  attach(tab: Tab): void {
    this.#assertLive()
    this.tabs.add(tab)
    // Into a grace: the hold policy last decided with no tab shown (`whenHidden: 'disconnect'` may hold the socket).
    if (this.#graceTimer !== undefined) this.#role.visibilityChanged()
  }

  /**
   * Forgets a tab (closed, navigated away, or `close()`d). The last tab ends this worker's part in the namespace,
   * after `lastTabGrace` ms: until then the socket, the owner lock and that tab's subscriptions stay, for a reload
   * that finds this worker still running (see `#linger`).
   */
  detach(tab: Tab): void {
    if (!this.tabs.delete(tab)) return
    tab.close()
    // Not before the storage is open: a tab detached because it failed has stored no call.
    void this.#writer?.forgetCalls(tab.info.id)
    const linger = this.tabs.size === 0 && this.config.lastTabGrace > 0 && !this.#ended
    for (const [key, hs] of this.subs)
      if (hs.tab !== tab) continue
      // A one-tab message must be handled by a live tab: it cannot wait in a gone one.
      else if (linger && !hs.oneTab) this.#lingering.add(key)
      else this.#unsubscribeKey(key)
    for (const [key, hp] of this.presences)
      if (hp.tab === tab) {
        this.presences.delete(key)
        this.#role.presenceLeave(key, false)
      }
    if (linger) this.#linger()
    else if (this.tabs.size === 0) this.#end()
    if (!this.#ended) this.#role.visibilityChanged()
  }

  /** Starts (again) the last tab's grace; a tab that attaches meanwhile keeps the namespace, not the gone tab's subs. */
  #linger(): void {
    const clock = this.#platform.clock
    clock.clearTimeout(this.#graceTimer)
    this.#graceTimer = clock.setTimeout(() => {
      this.#graceTimer = undefined
      if (this.#ended) return
      for (const key of this.#lingering) this.#unsubscribeKey(key)
      this.#lingering.clear()
      if (this.tabs.size === 0) this.#end()
    }, this.config.lastTabGrace)
  }

  send(messages: OutgoingMessage[], call?: TabCall): Promise<number[]> {
    this.#assertLive()
    return (this.#writer as OutboxWriter).send(messages, call)
  }

  subscribe(tab: Tab, sub: number, topic: string, after: number, mode: SubscribeMode = {}): void {
    this.#assertLive()
    const key = `${this.workerId}/${tab.info.id}/${sub}`
    // The same tab back from the back/forward cache (same id) within the grace: this subscription replaces its own.
    if (this.#lingering.delete(key)) this.#unsubscribeKey(key)
    if (this.subs.has(key)) throw new TabwireError('invalid-argument', `subscription ${sub} already exists`)
    const hs: HostSub = { tab, sub, topic, last: mode.latest ? 0 : after, volatile: mode.volatile === true }
    if (mode.latest) hs.latest = true
    if (mode.oneTab) hs.oneTab = true
    if (mode.conflate) hs.conflator = new Conflator((msgs) => tab.handled(sub, msgs), !tab.shown)
    this.subs.set(key, hs)
    this.#role.route(key, hs)
  }

  /** Volatile messages (see `WorkerPort.sendVolatile`). */
  sendVolatile(messages: OutgoingMessage[]): boolean {
    this.#assertLive()
    const sent = this.#role.sendVolatile(messages)
    if (sent) this.#counters.volatileSent += messages.length
    else this.#counters.volatileDropped += messages.length
    return sent
  }

  /** The answer goes to the tab that asked, whichever worker owns the socket. */
  request(tab: Tab, req: number, topic: string, body: string | Uint8Array, timeout: number): void {
    this.#assertLive()
    const key = `${this.workerId}/${tab.info.id}/${req}`
    const counters = this.#counters
    counters.requests++
    this.#requestsWaiting.add(key)
    this.#role.request(key, topic, body, timeout, (outcome) => {
      this.#requestsWaiting.delete(key)
      if (outcome.ok) counters.requestsOk++
      else counters.requestsFailed++
      if (!tab.gone) tab.events.replied(req, outcome)
    })
  }

  /** A cancelled request gets no answer: it ends here, as failed. */
  cancelRequest(tab: Tab, req: number): void {
    const key = `${this.workerId}/${tab.info.id}/${req}`
    if (this.#requestsWaiting.delete(key)) this.#counters.requestsFailed++
    this.#role.cancelRequest(key)
  }

  deliverVolatile(msgs: VolatileDelivery[]): void {
    for (const hs of this.subs.values()) {
      if (!hs.volatile || hs.tab.gone) continue
      const mine = msgs.filter((m) => m.topic === hs.topic)
      if (mine.length === 0) continue
      this.#counters.volatileDelivered += mine.length
      hs.tab.events.volatile(hs.sub, mine)
    }
  }

  unsubscribe(tab: Tab, sub: number): void {
    this.#unsubscribeKey(`${this.workerId}/${tab.info.id}/${sub}`)
  }

  presenceJoin(tab: Tab, pid: number, topic: string, state: Json): void {
    this.#assertLive()
    const key = this.#presenceKey(tab, pid)
    if (this.presences.has(key)) throw new TabwireError('invalid-argument', `presence ${pid} already exists`)
    const hp: HostPresence = { tab, pid, topic, state }
    this.presences.set(key, hp)
    this.#role.presenceJoin(key, hp)
  }

  presenceUpdate(tab: Tab, pid: number, state: Json): void {
    this.#assertLive()
    const key = this.#presenceKey(tab, pid)
    const hp = this.presences.get(key)
    if (!hp) return
    hp.state = state
    this.#role.presenceUpdate(key, state)
  }

  presenceLeave(tab: Tab, pid: number): void {
    const key = this.#presenceKey(tab, pid)
    if (this.presences.delete(key)) this.#role.presenceLeave(key, true)
  }

  presenceEvent(hp: HostPresence, event: PresenceEvent): void {
    if (!hp.tab.gone) hp.tab.events.presence(hp.pid, event)
  }

  #presenceKey(tab: Tab, pid: number): string {
    return `${this.workerId}/${tab.info.id}/p${pid}`
  }

  pending(): number {
    return this.outbox.counters.pending()
  }

  async outboxStatus(id: number): Promise<OutboxStatus> {
    const found = await (await outboxQueriesCode.load()).find(this.outbox, id)
    switch (found.kind) {
      case 'dead': {
        const { code, message } = found.letter
        return { id, state: 'dead', refusal: { id, code, message } }
      }
      case 'stored':
        return { id, state: id <= this.#sentUpTo ? 'sent' : 'queued' }
      case 'gone':
        return { id, state: 'acked' }
      default:
        return { id, state: found.kind }
    }
  }

  /** See `WireOutbox.cancel`: decided on disk against the owner's `written` mark, so any worker may do it. */
  async outboxCancel(id: number): Promise<void> {
    const dropped = await (await outboxQueriesCode.load()).cancel(this.outbox, id)
    if (dropped) this.outboxDropped([dropped])
  }

  outboxDropped(messages: DroppedMessage[]): void {
    this.#tabsDropped(messages)
    this.bus.post({ k: 'dropped', messages })
  }

  #tabsDropped(messages: DroppedMessage[]): void {
    for (const tab of this.tabs) tab.events.dropped(messages)
  }

  async outboxDead(limit: number): Promise<DeadLetter[]> {
    return (await outboxQueriesCode.load()).dead(this.outbox, limit)
  }

  async outboxList(limit: number, options?: OutboxListOptions): Promise<OutboxEntry[]> {
    const entries = await (await outboxQueriesCode.load()).list(this.outbox, limit, options)
    return entries.map((e) => ({ ...e, state: e.id <= this.#sentUpTo ? 'sent' : 'queued' }))
  }

  stats(worker: WorkerStats['worker']): WorkerStats {
    return {
      state: this.#info,
      pending: this.outbox.counters.pending(),
      acked: this.outbox.counters.acked,
      cursors: this.#role.cursors(),
      presence: this.#role.presence(),
      tabs: this.tabs.size,
      owner: this.#role.owner,
      worker,
    }
  }

  async inspect(worker: WorkerStats['worker']): Promise<WorkerInspection> {
    const outbox = await (await outboxQueriesCode.load()).inspectOutbox(this.outbox, this.#platform.clock.now())
    const { topics, members } = this.#role.inspect()
    const presence: WorkerInspection['presence'] = {}
    for (const hp of this.presences.values()) {
      const p = (presence[hp.topic] ??= { handles: 0, members: members[hp.topic] ?? null })
      p.handles++
    }
    const tabs = [...this.tabs]
    return {
      worker,
      role: this.#role.owner ? 'owner' : 'follower',
      owner: this.#owner,
      tabs: { count: tabs.length, ids: tabs.map((t) => t.info.id), visible: tabs.filter((t) => t.shown).length },
      states: [...this.#states],
      outbox,
      topics,
      presence,
      counters: { ...this.#counters, requestsPending: this.#requestsWaiting.size },
      errors: this.#log.recent,
    }
  }

  /** The worker that owns the socket, as announced on the bus (or this one). */
  ownerIs(id: string, version: string | undefined): void {
    this.#owner = { id, version: version ?? null }
  }

  reconnect(): void {
    this.#role.reconnect()
  }

  signal(tab: Tab, signal: BrowserSignal): void {
    // Fire-and-forget, so it can arrive after the tab's lock grant detached it (WebKit), when this host may be over;
    // the bus of an ended host is closed.
    if (this.#ended || tab.gone) return
    switch (signal) {
      case 'online':
      case 'offline':
        this.#offline = signal === 'offline'
        this.#role.online(!this.#offline)
        break
      case 'visible':
      case 'hidden':
        tab.visible = signal === 'visible'
        this.#role.visibilityChanged()
        break
      case 'freeze':
      case 'resume':
        tab.frozen = signal === 'freeze'
        this.#role.visibilityChanged()
        break
    }
    for (const hs of this.subs.values()) if (hs.tab === tab) hs.conflator?.hold(!tab.shown)
  }

  localShown(): boolean {
    return [...this.tabs].some((t) => t.shown)
  }

  /** Log out: every worker of the namespace lets go of it, then its database is deleted. */
  async purge(): Promise<void> {
    this.bus.post({ k: 'purged' })
    this.#end()
    await this.db.destroy()
  }

  dial(): Promise<DialInfo> {
    return dialFromTabs(this.tabs, this.config.url, this.config.reconnect.connectTimeout, (m) => this.log(m))
  }

  /** Runs while this worker holds the owner lock; resolving releases it to the next worker in line. */
  async #own(): Promise<void> {
    // No tab left, only their grace running: opening a socket now would serve nobody.
    if (this.#graceTimer !== undefined && this.tabs.size === 0) this.#end()
    if (this.#ended) return
    const owner = new OwnerRole(this, this.#platform, this.#leave.signal)
    const released = new Promise<void>((resolve) => (this.#releaseOwnership = resolve))
    try {
      await owner.ready
    } catch (e) {
      this.log(`cannot own the namespace: ${String(e)}`)
      owner.leave()
      return
    }
    // A follower whose code is loading first handles what waits for it, as it would have before this worker owned.
    await this.#follower.settled()
    if (this.#ended) {
      owner.leave()
      return
    }
    this.#role = owner
    this.ownerIs(this.workerId, VERSION)
    owner.start()
    this.#follower.handOver(owner)
    await released
  }

  #unsubscribeKey(key: string): void {
    if (this.subs.delete(key)) this.#role.unroute(key)
  }

  deliver(hs: HostSub, msgs: Delivery[]): unknown {
    if (hs.tab.gone) return hs.oneTab ? Promise.reject(new TabwireError('closed', 'the tab is gone')) : undefined
    // Kept as given when nothing is filtered out: an array shared by several tabs is serialized once.
    const fresh = (msgs[0]?.seq ?? 0) > hs.last ? msgs : msgs.filter((m) => m.seq > hs.last)
    const last = fresh[fresh.length - 1]
    if (!last) return
    hs.last = last.seq
    hs.latest = false
    // Only a one-tab group waits for the tab's handlers; a conflator waits through `handled` itself.
    if (hs.conflator) hs.conflator.push(fresh)
    else if (hs.oneTab) return hs.tab.handled(hs.sub, fresh)
    else hs.tab.events.messages(hs.sub, fresh)
  }

  reset(hs: HostSub, notice: ResetNotice): void {
    if (hs.tab.gone) return
    hs.last = notice.seq
    hs.latest = false
    hs.tab.events.reset(hs.sub, notice)
  }

  #onBus(m: BusMessage): void {
    if (this.#ended) return
    switch (m.k) {
      case 'committed':
        this.#outbox?.counters.committed(m.last)
        this.#role.committed(undefined, m.exp)
        this.#tabsQueued(m.last)
        return
      case 'dropped':
        this.#tabsDropped(m.messages)
        return
      case 'purged':
        this.#end()
        return
    }
    // The bus is open before the storage is (a worker starting beside an owner hears it at once), and the owner's word
    // moves the outbox's counters. Dropped until then: the `join` this worker posts once its storage is open makes
    // the owner announce itself, its state and acks, again.
    if (this.#outbox) this.#role.onBus(m)
  }

  setState(info: StateInfo): void {
    this.#info = info
    this.#recordState(info)
    // Written to a socket that is gone: queued again until the next connection resends it.
    if (info.state !== 'open') this.#sentUpTo = 0
    this.debug(`state ${JSON.stringify(info)}`)
    for (const tab of this.tabs) tab.events.state(info)
    // The grace keeps a live socket: one lost meanwhile is not dialled again for nobody (no tab to ask for a token).
    const lost = info.state === 'reconnecting' || info.state === 'failed'
    if (lost && this.tabs.size === 0 && this.#graceTimer !== undefined)
      // After the role's report of this state is done (it goes on to post it on the bus this ends).
      queueMicrotask(() => {
        if (this.tabs.size === 0) this.#end()
      })
  }

  #recordState(info: StateInfo): void {
    this.#states.push({ ...info, at: this.#platform.clock.now() })
    if (this.#states.length > MAX_STATE_HISTORY) this.#states.shift()
  }

  #tabsLog(lines: WorkerLogLine[]): void {
    for (const tab of this.tabs) if (!tab.gone) tab.events.log(lines)
  }

  tabsRenumbered(from: number, delta: number): void {
    for (const tab of this.tabs) tab.events.renumbered(from, delta)
  }

  #tabsQueued(last: number): void {
    for (const tab of this.tabs) tab.events.queued(last)
  }

  tabsDead(letters: DeadLetter[]): void {
    for (const tab of this.tabs) tab.events.dead(letters)
  }

  tabsAcked(upTo: number): void {
    for (const tab of this.tabs) tab.events.acked(upTo)
  }

  tabsSent(upTo: number): void {
    this.#sentUpTo = Math.max(this.#sentUpTo, upTo)
    for (const tab of this.tabs) tab.events.sent(upTo)
  }

  #assertLive(): void {
    if (this.#ended) throw new TabwireError('closed', `namespace ${this.config.namespace} was closed or purged`)
  }

  #end(): void {
    if (this.#ended) return
    this.#ended = true
    this.#platform.clock.clearTimeout(this.#graceTimer)
    this.#lingering.clear()
    this.#role.leave()
    // What is left of this worker after its end acts as a follower of nobody, as it did before it owned anything.
    this.#role = this.#follower
    this.subs.clear()
    this.presences.clear()
    this.#outbox?.dispose()
    this.setState({ state: 'closed', attempt: 0 })
    this.#log.close()
    this.tabs.clear()
    this.#releaseOwnership?.()
    this.#leave.abort()
    this.bus.close()
    this.#onEnd()
  }

  log(message: string, level: 'warn' | 'error' = 'warn'): void {
    this.#log.line(level, message)
  }

  debug(message: string): void {
    if (this.config.debug) this.#log.line('debug', message)
  }
}

/** The earliest expiry among a batch's messages, if any has one. */
function earliest(expiresAt: readonly (number | null)[] | undefined): number | undefined {
  let at: number | undefined
  for (const e of expiresAt ?? []) if (e !== null && (at === undefined || e < at)) at = e
  return at
}

import { VERSION } from '../protocol/version.ts'
import type { BusMessage, BusSub } from './bus.ts'
import { workerLock } from './bus.ts'
import type { OutboxBatch } from './db.ts'
import { HoldPolicy } from './hold-policy.ts'
import { OutboxExpiry } from './outbox-expiry.ts'
import { OwnerSession } from './owner-session.ts'
import type { Platform } from './platform.ts'
import type { PresenceHolder } from './presence.ts'
import type { Json } from '../protocol/frames.ts'
import type { OutgoingMessage, RequestOutcome, WorkerStats } from '../protocol/port.ts'
import { type HostPresence, type HostSub, modeOf, type Role, type RoleHost, type RoleInspection } from './role.ts'
import { VolatileInterest } from './volatile-interest.ts'

/**
 * The worker that holds the namespace's owner lock: it runs the `OwnerSession` (the socket), serves its own tabs'
 * subscriptions and the ones followers relay over the bus, answers their requests, and keeps the hold policy with
 * their visibility reports. A follower that dies is noticed by its lifetime lock, and its subscriptions dropped.
 */
export class OwnerRole implements Role {
  readonly owner = true
  readonly ready: Promise<void>
  readonly #session: OwnerSession
  readonly #policy: HoldPolicy
  readonly #watched = new Set<string>()
  /** Followers that reported a shown tab: their one-tab subscriptions are preferred. */
  readonly #shownFollowers = new Set<string>()
  readonly #followersVolatile = new VolatileInterest()
  readonly #expiry: OutboxExpiry

  readonly #host: RoleHost
  readonly #platform: Platform
  readonly #leaving: AbortSignal

  constructor(
    host: RoleHost,
    platform: Platform,
    /** Aborted when the host ends: withdraws the watch on followers' locks. */
    leaving: AbortSignal,
  ) {
    this.#host = host
    this.#platform = platform
    this.#leaving = leaving
    const { bus, config } = host
    this.#session = new OwnerSession(
      config,
      host.db,
      host.outbox,
      {
        dial: () => host.dial(),
        state: (info) => {
          // An owner that is leaving closes its socket; that `closed` is not the namespace's, and must not reach tabs
          // that stay (the next owner takes over and reports its own state).
          if (host.ended) return
          host.setState(info)
          bus.post({ k: 'state', state: info })
        },
        acked: (upTo) => {
          host.tabsAcked(upTo)
          bus.post({ k: 'acked', upTo })
        },
        sent: (upTo) => {
          host.tabsSent(upTo)
          bus.post({ k: 'sent', upTo })
        },
        renumbered: (from, delta) => {
          host.tabsRenumbered(from, delta)
          bus.post({ k: 'renumbered', from, delta })
        },
        refused: (letters) => {
          host.tabsDead(letters)
          bus.post({ k: 'dead', letters })
        },
        dropped: (messages) => host.outboxDropped(messages),
        log: (m, level) => host.log(m, level),
        volatile: (msgs) => {
          host.deliverVolatile(msgs)
          const theirs = this.#followersVolatile.wanted(msgs)
          if (theirs.length > 0) bus.post({ k: 'vmsg', msgs: theirs })
        },
        ...(config.debug ? { debug: (m: string) => host.debug(m) } : {}),
      },
      platform,
    )
    this.#policy = new HoldPolicy(
      config,
      platform.clock,
      () => host.localShown(),
      (reason, on) => this.#session.hold(reason, on),
    )
    this.#expiry = new OutboxExpiry(
      host.outbox,
      platform.clock,
      (m) => host.outboxDropped(m),
      (m) => host.log(m),
    )
    this.ready = this.#session.ready
  }

  /** Takes over: the socket follows this worker's offline signal, and every subscription of every worker resumes here. */
  start(): void {
    const host = this.#host
    this.#session.hold('offline', host.offline)
    host.debug(`worker ${host.workerId} owns the socket`)
    for (const [key, hs] of host.subs) this.route(key, hs)
    for (const [key, hp] of host.presences) this.presenceJoin(key, hp)
    this.#announce()
    this.#policy.apply()
    // Followers may have committed while nobody owned the socket: send whatever is on disk.
    this.#session.committed()
    this.#expiry.start()
  }

  route(key: string, hs: HostSub): void {
    this.#session.subscribe(
      key,
      hs.topic,
      hs.last,
      {
        messages: (msgs) => this.#host.deliver(hs, msgs),
        reset: (notice) => this.#host.reset(hs, notice),
        shown: () => hs.tab.shown,
      },
      modeOf(hs),
    )
  }

  unroute(key: string): void {
    this.#session.unsubscribe(key)
  }

  presenceJoin(key: string, hp: HostPresence): void {
    this.#joinPresence(key, hp.topic, hp.state, (event) => this.#host.presenceEvent(hp, event))
  }

  /**
   * A local tab's join comes after its port call loaded presence.ts, so it runs at once; a follower's may wait for
   * this worker to load it, and if that fails the member is not joined: logged, as the bus has no answer to give.
   */
  #joinPresence(key: string, topic: string, state: Json, holder: PresenceHolder): void {
    this.#session.presence.use(
      (p) => p.join(key, topic, state, holder),
      (e) => this.#host.log(`presence of ${topic} not joined: ${e.message}`, 'error'),
    )
  }

  presenceUpdate(key: string, state: Json): void {
    this.#session.presence.ifUsed((p) => p.update(key, state))
  }

  presenceLeave(key: string, now: boolean): void {
    this.#session.presence.ifUsed((p) => (now ? p.leave(key) : p.gone(key)))
  }

  reconnect(): void {
    this.#session.reconnect()
  }

  online(online: boolean): void {
    this.#policy.online(online)
  }

  visibilityChanged(): void {
    this.#policy.apply()
  }

  committed(batch?: OutboxBatch, exp?: number): void {
    this.#session.committed(batch)
    for (const at of batch?.expiresAt ?? [exp]) this.#expiry.saw(at ?? undefined)
  }

  cursors(): Record<string, number> {
    return this.#session.cursors()
  }

  inspect(): RoleInspection {
    return { topics: this.#session.topics(), members: this.#session.presence.made?.sizes() ?? {} }
  }

  presence(): WorkerStats['presence'] {
    return this.#session.presence.made?.summary() ?? {}
  }

  sendVolatile(messages: OutgoingMessage[]): boolean {
    return this.#session.sendVolatile(messages)
  }

  request(
    key: string,
    topic: string,
    body: string | Uint8Array,
    timeout: number,
    done: (o: RequestOutcome) => void,
  ): void {
    this.#session.request(key, topic, body, timeout, done)
  }

  cancelRequest(key: string): void {
    this.#session.cancelRequest(key)
  }

  onBus(m: BusMessage): void {
    const { bus } = this.#host
    switch (m.k) {
      case 'join':
        this.#announce()
        break
      case 'sub':
        this.#follow(m.from, m)
        break
      case 'subs':
        // One task: their `sub` frames leave in one WebSocket message.
        for (const sub of m.subs) this.#follow(m.from, sub)
        break
      case 'unsub':
        this.#followersVolatile.delete(m.key)
        this.#session.unsubscribe(m.key)
        break
      case 'pjoin':
        this.#watch(m.from)
        this.#joinPresence(m.key, m.topic, m.state, (event) => bus.post({ k: 'pevent', to: m.from, key: m.key, event }))
        break
      case 'pstate':
        this.presenceUpdate(m.key, m.state)
        break
      case 'pleave':
        this.presenceLeave(m.key, m.now)
        break
      case 'reconnect':
        this.#session.reconnect()
        break
      case 'online':
        this.#policy.online(m.online)
        break
      case 'visible':
        this.#watch(m.from)
        this.#policy.report(m.from, m.visible)
        if (m.visible) this.#shownFollowers.add(m.from)
        else this.#shownFollowers.delete(m.from)
        break
      case 'vpub':
        this.#session.sendVolatile(m.msgs)
        break
      case 'request':
        this.#session.request(m.key, m.topic, m.body, m.timeout, (outcome) =>
          bus.post({ k: 'reply', to: m.from, key: m.key, outcome }),
        )
        break
      case 'cancel-request':
        this.#session.cancelRequest(m.key)
        break
    }
  }

  /** Serves a follower's subscription, as `route` does this worker's own. */
  #follow(from: string, { key, topic, after, mode }: BusSub): void {
    const { bus } = this.#host
    this.#watch(from)
    // Followers of releases before `mode.volatile` was sent do not say: they may want the topic's.
    this.#followersVolatile.set(key, topic, mode?.volatile !== false)
    this.#session.subscribe(
      key,
      topic,
      after,
      {
        messages: (msgs) => bus.post({ k: 'msgs', to: from, key, msgs }),
        reset: (notice) => bus.post({ k: 'reset', to: from, key, notice }),
        shown: () => this.#shownFollowers.has(from),
      },
      mode,
    )
  }

  leave(): void {
    this.#policy.stop()
    this.#expiry.stop()
    this.#session.close()
  }

  #announce(): void {
    const host = this.#host
    host.bus.post({
      k: 'owner',
      id: host.workerId,
      version: VERSION,
      state: this.#session.state,
      acked: host.outbox.counters.acked,
      subs: true,
    })
  }

  /** A follower worker that dies takes its subscriptions with it: its lifetime lock tells us when. */
  #watch(id: string): void {
    if (this.#watched.has(id)) return
    this.#watched.add(id)
    void this.#platform.locks
      .request(workerLock(id), { signal: this.#leaving }, () => {
        this.#watched.delete(id)
        this.#session.unsubscribeAll(`${id}/`)
        this.#followersVolatile.deleteAll(`${id}/`)
        this.#policy.forget(id)
        this.#shownFollowers.delete(id)
      })
      .catch(() => undefined)
  }
}

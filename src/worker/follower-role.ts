import type { BusMessage, BusSub } from './bus.ts'
import type { Json } from '../protocol/frames.ts'
import type { RequestOutcome } from '../protocol/port.ts'
import { TaskBatch } from '../protocol/task-batch.ts'
import { FollowerRequests } from './follower-requests.ts'
import { followRenumber } from './outbox-renumber.ts'
import { ackRelayed } from './outbox-store.ts'
import { type HostPresence, modeOf, type Role, type RoleHost, type HostSub } from './role.ts'

/**
 * A worker of the namespace that does not own the socket (a second worker version after a deploy, or the dedicated
 * worker of one of several tabs): it relays its tabs' subscriptions and requests to the owner over the bus and
 * passes the owner's deliveries, state and acks on to its tabs. Sends never cross the bus: it writes the shared
 * outbox itself.
 *
 * Loaded on first use (see `FollowerSlot`, the host's role around it, which answers the rest of `Role` itself).
 */
export class FollowerRole {
  /** The owner takes `subs` lists: a task's subscriptions reach it in one post, kept here until the task ends. */
  #ownerTakesLists = false
  readonly #subs = new TaskBatch<BusSub>((subs) => this.#postSubs(subs))
  /** What this worker last told the owner about its tabs' visibility; a new owner is told again. */
  #lastReportedVisible: boolean | undefined

  readonly #host: RoleHost
  readonly #requests: FollowerRequests

  constructor(host: RoleHost) {
    this.#host = host
    this.#requests = new FollowerRequests(host)
  }

  route(key: string, hs: HostSub): void {
    const { bus, workerId } = this.#host
    const sub = { key, topic: hs.topic, after: hs.last, mode: modeOf(hs) }
    if (!this.#ownerTakesLists) {
      bus.post({ k: 'sub', from: workerId, ...sub })
      return
    }
    this.#subs.push(sub)
  }

  unroute(key: string): void {
    // After the subscriptions routed before it, as the owner must see them.
    this.#subs.flush()
    this.#host.bus.post({ k: 'unsub', from: this.#host.workerId, key })
  }

  /** The task's subscriptions, as one `subs` post. */
  #postSubs(subs: BusSub[]): void {
    // Ended, its bus closed: nobody is left to tell.
    if (!this.#host.ended) this.#host.bus.post({ k: 'subs', from: this.#host.workerId, subs })
  }

  presenceJoin(key: string, hp: HostPresence): void {
    const { bus, workerId } = this.#host
    bus.post({ k: 'pjoin', from: workerId, key, topic: hp.topic, state: hp.state })
  }

  presenceUpdate(key: string, state: Json): void {
    this.#host.bus.post({ k: 'pstate', key, state })
  }

  presenceLeave(key: string, now: boolean): void {
    this.#host.bus.post({ k: 'pleave', key, now })
  }

  /** Reports whether any of this worker's tabs is shown, whenever that changes (or a new owner asks). */
  visibilityChanged(): void {
    const mine = this.#host.localShown()
    if (mine === this.#lastReportedVisible) return
    this.#lastReportedVisible = mine
    this.#host.bus.post({ k: 'visible', from: this.#host.workerId, visible: mine })
  }

  request(
    key: string,
    topic: string,
    body: string | Uint8Array,
    timeout: number,
    done: (o: RequestOutcome) => void,
  ): void {
    this.#requests.ask(key, topic, body, timeout, done)
  }

  cancelRequest(key: string): void {
    this.#requests.cancel(key)
  }

  /** This worker won the socket: its relayed requests go to `owner` (see `FollowerRequests.handOver`). */
  handOver(owner: Role): void {
    // The owner routes every subscription itself.
    this.#subs.take()
    this.#requests.handOver((key, topic, body, timeout, done) => owner.request(key, topic, body, timeout, done))
  }

  onBus(m: BusMessage): void {
    const host = this.#host
    switch (m.k) {
      case 'owner':
        // A new owner knows nothing of our tabs: subscribe them again from what each has already received.
        host.setState(m.state)
        host.ownerIs(m.id, m.version)
        this.#requests.owner(m.id)
        void this.#followAck(m.acked, true)
        // Routed before under the last owner's terms: all of them go again below.
        this.#subs.take()
        this.#ownerTakesLists = m.subs === true
        for (const [key, hs] of host.subs) this.route(key, hs)
        for (const [key, hp] of host.presences) this.presenceJoin(key, hp)
        if (host.offline) host.bus.post({ k: 'online', online: false })
        this.#lastReportedVisible = undefined
        this.visibilityChanged()
        break
      case 'state':
        host.setState(m.state)
        break
      case 'acked':
        void this.#followAck(m.upTo, false)
        break
      case 'renumbered':
        void followRenumber(host.outbox, m.from, m.delta)
        host.tabsRenumbered(m.from, m.delta)
        break
      case 'sent':
        host.tabsSent(m.upTo)
        break
      case 'dead':
        host.tabsDead(m.letters)
        break
      case 'msgs':
        if (m.to === host.workerId) {
          const hs = host.subs.get(m.key)
          if (hs) host.deliver(hs, m.msgs)
        }
        break
      case 'pevent':
        if (m.to === host.workerId) {
          const hp = host.presences.get(m.key)
          if (hp) host.presenceEvent(hp, m.event)
        }
        break
      case 'reset':
        if (m.to === host.workerId) {
          const hs = host.subs.get(m.key)
          if (hs) host.reset(hs, m.notice)
        }
        break
      case 'vmsg':
        host.deliverVolatile(m.msgs)
        break
      case 'reply':
        if (m.to === host.workerId) this.#requests.replied(m.key, m.outcome)
        break
    }
  }

  /** The owner takes this worker's subscriptions with it when this worker's lifetime lock frees; tell it at once. */
  leave(): void {
    this.#requests.ownerGone()
    for (const key of this.#host.subs.keys()) this.unroute(key)
    for (const key of this.#host.presences.keys()) this.presenceLeave(key, false)
  }

  /** The owner's word on what the server acked; `settle` tells the tabs even when it moved nothing (a new owner). */
  async #followAck(upTo: number, settle: boolean): Promise<void> {
    const { outbox } = this.#host
    const moved = await ackRelayed(outbox, upTo)
    if (!moved && upTo > outbox.counters.last)
      this.#host.log(`ignored the owner's ack of ${upTo}: only ${outbox.counters.last} stored`)
    if (moved || settle) this.#host.tabsAcked(outbox.counters.acked)
  }
}

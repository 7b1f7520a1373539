import { TabwireError } from '../protocol/errors.ts'
import type { Json } from '../protocol/frames.ts'
import type { OutgoingMessage, RequestOutcome, WorkerStats } from '../protocol/port.ts'
import type { BusMessage } from './bus.ts'
import { followerCode } from './features.ts'
import type { FollowerRole } from './follower-role.ts'
import { Gate, type LazyCode } from './lazy-code.ts'
import type { HostPresence, HostSub, Role, RoleHost, RoleInspection } from './role.ts'

/** Bus messages and calls that wait while the follower's code loads (a stalled load past it loses them: see below). */
const MAX_WAITING = 1_000

/** What followers post for the owner: a worker that does not own the socket has nothing to do with them. */
const FOR_THE_OWNER = new Set<BusMessage['k']>([
  'join',
  'sub',
  'subs',
  'unsub',
  'reconnect',
  'online',
  'visible',
  'pjoin',
  'pstate',
  'pleave',
  'vpub',
  'request',
  'cancel-request',
])

/**
 * The host's role while this worker does not own the socket. A worker alone in its namespace (one SharedWorker for
 * every tab) wins the owner lock at once and never needs the `FollowerRole`, so its code (follower-role.ts) is a chunk
 * of its own, made the first time another worker turns out to be the owner (it speaks on the bus) or a tab's request
 * has to wait for one. Until then there is nothing to relay: the owner's announcement (`owner`, the answer to this
 * worker's `join`) makes the follower route every subscription and presence handle of the host again, as
 * `OwnerRole.start` does if this worker wins the lock instead; so those calls are dropped before the follower exists.
 *
 * While the code loads, bus messages and requests wait in order (at most `MAX_WAITING`). A failed load (or one that
 * stalls past the bound) loses what waited: it is logged as an error to every tab, requests end `load-failed`, and
 * the next bus message tries again; a follower made after such a loss asks the owner to announce itself again, so it
 * routes everything anew (the owner then resends from each subscription's last delivered seq, and its acks are
 * cumulative).
 */
export class FollowerSlot implements Role {
  readonly owner = false
  readonly #host: RoleHost
  readonly #gate: Gate<typeof import('./follower-role.ts'), FollowerRole>
  /** A load failed and work that waited for it was lost. */
  #lost = false

  constructor(host: RoleHost, code: LazyCode<typeof import('./follower-role.ts')> = followerCode) {
    this.#host = host
    this.#gate = new Gate(
      code,
      (code) => {
        const follower = new code.FollowerRole(host)
        if (this.#lost) {
          this.#lost = false
          host.bus.post({ k: 'join', from: host.workerId })
        }
        return follower
      },
      MAX_WAITING,
    )
  }

  route(key: string, hs: HostSub): void {
    this.#gate.ifUsed((f) => f.route(key, hs))
  }

  unroute(key: string): void {
    this.#gate.ifUsed((f) => f.unroute(key))
  }

  presenceJoin(key: string, hp: HostPresence): void {
    this.#gate.ifUsed((f) => f.presenceJoin(key, hp))
  }

  presenceUpdate(key: string, state: Json): void {
    this.#gate.ifUsed((f) => f.presenceUpdate(key, state))
  }

  presenceLeave(key: string, now: boolean): void {
    this.#gate.ifUsed((f) => f.presenceLeave(key, now))
  }

  visibilityChanged(): void {
    this.#gate.ifUsed((f) => f.visibilityChanged())
  }

  reconnect(): void {
    this.#host.bus.post({ k: 'reconnect' })
  }

  online(online: boolean): void {
    this.#host.bus.post({ k: 'online', online })
  }

  committed(): void {
    // The owner sends; it heard of the commit on the bus.
  }

  cursors(): Record<string, number> {
    return {}
  }

  inspect(): RoleInspection {
    return { topics: {}, members: {} }
  }

  presence(): WorkerStats['presence'] {
    return {}
  }

  /** Handed to the owner while the connection is open; the owner writes them (or drops them if it closed since). */
  sendVolatile(messages: OutgoingMessage[]): boolean {
    if (this.#host.state.state !== 'open') return false
    this.#host.bus.post({ k: 'vpub', msgs: messages })
    return true
  }

  request(
    key: string,
    topic: string,
    body: string | Uint8Array,
    timeout: number,
    done: (o: RequestOutcome) => void,
  ): void {
    this.#gate.use(
      (f) => f.request(key, topic, body, timeout, done),
      (e) => done({ ok: false, code: e.code, message: e.message }),
      key,
    )
  }

  cancelRequest(key: string): void {
    if (!this.#gate.cancel(key)) this.#gate.made?.cancelRequest(key)
  }

  onBus(m: BusMessage): void {
    if (FOR_THE_OWNER.has(m.k) || ('to' in m && m.to !== this.#host.workerId)) return
    this.#gate.use(
      (f) => f.onBus(m),
      (e) => {
        if (e.code === 'closed' || this.#lost) return
        this.#lost = true
        this.#host.log(`the owner's messages to this worker were lost: ${e.message}`, 'error')
      },
    )
  }

  /** Resolves once the follower's code is no longer loading, and what waited for it has run. */
  settled(): Promise<void> {
    return this.#gate.settled()
  }

  /** This worker won the socket: the follower's relayed requests go to `owner`. */
  handOver(owner: Role): void {
    this.#gate.made?.handOver(owner)
  }

  leave(): void {
    this.#gate.close(new TabwireError('closed', 'the session ended'), (f) => f.leave())
  }
}

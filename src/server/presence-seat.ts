import type { Json } from '../protocol/frames.ts'
import type { PresenceClientFrame } from '../protocol/presence-frames.ts'
import type { ServerErrorCode } from '../protocol/server-errors.ts'
import type { Observer } from './observer.ts'
import type { PresenceHub, PresenceWatcher } from './presence.ts'
import { TokenBucket } from './token-bucket.ts'

/** The per-connection bounds on presence (see `ServerOptions`). */
export interface PresenceLimits {
  grace: number
  maxPresences: number
  maxStateBytes: number
  updatesPerSecond: number
}

/** What a seat needs of its connection. */
export interface SeatHost {
  readonly user: string
  readonly client: string
  /** Names this connection across every node: a grace period's leave removes a member only if it still holds it. */
  readonly owner: string
  readonly watcher: PresenceWatcher
  /** `authorize(user, topic, 'presence')`, a throw being a denial. */
  allowed(topic: string): Promise<boolean>
  /** Ends the connection: `error {code}`, then 4400. */
  reject(code: ServerErrorCode, message: string): void
  /** An unexpected failure (the registry's): ends the connection with 1011. */
  fail(error: unknown): void
}

/** What the client last asked for a topic, not applied yet: a state (`join` when it was, or follows, a `pjoin`), or leaving. */
type Wanted = { join: boolean; state: Json } | 'leave'

/**
 * One connection's presence: the topics its (user, client) is a member of, and the bounds. Joins, state updates
 * and leaves are applied at most `updatesPerSecond` (after a burst of `maxPresences + updatesPerSecond`, so a
 * reconnect re-joins at once); beyond that they are conflated per topic, the newest winning, so a flood costs the
 * server one pending entry per topic and the other members one change each, never a queue. When the connection
 * ends, its members stay for `grace` ms: a reconnect (a reload, a short drop) takes them over with no leave seen.
 */
export class PresenceSeat {
  /** Topic → the state applied. */
  readonly #joined = new Map<string, Json>()
  readonly #wanted = new Map<string, Wanted>()
  readonly #bucket: TokenBucket
  #timer: NodeJS.Timeout | undefined
  #work: Promise<void> = Promise.resolve()
  #closed = false

  constructor(
    private readonly host: SeatHost,
    private readonly hub: PresenceHub,
    private readonly limits: PresenceLimits,
    private readonly observer: Pick<Observer, 'presence'>,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#bucket = new TokenBucket(limits.maxPresences + limits.updatesPerSecond, limits.updatesPerSecond, now())
  }

  async receive(frame: PresenceClientFrame): Promise<void> {
    const { topic } = frame
    if (frame.t === 'pleave') {
      if (this.#joined.has(topic)) this.#wanted.set(topic, 'leave')
      else this.#wanted.delete(topic)
      return this.#pump()
    }
    const bytes = Buffer.byteLength(JSON.stringify(frame.state))
    if (bytes > this.limits.maxStateBytes)
      return this.host.reject(
        'state-too-large',
        `${frame.t}.state is ${bytes} bytes; at most ${this.limits.maxStateBytes} are allowed`,
      )
    const wanted = this.#wanted.get(topic)
    const member = this.#joined.has(topic) || (wanted !== undefined && wanted !== 'leave')
    if (frame.t === 'pstate') {
      // A state for a topic this connection is not in (a leave crossed it): nothing to update.
      if (!member) return
      this.#wanted.set(topic, { join: wanted !== undefined && wanted !== 'leave' && wanted.join, state: frame.state })
      return this.#pump()
    }
    if (!member && this.#count() >= this.limits.maxPresences)
      return this.host.reject('too-many-presences', `at most ${this.limits.maxPresences} presences per connection`)
    if (!(await this.host.allowed(topic))) {
      if (this.#closed) return
      this.host.watcher.push({ t: 'presence', topic, members: [], denied: true })
      return
    }
    if (this.#closed) return
    this.#wanted.set(topic, { join: true, state: frame.state })
    this.#pump()
  }

  /** The connection ended: its members stay for the grace period, then leave unless a newer connection took them. */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    const { user, client, owner } = this.host
    for (const topic of this.#joined.keys()) this.observer.presence(topic, false)
    for (const [topic, want] of this.#wanted) if (want === 'leave') this.#joined.delete(topic)
    this.#wanted.clear()
    for (const topic of this.#joined.keys()) {
      this.hub.unwatch(topic, this.host.watcher)
      this.hub.expire(topic, { user, client }, owner, this.limits.grace)
    }
  }

  /** Topics joined, or about to be. */
  #count(): number {
    let n = this.#joined.size
    for (const [topic, want] of this.#wanted) if (want !== 'leave' && !this.#joined.has(topic)) n++
    return n
  }

  #pump(): void {
    if (this.#timer || this.#closed) return
    for (const [topic, want] of this.#wanted) {
      const wait = this.#bucket.take(1, this.now())
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined
          this.#pump()
        }, Math.ceil(wait))
        return
      }
      this.#wanted.delete(topic)
      this.#work = this.#work.then(() => this.#apply(topic, want)).catch((error: unknown) => this.host.fail(error))
    }
  }

  async #apply(topic: string, want: Wanted): Promise<void> {
    if (this.#closed) return
    const { user, client, owner, watcher } = this.host
    const { registry } = this.hub
    if (want === 'leave') {
      if (!this.#joined.delete(topic)) return
      this.observer.presence(topic, false)
      this.hub.unwatch(topic, watcher)
      return registry.remove(topic, { user, client }, owner)
    }
    const joining = !this.#joined.has(topic)
    this.#joined.set(topic, want.state)
    if (joining) this.observer.presence(topic, true)
    await registry.set(topic, { user, client, state: want.state, since: Date.now(), owner })
    if (this.#closed) return
    // A repeated pjoin on one connection is answered like the first: with the full list.
    if (joining || want.join) await this.hub.watch(topic, watcher)
  }
}

import type { RequestOutcome } from '../protocol/port.ts'
import { MAX_PENDING_REQUESTS } from './request-limit.ts'
import type { RoleHost } from './role.ts'

/** The owner answers within the timeout; past it plus this, the owner is taken to be gone with the request. */
const OWNER_GRACE_MS = 1_000

interface Pending {
  topic: string
  body: string | Uint8Array
  /** When its timeout ends, ms since epoch. */
  deadline: number
  done: (o: RequestOutcome) => void
  timer: ReturnType<typeof setTimeout>
}

export type Ask = (
  key: string,
  topic: string,
  body: string | Uint8Array,
  timeout: number,
  done: (o: RequestOutcome) => void,
) => void

/**
 * A follower's requests, relayed to the owner over the bus and answered by its `reply`. Each settles once: by that
 * reply, or `disconnected` when the owner changes (the new one never heard of it), or `timeout` if no owner answers.
 */
export class FollowerRequests {
  readonly #pending = new Map<string, Pending>()
  readonly #host: RoleHost
  #owner: string | undefined

  constructor(host: RoleHost) {
    this.#host = host
  }

  ask(key: string, topic: string, body: string | Uint8Array, timeout: number, done: (o: RequestOutcome) => void): void {
    if (this.#pending.size >= MAX_PENDING_REQUESTS) {
      const message = `${MAX_PENDING_REQUESTS} requests are waiting for an answer already`
      done({ ok: false, code: 'too-many-requests', message })
      return
    }
    const timer = setTimeout(
      () => this.replied(key, { ok: false, code: 'timeout', message: `no answer to ${topic} within ${timeout} ms` }),
      timeout + OWNER_GRACE_MS,
    )
    this.#pending.set(key, { topic, body, deadline: Date.now() + timeout, done, timer })
    this.#host.bus.post({ k: 'request', from: this.#host.workerId, key, topic, body, timeout })
  }

  cancel(key: string): void {
    const p = this.#pending.get(key)
    if (!p) return
    clearTimeout(p.timer)
    this.#pending.delete(key)
    this.#host.bus.post({ k: 'cancel-request', key })
  }

  replied(key: string, outcome: RequestOutcome): void {
    const p = this.#pending.get(key)
    if (!p) return
    clearTimeout(p.timer)
    this.#pending.delete(key)
    p.done(outcome)
  }

  /** The owner announced itself (it does so again whenever a worker joins): a new one never heard of ours. */
  owner(id: string): void {
    const known = this.#owner
    this.#owner = id
    if (known !== undefined && known !== id) this.ownerGone()
  }

  /**
   * This worker now owns the socket. Requests posted while no owner was known reached nobody: they are asked again
   * here, with what is left of their timeout; those an owner may have received end `disconnected` (at most once).
   */
  handOver(ask: Ask): void {
    if (this.#owner !== undefined) {
      this.ownerGone()
      return
    }
    for (const [key, p] of [...this.#pending]) {
      clearTimeout(p.timer)
      this.#pending.delete(key)
      ask(key, p.topic, p.body, Math.max(1, p.deadline - Date.now()), p.done)
    }
  }

  ownerGone(): void {
    for (const key of [...this.#pending.keys()])
      this.replied(key, { ok: false, code: 'disconnected', message: 'the worker that owned the connection left' })
  }
}

import type { ClientFrame, Json } from '../protocol/frames.ts'
import type { PresenceMember, PresenceServerFrame } from '../protocol/presence-frames.ts'
import type { PresenceEvent } from '../protocol/presence-port.ts'
import type { Clock, TimerId } from './platform.ts'

/**
 * How long a topic whose last handle went away with its tab (closed, reloaded, navigated) stays joined: a reload
 * joins again well within it, and nobody sees the member leave and come back. `leave()` does not wait.
 */
export const PRESENCE_LINGER_MS = 3_000

/** Where one handle's news goes: a local tab, or a follower worker's tab over the bus. */
export type PresenceHolder = (event: PresenceEvent) => void

interface TopicPresence {
  /** Handles by key (`<worker>/<tab>/<pid>`). */
  holders: Map<string, PresenceHolder>
  /** The member's state: the last any handle joined or updated with. */
  state: Json
  /** The list as the server last told it on this connection, by `[user, client]`; undefined until then. */
  members: Map<string, PresenceMember> | undefined
  linger: TimerId | undefined
}

const memberId = (m: { user: string; client: string }) => JSON.stringify([m.user, m.client])

/**
 * The namespace's presence, in the worker that owns the socket: every handle of every tab that joins a topic makes
 * one member, joined with the first handle and left with the last (at once on `leave()`, after `PRESENCE_LINGER_MS`
 * when a tab went away). After each `welcome` every topic is joined again and the server's full list replaces what
 * was known; diffs are passed on as they come.
 */
export class PresenceRelay {
  readonly #topics = new Map<string, TopicPresence>()
  /** Handle key → its topic. */
  readonly #keys = new Map<string, string>()
  readonly #send: (frame: ClientFrame) => void
  readonly #isOpen: () => boolean
  readonly #clock: Clock

  constructor(send: (frame: ClientFrame) => void, isOpen: () => boolean, clock: Clock) {
    this.#send = send
    this.#isOpen = isOpen
    this.#clock = clock
  }

  /** Topic → the size of the server's last list for it (`null` before one came on this connection). */
  sizes(): Record<string, number | null> {
    const out: Record<string, number | null> = {}
    for (const [topic, tp] of this.#topics) out[topic] = tp.members?.size ?? null
    return out
  }

  /** Per topic: the handles joined, and the members of the server's last list (0 until it came). */
  summary(): Record<string, { tabs: number; members: number }> {
    const out: Record<string, { tabs: number; members: number }> = {}
    for (const [topic, tp] of this.#topics) out[topic] = { tabs: tp.holders.size, members: tp.members?.size ?? 0 }
    return out
  }

  /** A repeated key moves the handle (a new owner hears every follower's handles again). */
  join(key: string, topic: string, state: Json, holder: PresenceHolder): void {
    if (this.#keys.has(key)) this.#drop(key, false)
    this.#keys.set(key, topic)
    let tp = this.#topics.get(topic)
    if (!tp) {
      tp = { holders: new Map(), state, members: undefined, linger: undefined }
      this.#topics.set(topic, tp)
      tp.holders.set(key, holder)
      if (this.#isOpen()) this.#send({ t: 'pjoin', topic, state })
      return
    }
    this.#clock.clearTimeout(tp.linger)
    tp.linger = undefined
    tp.holders.set(key, holder)
    if (tp.members) holder({ kind: 'sync', members: [...tp.members.values()] })
    this.#setState(topic, tp, state)
  }

  update(key: string, state: Json): void {
    const topic = this.#keys.get(key)
    const tp = topic === undefined ? undefined : this.#topics.get(topic)
    if (topic !== undefined && tp) this.#setState(topic, tp, state)
  }

  /** `leave()` of one handle: when it was the last, the member leaves now. */
  leave(key: string): void {
    this.#drop(key, true)
  }

  /** One handle went away with its tab: when it was the last, the member lingers. */
  gone(key: string): void {
    this.#drop(key, false)
  }

  /** Every handle whose key starts with `prefix` went away with its tab or worker: the member lingers. */
  dropAll(prefix: string): void {
    for (const key of [...this.#keys.keys()]) if (key.startsWith(prefix)) this.#drop(key, false)
  }

  /** A `welcome`: join every topic again; until the server's list arrives, none is known. */
  opened(): void {
    for (const [topic, tp] of this.#topics) {
      tp.members = undefined
      this.#send({ t: 'pjoin', topic, state: tp.state })
    }
  }

  receive(frame: PresenceServerFrame): void {
    const tp = this.#topics.get(frame.topic)
    if (!tp) return
    if (frame.t === 'presence') {
      if (frame.denied) {
        this.#forget(frame.topic, tp)
        for (const holder of tp.holders.values()) holder({ kind: 'denied' })
        return
      }
      tp.members = new Map(frame.members.map((m) => [memberId(m), m]))
      for (const holder of tp.holders.values()) holder({ kind: 'sync', members: frame.members })
      return
    }
    // A diff before the list (a stale one from before a reconnect) means nothing: the list will say it all.
    if (!tp.members) return
    for (const m of frame.left) tp.members.delete(memberId(m))
    for (const m of [...frame.joined, ...frame.updated]) tp.members.set(memberId(m), m)
    const { joined, left, updated } = frame
    for (const holder of tp.holders.values()) holder({ kind: 'diff', joined, left, updated })
  }

  close(): void {
    for (const tp of this.#topics.values()) this.#clock.clearTimeout(tp.linger)
    this.#topics.clear()
    this.#keys.clear()
  }

  #setState(topic: string, tp: TopicPresence, state: Json): void {
    if (JSON.stringify(state) === JSON.stringify(tp.state)) return
    tp.state = state
    if (this.#isOpen()) this.#send({ t: 'pstate', topic, state })
  }

  #drop(key: string, now: boolean): void {
    const topic = this.#keys.get(key)
    if (topic === undefined) return
    this.#keys.delete(key)
    const tp = this.#topics.get(topic)
    if (!tp?.holders.delete(key) || tp.holders.size > 0) return
    if (now) {
      this.#leaveTopic(topic, tp)
      return
    }
    this.#clock.clearTimeout(tp.linger)
    tp.linger = this.#clock.setTimeout(() => {
      if (tp.holders.size === 0 && this.#topics.get(topic) === tp) this.#leaveTopic(topic, tp)
    }, PRESENCE_LINGER_MS)
  }

  #leaveTopic(topic: string, tp: TopicPresence): void {
    this.#forget(topic, tp)
    if (this.#isOpen()) this.#send({ t: 'pleave', topic })
  }

  #forget(topic: string, tp: TopicPresence): void {
    this.#clock.clearTimeout(tp.linger)
    this.#topics.delete(topic)
    for (const key of tp.holders.keys()) this.#keys.delete(key)
  }
}

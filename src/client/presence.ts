import { TabwireError } from '../protocol/errors.ts'
import type { Json } from '../protocol/frames.ts'
import type { PresenceMember as WireMember } from '../protocol/presence-frames.ts'
import type { PresenceEvent } from '../protocol/presence-port.ts'
import { encodeBody } from './body.ts'
import type { WireParts } from './wire-parts.ts'

/** A member of a topic's presence: one browser profile (client id) of one user, however many of its tabs joined. */
export interface PresenceMember<S = Json> {
  user: string
  /** The namespace client id: one per browser profile. */
  client: string
  state: S
  /** When it joined, ms since epoch, by the server's clock; kept across reconnects within the grace period. */
  since: number
}

/** What `onChange` gets: the changes, and the full list after them. */
export interface PresenceChange<S = Json> {
  /** Everyone present now. */
  members: PresenceMember<S>[]
  joined: PresenceMember<S>[]
  /** As they were last seen. */
  left: PresenceMember<S>[]
  updated: PresenceMember<S>[]
  /**
   * A full list from the server (on joining, after every reconnect, or when first listening): `members` replaces
   * what was known, and `joined`/`left`/`updated` are its difference from what this handle showed before.
   */
  sync: boolean
}

export interface PresenceOptions<S = Json> {
  /** This profile's state, seen by every member (JSON, at most `maxPresenceStateBytes`). Default `null`. */
  state?: S
  /** Aborting it leaves, as `leave()` does. */
  signal?: AbortSignal
}

/** One tab's handle on a topic's presence; see `Wire.presence`. */
export interface Presence<S = Json> {
  readonly topic: string
  /** Everyone present, as last heard from the server (empty until the first list). */
  readonly members: PresenceMember<S>[]
  /** Calls `fn` with every change, and first (in a microtask) with the full list if one is known. Returns the stop. */
  onChange(fn: (change: PresenceChange<S>) => void): () => void
  /** Sets this profile's state (every tab of it shares one member, so the last state set by any of them shows). */
  update(state: S): Promise<void>
  /** This handle leaves; when it was the profile's last one on the topic, the member leaves at once. */
  leave(): Promise<void>
}

const id = (m: { user: string; client: string }) => JSON.stringify([m.user, m.client])

/** The state as the worker takes it: JSON text within `max` bytes of UTF-8. */
export function encodeState(state: unknown, max: number): string {
  const text = encodeBody(state === undefined ? null : state)
  const bytes = new TextEncoder().encode(text).length
  if (bytes > max)
    throw new TabwireError('body-too-large', `presence state is ${bytes} bytes, over maxPresenceStateBytes ${max}`)
  return text
}

/** Unique in the page, so in each wire: the worker tells a tab's handles apart by it. */
let nextPid = 1

/** `wire.presence()` once its code is in: see `Wire.presence`. */
export async function joinPresence<S>(
  host: WireParts,
  topic: string,
  options: PresenceOptions<S>,
): Promise<Presence<S>> {
  const { signal } = options
  signal?.throwIfAborted()
  const { wire } = host
  const text = encodeState(options.state, host.maxPresenceStateBytes)
  const pid = nextPid++
  const handle = new PresenceHandle<S>(pid, topic, text, host)
  host.presences.set(pid, handle)
  // While open, the list is a round trip away; a connection that drops meanwhile brings it after the reconnect.
  let off: () => void = () => undefined
  const dropped = new Promise<void>((resolve) => {
    off = wire.onState((s) => {
      if (s.state !== 'open') resolve()
    })
  })
  try {
    await host.call('presence', (r) => r.presenceJoin(pid, topic, text))
    if (wire.state === 'open') await Promise.race([handle.first, dropped])
  } catch (e) {
    host.presences.delete(pid)
    handle.end()
    throw e
  } finally {
    off()
  }
  if (signal?.aborted) {
    await handle.leave()
    signal.throwIfAborted()
  }
  signal?.addEventListener('abort', () => void handle.leave().catch((e: unknown) => reportError(e)), { once: true })
  return handle
}

/** A tab's presence handle: keeps the list from the worker's sync and diff events, and calls the listeners. */
export class PresenceHandle<S = Json> implements Presence<S> {
  #members = new Map<string, PresenceMember<S>>()
  #synced = false
  #left = false
  readonly #listeners = new Set<(change: PresenceChange<S>) => void>()
  /** Settles on the first list (or denial): what `wire.presence()` waits for while the socket is open. */
  readonly first: Promise<void>
  #settleFirst!: (error?: TabwireError) => void

  constructor(
    readonly pid: number,
    readonly topic: string,
    /** The state last set, JSON text: a new worker is joined with it. */
    public stateText: string,
    private readonly host: WireParts,
  ) {
    this.first = new Promise((resolve, reject) => {
      this.#settleFirst = (error) => (error ? reject(error) : resolve())
    })
    this.first.catch(() => undefined)
  }

  get members(): PresenceMember<S>[] {
    return [...this.#members.values()]
  }

  get left(): boolean {
    return this.#left
  }

  onChange(fn: (change: PresenceChange<S>) => void): () => void {
    if (typeof fn !== 'function') throw new TabwireError('invalid-argument', 'onChange takes a function')
    this.#listeners.add(fn)
    if (this.#synced) {
      const members = this.members
      queueMicrotask(() => {
        if (this.#listeners.has(fn)) call(fn, { members, joined: members, left: [], updated: [], sync: true })
      })
    }
    return () => this.#listeners.delete(fn)
  }

  async update(state: S): Promise<void> {
    if (this.#left) throw new TabwireError('closed', `this presence of ${this.topic} has left`)
    const text = encodeState(state, this.host.maxPresenceStateBytes)
    this.stateText = text
    await this.host.call('presence.update', (r) => r.presenceUpdate(this.pid, text))
  }

  async leave(): Promise<void> {
    if (this.#left) return
    this.end()
    const { host, pid } = this
    host.presences.delete(pid)
    if (host.wire.state !== 'closed') await host.call('presence.leave', (r) => r.presenceLeave(pid))
  }

  /** Joins the new worker after the old one died, with the state last set. */
  rejoin(): void {
    const { host, pid } = this
    void host
      .call('presence', (r) => r.presenceJoin(pid, this.topic, this.stateText))
      .catch((e: unknown) => reportError(e))
  }

  /** Stops the handle without telling the worker (the wire closed, or `leave()`). */
  end(): void {
    this.#left = true
    this.#listeners.clear()
    this.#settleFirst(new TabwireError('closed', `the presence of ${this.topic} ended before the server answered`))
  }

  event(event: PresenceEvent): void {
    if (this.#left) return
    switch (event.kind) {
      case 'denied':
        this.end()
        this.#settleFirst(new TabwireError('forbidden', `the server does not allow the presence of ${this.topic}`))
        return
      case 'sync':
        this.#sync(event.members as WireMember[] as PresenceMember<S>[])
        return
      case 'diff': {
        const left: PresenceMember<S>[] = []
        for (const k of event.left) {
          const was = this.#members.get(id(k))
          if (was && this.#members.delete(id(k))) left.push(was)
        }
        const joined = event.joined as PresenceMember<S>[]
        const updated = event.updated as PresenceMember<S>[]
        for (const m of [...joined, ...updated]) this.#members.set(id(m), m)
        this.#emit({ members: this.members, joined, left, updated, sync: false })
      }
    }
  }

  #sync(list: PresenceMember<S>[]): void {
    const before = this.#members
    this.#members = new Map(list.map((m) => [id(m), m]))
    this.#synced = true
    const joined = list.filter((m) => !before.has(id(m)))
    const updated = list.filter((m) => {
      const was = before.get(id(m))
      return was !== undefined && JSON.stringify(was.state) !== JSON.stringify(m.state)
    })
    const left = [...before.values()].filter((m) => !this.#members.has(id(m)))
    this.#settleFirst()
    this.#emit({ members: list, joined, left, updated, sync: true })
  }

  #emit(change: PresenceChange<S>): void {
    for (const fn of this.#listeners) call(fn, change)
  }
}

function call<S>(fn: (change: PresenceChange<S>) => void, change: PresenceChange<S>): void {
  try {
    fn(change)
  } catch (e) {
    // One failing listener must not cost the others their news: reported the way an event listener's error is.
    reportError(e)
  }
}

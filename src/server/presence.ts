import type { Json } from '../protocol/frames.ts'
import type { PresenceKey, PresenceMember, PresenceServerFrame } from '../protocol/presence-frames.ts'

/**
 * A member as a presence registry keeps it: the wire's member plus `owner`, the connection that holds it now (a
 * string unique across nodes). A leave after a grace period names the owner it was started for, so a member taken
 * over meanwhile by a newer connection of the same client (a reconnect, on this node or another) is not removed.
 */
export interface HeldMember extends PresenceMember {
  owner: string
}

/** One change to a topic's members, as every node hears it. */
export type PresenceChange =
  | { kind: 'set'; topic: string; member: HeldMember }
  | { kind: 'remove'; topic: string; key: PresenceKey }

/**
 * Where a server keeps who is present. `createMemoryPresence` for one node; `createRedisPresence` shares it between
 * nodes (and expires the members of a node that died). Every change is reported to `onChange` of every node sharing
 * the registry, this one included, in the order it was applied per topic.
 */
export interface PresenceRegistry {
  /** Adds the member, or replaces it (its state and owner; `since` is kept) when (user, client) is already there. */
  set(topic: string, member: HeldMember): Promise<void>
  /** Removes the member if `owner` still holds it; with no `owner`, whoever holds it. */
  remove(topic: string, key: PresenceKey, owner?: string): Promise<void>
  members(topic: string): Promise<HeldMember[]>
  /** Someone on this node watches the topic (until `forget`): a shared registry checks it for dead nodes' members. */
  watch?(topic: string): void
  forget?(topic: string): void
  onChange(listener: (change: PresenceChange) => void): () => void
  close(): Promise<void>
}

export const memberId = (key: PresenceKey): string => JSON.stringify([key.user, key.client])

/** The wire's member, without `owner`. */
export const publicMember = ({ user, client, state, since }: HeldMember): PresenceMember => ({
  user,
  client,
  state,
  since,
})

/** One node's registry, in memory: the presence of a single server. */
export function createMemoryPresence(): PresenceRegistry {
  const topics = new Map<string, Map<string, HeldMember>>()
  const listeners = new Set<(change: PresenceChange) => void>()
  const emit = (change: PresenceChange) => {
    for (const l of listeners) l(change)
  }
  return {
    async set(topic, member) {
      let map = topics.get(topic)
      if (!map) topics.set(topic, (map = new Map()))
      const id = memberId(member)
      const held = map.get(id)
      const next = held ? { ...member, since: held.since } : member
      map.set(id, next)
      emit({ kind: 'set', topic, member: next })
    },
    async remove(topic, key, owner) {
      const map = topics.get(topic)
      const id = memberId(key)
      const held = map?.get(id)
      if (!map || !held || (owner !== undefined && held.owner !== owner)) return
      map.delete(id)
      if (map.size === 0) topics.delete(topic)
      emit({ kind: 'remove', topic, key: { user: key.user, client: key.client } })
    },
    async members(topic) {
      return [...(topics.get(topic)?.values() ?? [])]
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      topics.clear()
    },
  }
}

/** What the hub needs of a connection that watches a topic's presence. */
export interface PresenceWatcher {
  /** Queues a frame; see `Outbox.push`. */
  push(frame: PresenceServerFrame): number
  /** So much waits for the connection that diffs would pile up: it gets a full list once it drains instead. */
  readonly congested: boolean
  room(): Promise<void>
}

interface Watch {
  /** Diffs were skipped while the connection was congested: a full list is on its way. */
  stale: boolean
}

interface TopicView {
  /** The members as this node last heard, by `memberId`. */
  members: Map<string, HeldMember>
  /** Loaded from the registry (for a shared one, the changes heard before that were applied on top). */
  loaded: Promise<void>
  watchers: Map<PresenceWatcher, Watch>
  /** Each member changed since the last flush, with what the watchers last saw of it (undefined: absent). */
  before: Map<string, PresenceMember | undefined>
  /** While the list is being read: the members a change was heard for meanwhile. */
  heard: Set<string> | undefined
}

/**
 * One node's view of presence: the registry's members of every topic someone on this node watches, and the diffs
 * sent to those watchers. Changes of one event-loop turn are flushed together: each watcher gets one `pdiff` per
 * topic (a member that joined and left within it is not mentioned at all), never the full list, which is sent only
 * on a join and to a watcher that fell behind.
 */
export class PresenceHub {
  readonly #views = new Map<string, TopicView>()
  readonly #dirty = new Set<TopicView>()
  #flushing: NodeJS.Immediate | undefined
  readonly #unlisten: () => void
  readonly #expiring = new Set<NodeJS.Timeout>()

  constructor(readonly registry: PresenceRegistry) {
    this.#unlisten = registry.onChange((change) => this.#heard(change))
  }

  /** Starts sending `watcher` the topic's changes, beginning with the full list. */
  async watch(topic: string, watcher: PresenceWatcher): Promise<void> {
    const view = this.#view(topic)
    await view.loaded
    // The last watcher left while the list was read, and took the view with it.
    if (this.#views.get(topic) !== view) return this.watch(topic, watcher)
    if (view.watchers.has(watcher)) return this.#sendFull(topic, view, watcher)
    // Diffs pending for the others are not this watcher's: its full list already holds them.
    this.#flushView(topic, view)
    view.watchers.set(watcher, { stale: false })
    this.#sendFull(topic, view, watcher)
  }

  unwatch(topic: string, watcher: PresenceWatcher): void {
    const view = this.#views.get(topic)
    if (!view?.watchers.delete(watcher)) return
    if (view.watchers.size === 0) {
      this.#views.delete(topic)
      this.#dirty.delete(view)
      this.registry.forget?.(topic)
    }
  }

  /** The topic's members as the registry holds them (every node's). */
  async members(topic: string): Promise<PresenceMember[]> {
    return (await this.registry.members(topic)).map(publicMember)
  }

  /** Removes the member after `ms` unless another connection (`owner`) holds it by then. */
  expire(topic: string, key: PresenceKey, owner: string, ms: number): void {
    const timer = setTimeout(() => {
      this.#expiring.delete(timer)
      this.registry.remove(topic, key, owner).catch((error: unknown) => {
        console.error(`tabwire: presence of ${topic} could not expire a member`, error)
      })
    }, ms)
    this.#expiring.add(timer)
  }

  close(): void {
    for (const timer of this.#expiring) clearTimeout(timer)
    this.#expiring.clear()
    this.#unlisten()
    if (this.#flushing) clearImmediate(this.#flushing)
    this.#views.clear()
  }

  #view(topic: string): TopicView {
    const view = this.#views.get(topic)
    if (view) return view
    const heard = new Set<string>()
    const fresh: TopicView = {
      members: new Map(),
      watchers: new Map(),
      before: new Map(),
      loaded: Promise.resolve(),
      heard,
    }
    fresh.loaded = this.registry.members(topic).then((list) => {
      // A change heard while the list was read is newer than the list: it wins.
      for (const m of list) if (!heard.has(memberId(m))) fresh.members.set(memberId(m), m)
      fresh.heard = undefined
    })
    this.#views.set(topic, fresh)
    this.registry.watch?.(topic)
    return fresh
  }

  #heard(change: PresenceChange): void {
    const view = this.#views.get(change.topic)
    if (!view) return
    const id = memberId(change.kind === 'set' ? change.member : change.key)
    view.heard?.add(id)
    if (!view.before.has(id)) {
      const seen = view.members.get(id)
      view.before.set(id, seen && publicMember(seen))
    }
    if (change.kind === 'set') view.members.set(id, change.member)
    else view.members.delete(id)
    this.#dirty.add(view)
    this.#flushing ??= setImmediate(() => this.#flush())
  }

  #flush(): void {
    this.#flushing = undefined
    for (const [topic, view] of this.#views) if (this.#dirty.has(view)) this.#flushView(topic, view)
    this.#dirty.clear()
  }

  #flushView(topic: string, view: TopicView): void {
    this.#dirty.delete(view)
    if (view.before.size === 0) return
    const joined: PresenceMember[] = []
    const left: PresenceKey[] = []
    const updated: PresenceMember[] = []
    for (const [id, was] of view.before) {
      const held = view.members.get(id)
      const now = held && publicMember(held)
      if (was && !now) left.push({ user: was.user, client: was.client })
      else if (!was && now) joined.push(now)
      else if (was && now && was.since !== now.since) {
        left.push({ user: was.user, client: was.client })
        joined.push(now)
      } else if (was && now && !sameJson(was.state, now.state)) updated.push(now)
    }
    view.before.clear()
    if (joined.length + left.length + updated.length === 0) return
    const frame: PresenceServerFrame = { t: 'pdiff', topic, joined, left, updated }
    for (const [watcher, watch] of view.watchers) {
      if (watch.stale) continue
      if (!watcher.congested) {
        watcher.push(frame)
        continue
      }
      // Diffs for a connection that does not read would grow without bound: one full list once it drains replaces them.
      watch.stale = true
      void watcher.room().then(() => {
        if (view.watchers.get(watcher) !== watch) return
        watch.stale = false
        this.#sendFull(topic, view, watcher)
      })
    }
  }

  #sendFull(topic: string, view: TopicView, watcher: PresenceWatcher): void {
    // In the order they joined, however the view heard of them.
    const members = [...view.members.values()].sort((a, b) => a.since - b.since).map(publicMember)
    watcher.push({ t: 'presence', topic, members })
  }
}

function sameJson(a: Json, b: Json): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b)
}

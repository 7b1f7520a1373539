import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import type { AnyWire } from '../bindings/follow.ts'
import type { Presence } from '../client/presence.ts'
import type { Message } from '../client/subscriptions.ts'
import type { Json } from '../protocol/frames.ts'
import type { ResetNotice, StateInfo } from '../protocol/port.ts'
import { type AwarenessPresence, awarenessOf } from './awareness-map.ts'
import { EchoFilter } from './echo-filter.ts'
import { profileId } from './profile.ts'

export interface TabwireProviderOptions {
  /** The awareness to share (cursors, names); a new one for `doc` when absent. */
  awareness?: Awareness
  /** The presence topic awareness rides on (default: the document's topic). */
  awarenessTopic?: string
}

export interface ProviderEvents {
  /** `true` once the document is loaded and the connection is open; `false` when the connection drops. */
  sync: (synced: boolean) => void
  status: (event: { status: 'connected' | 'disconnected' }) => void
  /** The server's log lost the range after the provider's position (see `ResetNotice`). */
  reset: (notice: ResetNotice) => void
  /** A send, subscription or presence call failed (the error as the wire rejected it). */
  error: (error: unknown) => void
}

/** Outbox entries read per page when a provider restores its unsent updates. */
const OUTBOX_PAGE = 1_000
/** Remote awareness entries are renewed this often, ms, so y-protocols' 30 s timeout never drops a present member. */
const RENEW_EVERY = 10_000

/**
 * A `Y.Doc` kept on a tabwire topic: every local update is a durable `wire.send` (stored in IndexedDB before it is
 * counted sent, delivered once and in order), every update in the topic's log is applied, and unsent updates are
 * read back from the outbox on load so offline edits survive a reload or a browser restart. Awareness rides on the
 * topic's presence: one member per browser profile, never on the log.
 */
export class TabwireProvider {
  readonly awareness: Awareness
  readonly #wire: AnyWire
  readonly #listeners: { [E in keyof ProviderEvents]?: Set<ProviderEvents[E]> } = {}
  readonly #echoes = new EchoFilter()
  readonly #profile = profileId()
  readonly #awarenessTopic: string
  #remote = new Map<number, Json>()
  #presence: Presence<AwarenessPresence | null> | undefined
  #joining = false
  #changedWhileJoining = false
  #stopPresence: (() => void) | undefined
  #stopSubscription: (() => Promise<void>) | undefined
  #offState: () => void
  #renew: ReturnType<typeof setInterval> | undefined
  #loaded = false
  #synced = false
  #destroyed = false
  /** Updates applied from the log (this provider's own echoes not counted). */
  applied = 0
  /** Unsent updates read back from the outbox on load. */
  restored = 0

  /** Resolves once the outbox's unsent updates are applied and the topic's subscription is registered. */
  readonly whenLoaded: Promise<void>

  constructor(
    wire: AnyWire,
    readonly topic: string,
    readonly doc: Y.Doc,
    options: TabwireProviderOptions = {},
  ) {
    this.#wire = wire
    this.awareness = options.awareness ?? new Awareness(doc)
    this.#awarenessTopic = options.awarenessTopic ?? topic
    doc.on('update', this.#onDocUpdate)
    this.awareness.on('change', this.#onAwarenessChange)
    this.#offState = wire.onState(this.#onState)
    this.whenLoaded = this.#load()
    this.whenLoaded.catch((e: unknown) => this.#emit('error', e))
    this.#joinPresence().catch((e: unknown) => this.#emit('error', e))
  }

  /** Whether the document is loaded and the connection is open (see the `sync` event). */
  get synced(): boolean {
    return this.#synced
  }

  /** Updates of this provider that came back through the log and were skipped. */
  get echoesSkipped(): number {
    return this.#echoes.skipped
  }

  on<E extends keyof ProviderEvents>(event: E, fn: ProviderEvents[E]): void {
    const listeners = this.#listeners as Record<E, Set<ProviderEvents[E]> | undefined>
    ;(listeners[event] ??= new Set()).add(fn)
  }

  off<E extends keyof ProviderEvents>(event: E, fn: ProviderEvents[E]): void {
    this.#listeners[event]?.delete(fn)
  }

  /**
   * Stops following the topic, leaves presence and drops the remote awareness entries. The document and the local
   * awareness are the caller's and stay; updates already sent are still delivered (they are in the outbox).
   */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.doc.off('update', this.#onDocUpdate)
    this.awareness.off('change', this.#onAwarenessChange)
    this.#offState()
    clearInterval(this.#renew)
    this.#stopPresence?.()
    this.#presence?.leave().catch(() => undefined)
    this.#stopSubscription?.().catch(() => undefined)
    this.#setRemote(new Map())
    this.#setSynced(false)
    for (const set of Object.values(this.#listeners)) set.clear()
  }

  async #load(): Promise<void> {
    // Unsent updates first: the offline edits of a previous page, visible before the server answers.
    let after = 0
    for (;;) {
      const entries = await this.#wire.outbox.list({ topic: this.topic, after, bodies: true, limit: OUTBOX_PAGE })
      for (const e of entries) {
        if (e.body instanceof Uint8Array) {
          this.#echoes.expect(e.body)
          Y.applyUpdate(this.doc, e.body, this)
          this.restored++
        }
        after = e.id
      }
      if (entries.length === 0 || this.#destroyed) break
    }
    if (this.#destroyed) return
    const stop = await this.#wire.subscribe<Uint8Array>(this.topic, this.#onMessage, {
      after: 0,
      onReset: this.#onReset,
    })
    if (this.#destroyed) {
      await stop()
      return
    }
    this.#stopSubscription = stop
    this.#loaded = true
    this.#setSynced(this.#wire.state === 'open')
  }

  readonly #onMessage = (m: Message<Uint8Array>): void => {
    if (!(m.body instanceof Uint8Array) || this.#echoes.isEcho(m.body)) return
    this.applied++
    try {
      Y.applyUpdate(this.doc, m.body, this)
    } catch (e) {
      // A body that is no Yjs update (another app's message on the topic) must not stop the rest.
      this.#emit('error', e)
    }
  }

  /**
   * `retention`: the server compacted the log (`server.compact`): its snapshot follows in the log, nothing to do.
   * `epoch` / `ahead`: the log was lost or replaced; this document may hold what it no longer has, so its whole state
   * goes into the new log as one update (Yjs merges it with whatever others send).
   */
  readonly #onReset = (notice: ResetNotice): void => {
    this.#echoes.clear()
    this.#emit('reset', notice)
    if (notice.reason !== 'retention') this.#send(Y.encodeStateAsUpdate(this.doc))
  }

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this) return
    this.#send(update)
  }

  #send(update: Uint8Array): void {
    this.#echoes.expect(update)
    this.#wire.send(this.topic, update).then(
      ({ acked }) => acked.catch((e: unknown) => this.#emit('error', e)),
      (e: unknown) => this.#emit('error', e),
    )
  }

  readonly #onState = (info: StateInfo): void => {
    const open = info.state === 'open'
    this.#emit('status', { status: open ? 'connected' : 'disconnected' })
    if (this.#loaded) this.#setSynced(open)
  }

  #setSynced(synced: boolean): void {
    if (this.#synced === synced) return
    this.#synced = synced
    this.#emit('sync', synced)
  }

  async #joinPresence(): Promise<void> {
    this.#joining = true
    this.#changedWhileJoining = false
    const presence = await this.#wire.presence<AwarenessPresence | null>(this.#awarenessTopic, {
      state: this.#localPresence(),
    })
    this.#joining = false
    if (this.#destroyed) {
      await presence.leave()
      return
    }
    this.#presence = presence
    // A change to the local awareness while the join was under way (the presence code may load on first use) found
    // no handle to update: the member would keep the state it joined with.
    if (this.#changedWhileJoining) presence.update(this.#localPresence()).catch((e: unknown) => this.#emit('error', e))
    this.#stopPresence = presence.onChange(({ members }) => {
      const diff = awarenessOf(members, this.#profile, this.#remote)
      this.#setRemote(diff.next, diff)
    })
    this.#renew = setInterval(() => {
      const now = Date.now()
      for (const id of this.#remote.keys()) {
        const meta = this.awareness.meta.get(id)
        if (meta) meta.lastUpdated = now
      }
    }, RENEW_EVERY)
  }

  #localPresence(): AwarenessPresence | null {
    const state = this.awareness.getLocalState() as Json | null
    return state === null ? null : { profile: this.#profile, clientID: this.awareness.clientID, state }
  }

  readonly #onAwarenessChange = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === this) return
    const own = this.awareness.clientID
    if (![...added, ...updated, ...removed].includes(own)) return
    if (this.#joining) this.#changedWhileJoining = true
    this.#presence?.update(this.#localPresence()).catch((e: unknown) => this.#emit('error', e))
  }

  /** Puts the presence-backed entries into the awareness, as y-protocols' own update would. */
  #setRemote(
    next: Map<number, Json>,
    diff = awarenessOf([], this.#profile, this.#remote), // everything removed
  ): void {
    const { added, updated, removed } = diff
    const now = Date.now()
    for (const id of removed) {
      this.awareness.states.delete(id)
      this.awareness.meta.delete(id)
    }
    for (const id of [...added, ...updated]) {
      this.awareness.states.set(id, next.get(id) as Record<string, unknown>)
      const clock = (this.awareness.meta.get(id)?.clock ?? 0) + 1
      this.awareness.meta.set(id, { clock, lastUpdated: now })
    }
    this.#remote = next
    if (added.length + updated.length + removed.length === 0) return
    this.awareness.emit('change', [{ added, updated, removed }, this])
    this.awareness.emit('update', [{ added, updated, removed }, this])
  }

  #emit<E extends keyof ProviderEvents>(event: E, ...args: Parameters<ProviderEvents[E]>): void {
    for (const fn of [...(this.#listeners[event] ?? [])]) {
      try {
        ;(fn as (...a: Parameters<ProviderEvents[E]>) => void)(...args)
      } catch (e) {
        reportError(e)
      }
    }
  }
}

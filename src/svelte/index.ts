/**
 * `tabwire/svelte`: a wire's state, subscriptions and outbox as Svelte stores (`$state`, `$messages` in a
 * component; Svelte 4 and 5). They follow the store contract: work starts with the first subscriber and ends with the
 * last, so a store nobody reads holds no subscription. No import from svelte itself: the contract is an object with
 * `subscribe`.
 */
import { type AnyWire, follow, followOutbox, readOutbox, readPending } from '../bindings/follow.ts'
import { joinPresence, type Membership } from '../bindings/presence.ts'
import type { PresenceMember } from '../client/presence.ts'
import { stateStoreOf } from '../bindings/state-store.ts'
import type { Message } from '../client/subscriptions.ts'
import type { Body, Json } from '../protocol/frames.ts'
import type { OutboxEntry, ResetNotice, StateInfo } from '../protocol/port.ts'

export type { AnyWire } from '../bindings/follow.ts'
export { sharedWire } from '../bindings/shared-wire.ts'

/** Svelte's store contract (what `$store` reads). */
export interface Readable<T> {
  subscribe(run: (value: T) => void): () => void
}

/**
 * A readable store whose `start` runs when the first subscriber arrives and whose returned `stop` runs when the last
 * leaves; `start` may set the value at any time.
 */
function readable<T>(initial: T, start: (set: (value: T) => void) => () => void): Readable<T> {
  let value = initial
  let stop: (() => void) | undefined
  const runs = new Set<(value: T) => void>()
  const set = (next: T): void => {
    value = next
    for (const run of [...runs]) run(value)
  }
  return {
    subscribe(run) {
      runs.add(run)
      if (runs.size === 1) stop = start(set)
      run(value)
      return () => {
        if (!runs.delete(run) || runs.size > 0) return
        stop?.()
        stop = undefined
      }
    },
  }
}

/** The wire's connection state. */
export function wireState(wire: AnyWire): Readable<StateInfo> {
  const store = stateStoreOf(wire)
  return readable(store.info, (set) => {
    set(store.info)
    return store.subscribe(() => set(store.info))
  })
}

export interface SubscriptionOptions<B, S> {
  /** As `subscribe`'s `after`. @default 0 */
  after?: number
  reducer: (state: S, message: Message<B>) => S
  /** The state before the first message, and again each time the store is started anew. */
  initial: S
  onReset?: (notice: ResetNotice) => void
  /** A subscription that could not be made (`closed`, `invalid-argument`); default: `reportError`. */
  onError?: (error: unknown) => void
}

/**
 * `topic`'s messages folded into a store's value (without a reducer: the newest message), subscribed while the store
 * has subscribers. Each message is folded in once, in seq order.
 */
export function subscription<B = Body>(
  wire: AnyWire,
  topic: string,
  options?: { after?: number; onReset?: (notice: ResetNotice) => void; onError?: (error: unknown) => void },
): Readable<Message<B> | undefined>
export function subscription<B, S>(wire: AnyWire, topic: string, options: SubscriptionOptions<B, S>): Readable<S>
export function subscription<B, S>(
  wire: AnyWire,
  topic: string,
  options: Partial<SubscriptionOptions<B, S>> = {},
): Readable<unknown> {
  const reducer = options.reducer ?? ((_: unknown, m: Message<B>) => m as S)
  return readable<unknown>(options.initial, (set) => {
    let value = options.initial as S
    set(value)
    return follow<B>(wire, topic, options.after ?? 0, {
      message: (m) => set((value = reducer(value, m))),
      reset: (n) => options.onReset?.(n),
      failed: options.onError ?? reportError,
    })
  })
}

/** How many messages of the namespace are stored and not yet acked (all tabs'). */
export function pending(wire: AnyWire): Readable<number> {
  return readable(0, (set) => followOutbox(wire, readPending, set))
}

/** The namespace's queued messages, oldest first. */
export function outbox(wire: AnyWire): Readable<OutboxEntry[]> {
  return readable<OutboxEntry[]>([], (set) => followOutbox(wire, readOutbox, set))
}

/** A presence store: `$members` is everyone present; `update` sets this profile's state. */
export interface PresenceStore<S> extends Readable<PresenceMember<S>[]> {
  update(state: S): void
}

/**
 * This browser profile is a member of `topic`'s presence while the store has subscribers (it joins with the first and
 * leaves after the last), with `state`; `update(state)` changes it (also before the join: the newest is kept for it).
 */
export function presence<S = Json>(
  wire: AnyWire,
  topic: string,
  options: { state?: S; onError?: (error: unknown) => void } = {},
): PresenceStore<S> {
  let state = (options.state ?? null) as S
  let membership: Membership<S> | undefined
  const store = readable<PresenceMember<S>[]>([], (set) => {
    set([])
    const m = joinPresence<S>(wire, topic, state, { members: set, failed: options.onError ?? reportError })
    membership = m
    return () => {
      membership = undefined
      m.end()
    }
  })
  return {
    subscribe: store.subscribe,
    update(next) {
      state = next
      membership?.update(next)
    },
  }
}

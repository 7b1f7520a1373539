/**
 * `tabwire/vue`: composables over a wire. Provide the wire once (`provideWire` in the root component's setup, or
 * `app.provide(WIRE_KEY, wire)`), then read it with the composables; each follows its component's (or effect
 * scope's) lifetime and ends with it. Make the wire with `sharedWire` in its own module, so a hot update that
 * evaluates that module again gets the same wire back instead of attaching a second one.
 */
import {
  getCurrentScope,
  type InjectionKey,
  inject,
  type MaybeRefOrGetter,
  onScopeDispose,
  provide,
  type Ref,
  readonly,
  shallowRef,
  toValue,
  watch,
} from 'vue'
import { type AnyWire, follow, followOutbox, readOutbox, readPending } from '../bindings/follow.ts'
import { joinPresence } from '../bindings/presence.ts'
import type { PresenceMember } from '../client/presence.ts'
import { stateStoreOf } from '../bindings/state-store.ts'
import type { Message } from '../client/subscriptions.ts'
import type { Body, Json } from '../protocol/frames.ts'
import type { OutboxEntry, ResetNotice, StateInfo } from '../protocol/port.ts'

export type { AnyWire } from '../bindings/follow.ts'
export { sharedWire } from '../bindings/shared-wire.ts'

export const WIRE_KEY: InjectionKey<AnyWire> = Symbol('tabwire')

/** Gives the components below this one the wire (call in `setup`). */
export function provideWire(wire: AnyWire): void {
  provide(WIRE_KEY, wire)
}

/** `wire` when given, else the provided one; throws when there is neither. */
export function useWire(wire?: AnyWire): AnyWire {
  const w = wire ?? inject(WIRE_KEY, null)
  if (!w) throw new Error('tabwire/vue: no wire given and none provided (provideWire or app.provide(WIRE_KEY, wire))')
  return w
}

/** Runs `end` when the current component or effect scope is disposed; composables need one. */
function onEnd(end: () => void): void {
  if (!getCurrentScope()) throw new Error('tabwire/vue: call composables in setup() or inside an effectScope')
  onScopeDispose(end)
}

/** The wire's connection state, as a read-only ref. */
export function useWireState(wire?: AnyWire): Readonly<Ref<StateInfo>> {
  const store = stateStoreOf(useWire(wire))
  const state = shallowRef(store.info)
  onEnd(store.subscribe(() => (state.value = store.info)))
  return readonly(state) as Readonly<Ref<StateInfo>>
}

export interface UseSubscriptionOptions<B, S> {
  wire?: AnyWire
  /** As `subscribe`'s `after`; a ref or getter whose change starts the subscription over. @default 0 */
  after?: MaybeRefOrGetter<number>
  reducer: (state: S, message: Message<B>) => S
  /** The state before the first message, and again whenever the topic or `after` change. */
  initial: S
  onReset?: (notice: ResetNotice) => void
}

/**
 * Follows `topic` (a string, ref or getter) while the scope lives and returns a ref of the state its messages fold
 * into (without a reducer: the newest message). A new topic or `after` stops the old subscription and starts over from
 * `initial`. A subscription that fails sets `error`.
 */
export function useSubscription<B = Body>(
  topic: MaybeRefOrGetter<string>,
  options?: { wire?: AnyWire; after?: MaybeRefOrGetter<number>; onReset?: (notice: ResetNotice) => void },
): { value: Readonly<Ref<Message<B> | undefined>>; error: Readonly<Ref<unknown>> }
export function useSubscription<B, S>(
  topic: MaybeRefOrGetter<string>,
  options: UseSubscriptionOptions<B, S>,
): { value: Readonly<Ref<S>>; error: Readonly<Ref<unknown>> }
export function useSubscription<B, S>(
  topic: MaybeRefOrGetter<string>,
  options: Partial<UseSubscriptionOptions<B, S>> = {},
): { value: Readonly<Ref<unknown>>; error: Readonly<Ref<unknown>> } {
  const wire = useWire(options.wire)
  const reducer = options.reducer ?? ((_: unknown, m: Message<B>) => m as S)
  const value = shallowRef<unknown>(options.initial)
  const error = shallowRef<unknown>(undefined)
  let end = (): void => undefined
  watch(
    () => [toValue(topic), toValue(options.after ?? 0)] as const,
    ([t, after]) => {
      end()
      value.value = options.initial
      error.value = undefined
      end = follow<B>(wire, t, after, {
        message: (m) => (value.value = reducer(value.value as S, m)),
        reset: (n) => options.onReset?.(n),
        failed: (e) => (error.value = e),
      })
    },
    { immediate: true },
  )
  onEnd(() => end())
  return { value: readonly(value), error: readonly(error) }
}

/** `read` again on every change of the namespace's queue (see `followOutbox`): no polling timer. */
function useOutboxRead<T>(
  read: (wire: AnyWire) => Promise<T>,
  initial: T,
  options: UseOutboxOptions,
): Readonly<Ref<T>> {
  const value = shallowRef<T>(initial)
  onEnd(followOutbox(useWire(options.wire), read, (v) => (value.value = v)))
  return readonly(value) as Readonly<Ref<T>>
}

export interface UseOutboxOptions {
  wire?: AnyWire
}

/** How many messages of the namespace are stored and not yet acked by the server (all tabs'). */
export function usePending(options: UseOutboxOptions = {}): Readonly<Ref<number>> {
  return useOutboxRead(readPending, 0, options)
}

/** The namespace's queued messages, oldest first. */
export function useOutbox(options: UseOutboxOptions = {}): Readonly<Ref<OutboxEntry[]>> {
  return useOutboxRead(readOutbox, [], options)
}

/**
 * This browser profile is a member of `topic`'s presence while the scope lives, with `state` (a value, ref or getter:
 * a change of its content is an update, never a leave and a join); `members` is everyone present. A new topic leaves
 * the old one and joins the new one. A join or update that fails sets `error`.
 */
export function usePresence<S = Json>(
  topic: MaybeRefOrGetter<string>,
  options: { state?: MaybeRefOrGetter<S>; wire?: AnyWire } = {},
): { members: Readonly<Ref<PresenceMember<S>[]>>; error: Readonly<Ref<unknown>> } {
  const wire = useWire(options.wire)
  const members = shallowRef<PresenceMember<S>[]>([])
  const error = shallowRef<unknown>(undefined)
  const stateOf = (): S => (toValue(options.state) ?? null) as S
  let membership: ReturnType<typeof joinPresence<S>> | undefined
  watch(
    () => toValue(topic),
    (t) => {
      membership?.end()
      members.value = []
      error.value = undefined
      membership = joinPresence<S>(wire, t, stateOf(), {
        members: (list) => (members.value = list),
        failed: (e) => (error.value = e),
      })
    },
    { immediate: true },
  )
  watch(
    () => JSON.stringify(stateOf()),
    () => membership?.update(stateOf()),
  )
  onEnd(() => membership?.end())
  return { members: readonly(members) as Readonly<Ref<PresenceMember<S>[]>>, error: readonly(error) }
}

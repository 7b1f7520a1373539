import { useEffect, useRef, useState } from 'react'
import { type AnyWire, follow } from '../bindings/follow.ts'
import type { Message } from '../client/subscriptions.ts'
import type { Body } from '../protocol/frames.ts'
import type { ResetNotice } from '../protocol/port.ts'
import { useWire } from './wire-context.ts'

export interface UseSubscriptionOptions<B, S> {
  /** The wire to follow the topic on; default: the nearest `WireProvider`'s. */
  wire?: AnyWire
  /** As `subscribe`'s `after`: the last seq already shown. Changing it starts the subscription over. @default 0 */
  after?: number
  /** Folds each message into the state, like `useReducer`'s reducer: must be pure (StrictMode calls it twice). */
  reducer: (state: S, message: Message<B>) => S
  /** The state before the first message, and again whenever `topic` or `after` change. */
  initial: S
  onReset?: (notice: ResetNotice) => void
}

interface Box<S> {
  key: string
  value: S
}

/**
 * Follows `topic` while the component is mounted and returns the state its messages fold into (without a reducer:
 * the newest message). Each message is folded in once, in seq order, across reconnects and worker restarts.
 *
 * StrictMode mounts, unmounts and mounts again: the first subscription is stopped and its late messages are
 * ignored, so nothing is folded in twice and no subscription outlives its component. A subscription that fails
 * (`closed`, `invalid-argument`) throws from the component's next render, for an error boundary to show.
 */
export function useSubscription<B = Body>(
  topic: string,
  options?: { wire?: AnyWire; after?: number; onReset?: (notice: ResetNotice) => void },
): Message<B> | undefined
export function useSubscription<B, S>(topic: string, options: UseSubscriptionOptions<B, S>): S
export function useSubscription<B, S>(
  topic: string,
  options: Partial<UseSubscriptionOptions<B, S>> = {},
): S | Message<B> | undefined {
  const wire = useWire(options.wire)
  const after = options.after ?? 0
  const key = JSON.stringify([topic, after])
  const reducer = options.reducer ?? ((_: S | Message<B> | undefined, m: Message<B>) => m)
  const initial = options.initial
  // Kept in refs: a new reducer or handler each render must not restart the subscription.
  const latest = useRef({ reducer, initial, onReset: options.onReset })
  latest.current = { reducer, initial, onReset: options.onReset }
  const [box, setBox] = useState<Box<S | Message<B> | undefined>>({ key, value: initial })
  const [failure, setFailure] = useState<unknown>(undefined)

  useEffect(
    () =>
      follow<B>(wire, topic, after, {
        message: (m) =>
          setBox((b) => ({
            key,
            value: latest.current.reducer((b.key === key ? b.value : latest.current.initial) as S, m),
          })),
        reset: (n) => latest.current.onReset?.(n),
        failed: setFailure,
      }),
    [wire, topic, after, key],
  )

  if (failure !== undefined) throw failure
  return box.key === key ? box.value : initial
}

import { useSyncExternalStore } from 'react'
import type { AnyWire } from '../bindings/follow.ts'
import { stateStoreOf } from '../bindings/state-store.ts'
import type { StateInfo } from '../protocol/port.ts'
import { useWire } from './wire-context.ts'

/** The wire's connection state (`{ state, attempt, nextRetryAt?, error? }`), re-rendering on every change. */
export function useWireState(wire?: AnyWire): StateInfo {
  const store = stateStoreOf(useWire(wire))
  return useSyncExternalStore(
    store.subscribe,
    () => store.info,
    () => store.info,
  )
}

import { useSyncExternalStore } from 'react'
import type { StateInfo } from '../protocol/port.ts'
import { type AnyWire, useWire } from './wire-context.ts'

interface StateStore {
  info: StateInfo
  subscribe(onChange: () => void): () => void
}

// One listener per wire however many components read it, and a snapshot object that only changes with the state
// (useSyncExternalStore re-renders forever on a snapshot that is new at every read).
const stores = new WeakMap<AnyWire, StateStore>()

function storeOf(wire: AnyWire): StateStore {
  let store = stores.get(wire)
  if (store) return store
  const listeners = new Set<() => void>()
  const s: StateStore = {
    info: { state: wire.state, attempt: 0 },
    subscribe(onChange) {
      listeners.add(onChange)
      return () => listeners.delete(onChange)
    },
  }
  wire.onState((info) => {
    s.info = info
    for (const l of listeners) l()
  })
  stores.set(wire, s)
  store = s
  return store
}

/** The wire's connection state (`{ state, attempt, nextRetryAt?, error? }`), re-rendering on every change. */
export function useWireState(wire?: AnyWire): StateInfo {
  const store = storeOf(useWire(wire))
  return useSyncExternalStore(
    store.subscribe,
    () => store.info,
    () => store.info,
  )
}

import type { StateInfo } from '../protocol/port.ts'
import type { AnyWire } from './follow.ts'

/** A wire's state as a store: the last `StateInfo` and listeners to tell. */
export interface StateStore {
  /** The same object until the state changes (React's useSyncExternalStore re-renders on every new snapshot). */
  readonly info: StateInfo
  subscribe(onChange: () => void): () => void
}

const stores = new WeakMap<AnyWire, StateStore>()

/** One `onState` listener per wire, however many components and stores read it. */
export function stateStoreOf(wire: AnyWire): StateStore {
  const known = stores.get(wire)
  if (known) return known
  const listeners = new Set<() => void>()
  let info: StateInfo = { state: wire.state, attempt: 0 }
  const store: StateStore = {
    get info() {
      return info
    },
    subscribe(onChange) {
      listeners.add(onChange)
      return () => listeners.delete(onChange)
    },
  }
  wire.onState((next) => {
    info = next
    for (const l of listeners) l()
  })
  stores.set(wire, store)
  return store
}

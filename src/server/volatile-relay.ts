import type { Body } from '../protocol/frames.ts'
import type { Store } from './store.ts'

/** One volatile message on its way to the topic's subscribers. */
export interface VolatileMessage {
  topic: string
  body: Body
}

/**
 * Carries volatile messages (`vpub`) to every server node sharing a store, without storing them. A node never
 * delivers its own clients' volatile messages directly: it publishes them here and delivers what it hears, so one
 * client's messages reach every subscriber, on every node, in the order that client sent them.
 */
export interface VolatileRelay {
  publish(msg: VolatileMessage): void
  /** Every message published by any node; returns the function that stops listening. */
  listen(listener: (msg: VolatileMessage) => void): () => void
}

/** A relay within one process: what every store without one of its own (memory, SQLite) uses. */
export class LocalRelay implements VolatileRelay {
  private readonly listeners = new Set<(msg: VolatileMessage) => void>()

  publish(msg: VolatileMessage): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(msg)
      } catch (error) {
        console.error('tabwire: a volatile listener threw', error)
      }
    }
  }

  listen(listener: (msg: VolatileMessage) => void): () => void {
    const wrapped = (msg: VolatileMessage) => listener(msg)
    this.listeners.add(wrapped)
    return () => this.listeners.delete(wrapped)
  }
}

const localRelays = new WeakMap<Store, VolatileRelay>()

/**
 * The relay of a store: its own (Redis: every node) or one shared by every server in this process on that store
 * object, so two servers built on one memory store relay to each other as they fan out to each other.
 */
export function relayOf(store: Store): VolatileRelay {
  if (store.relay) return store.relay
  let relay = localRelays.get(store)
  if (!relay) localRelays.set(store, (relay = new LocalRelay()))
  return relay
}

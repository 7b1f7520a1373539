import type { ClientFrame, ServerFrame } from '../protocol/frames.ts'
import type { Store } from './store.ts'

/** The store calls whose latency is observed. */
export type StoreOp = 'accept' | 'append' | 'acked' | 'read' | 'head'

/**
 * What the server reports as it works, for metrics: each method is one counter step, cheap enough for every frame.
 * `NO_OBSERVER` is what a server without metrics runs with.
 */
export interface Observer {
  connections(delta: 1 | -1): void
  /** A WebSocket message read from a client, before decoding. */
  received(bytes: number): void
  frameIn(type: ClientFrame['t']): void
  frameOut(type: ServerFrame['t']): void
  /** A WebSocket message handed to ws for a client (measured only by an observer that counts bytes). */
  sent(data: string | Uint8Array): void
  /** Pubs the store appended, and those it answered as duplicates (a resend after a lost ack). */
  pubs(published: number, duplicates: number): void
  /** A connection this server closed, by close code (admission's 4429s included). */
  closed(code: number): void
  store(op: StoreOp, seconds: number): void
  /**
   * A connection of this node became a member of `topic`'s presence (`joined`), or stopped being one: it left, or
   * it ended (its member may stay in the registry for the grace period, but no longer counts here).
   */
  presence(topic: string, joined: boolean): void
}

const nothing = (): void => undefined

export const NO_OBSERVER: Observer = {
  connections: nothing,
  received: nothing,
  frameIn: nothing,
  frameOut: nothing,
  sent: nothing,
  pubs: nothing,
  closed: nothing,
  store: nothing,
  presence: nothing,
}

const TIMED: ReadonlySet<PropertyKey> = new Set<StoreOp>(['accept', 'append', 'acked', 'read', 'head'])

/** `store` with each call of a `StoreOp` timed into `observer`; every other member passes through untouched. */
export function timedStore(store: Store, observer: Observer): Store {
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get(target, p) {
      const value: unknown = Reflect.get(target, p, target)
      if (typeof value !== 'function') return value
      let fn = wrapped.get(p)
      if (!fn) {
        const bound = (value as (...args: unknown[]) => unknown).bind(target)
        fn = TIMED.has(p)
          ? async (...args: unknown[]) => {
              const start = performance.now()
              try {
                return await bound(...args)
              } finally {
                observer.store(p as StoreOp, (performance.now() - start) / 1_000)
              }
            }
          : bound
        wrapped.set(p, fn)
      }
      return fn
    },
  })
}

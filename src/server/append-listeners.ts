import type { StoredMessage } from './store.ts'

/**
 * The `onAppend` listeners of a store, and the one rule every store follows: listeners hear of a write once it is
 * whole (every message of a batch stored), and every listener sees every message even when another throws (one buggy
 * listener must not starve the rest). The first error goes to the writer's caller after that (memory, SQLite: the
 * write stands); the Redis store delivers from its fanout, where no writer waits, so it rethrows the error on its own.
 */
export class AppendListeners {
  private readonly listeners = new Set<(msg: StoredMessage) => void>()

  /** Registers `listener`; the same function added twice is two independent subscriptions. */
  add(listener: (msg: StoredMessage) => void): () => void {
    const wrapped = (msg: StoredMessage) => listener(msg)
    this.listeners.add(wrapped)
    return () => this.listeners.delete(wrapped)
  }

  /** Delivers each message to every listener, in order; returns the first error a listener threw. */
  emit(msgs: readonly StoredMessage[]): { error: unknown } | undefined {
    let failure: { error: unknown } | undefined
    for (const msg of msgs)
      for (const listener of [...this.listeners]) {
        try {
          listener(msg)
        } catch (error) {
          failure ??= { error }
        }
      }
    return failure
  }

  clear(): void {
    this.listeners.clear()
  }
}

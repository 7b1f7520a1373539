/**
 * What one task queues, handed over in one piece at the task's microtask checkpoint: the shape of every "one call,
 * one post, one message per task" of the tab and the worker. `flush()` hands it over sooner, when what comes next
 * must not overtake it; the checkpoint then finds nothing (or only what was queued since) and hands that.
 */
export class TaskBatch<T> {
  #items: T[] = []
  readonly #hand: (items: T[]) => void

  constructor(hand: (items: T[]) => void) {
    this.#hand = hand
  }

  push(item: T): void {
    if (this.#items.length === 0) queueMicrotask(() => this.flush())
    this.#items.push(item)
  }

  flush(): void {
    if (this.#items.length === 0) return
    this.#hand(this.take())
  }

  /** Empties the queue without handing it over: what it held is the caller's (to refuse, or to drop). */
  take(): T[] {
    const items = this.#items
    this.#items = []
    return items
  }
}

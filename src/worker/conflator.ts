import type { Delivery } from '../protocol/port.ts'

/**
 * Delivery to one tab subscription made with `conflate: true`: at most one batch is in flight to the tab, and while
 * it is (the tab's handler still runs, or the tab is busy or frozen) or while the tab is hidden, newer messages
 * replace each other, so the tab gets only the newest when it is ready again. Its `seq` tells how many were skipped.
 * Holds one message at most, however far the tab falls behind.
 */
export class Conflator {
  #pending: Delivery | undefined
  #inFlight = false
  #held: boolean
  readonly #send: (msgs: Delivery[]) => Promise<unknown>

  /** `send` settles once the tab has handled the batch; a tab that is gone never settles it, which costs one message. */
  constructor(send: (msgs: Delivery[]) => Promise<unknown>, held: boolean) {
    this.#send = send
    this.#held = held
  }

  push(msgs: readonly Delivery[]): void {
    const newest = msgs[msgs.length - 1]
    if (!newest) return
    this.#pending = newest
    this.#pump()
  }

  /** While held (the tab is hidden or frozen) nothing is sent; the newest goes out when the hold lifts. */
  hold(on: boolean): void {
    this.#held = on
    this.#pump()
  }

  #pump(): void {
    const next = this.#pending
    if (this.#inFlight || this.#held || !next) return
    this.#pending = undefined
    this.#inFlight = true
    this.#send([next])
      .catch(() => undefined)
      .finally(() => {
        this.#inFlight = false
        this.#pump()
      })
  }
}

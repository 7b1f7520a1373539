/**
 * A cumulative mark over ids (acked up to N, sent up to N) and the promises waiting for it. Ids of one tab only
 * grow, so waiters stay sorted by appending, and a mark settles a prefix of them.
 */
export class Watermark {
  #upTo = 0
  #waiters: [id: number, settle: () => void, fail: (e: Error) => void][] = []

  /** Resolves once the mark reaches `id`, rejects if `fail(id)` comes first; pending if the tab closes first. */
  wait(id: number): Promise<void> {
    if (id <= this.#upTo) return Promise.resolve()
    return new Promise((resolve, reject) => this.#waiters.push([id, resolve, reject]))
  }

  /** `id` will never be reached (the server refused it): its waiter rejects with `error`. */
  fail(id: number, error: Error): void {
    const i = this.#waiters.findIndex((w) => w[0] === id)
    if (i < 0) return
    const [waiter] = this.#waiters.splice(i, 1)
    waiter?.[2](error)
  }

  /** Moves the mark forward; a lower value (a new connection resending) changes nothing. */
  mark(upTo: number): void {
    if (upTo <= this.#upTo) return
    this.#upTo = upTo
    let n = 0
    for (const [id, settle] of this.#waiters) {
      if (id > upTo) break
      settle()
      n++
    }
    if (n > 0) this.#waiters.splice(0, n)
  }

  /** The queue was renumbered: ids ≥ `from` are now `id - delta`, and the mark restarts below them. */
  shift(from: number, delta: number): void {
    for (const w of this.#waiters) if (w[0] >= from) w[0] -= delta
    this.#upTo = Math.min(this.#upTo, from - delta - 1)
  }

  clear(): void {
    this.#waiters = []
  }
}

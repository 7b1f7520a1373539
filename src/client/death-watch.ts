import type { TabwireError } from '../protocol/errors.ts'

/**
 * Makes calls into one worker fail once that worker dies. Each call registers its own rejecter and removes it when
 * it settles: racing every call against one promise that lives as long as the worker would leave a reaction on that
 * promise per call, kept until the worker dies (two per `send`, a steady leak over a long session).
 */
export class DeathWatch {
  readonly #waiting = new Set<(e: TabwireError) => void>()
  #death: TabwireError | undefined

  /** Settles as `call` does, or rejects with the death's error if the worker dies first (or has died). */
  orDeath<T>(call: Promise<T>): Promise<T> {
    if (this.#death) return Promise.reject(this.#death)
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject)
      call.then(resolve, reject).finally(() => this.#waiting.delete(reject))
    })
  }

  /** The worker died: every call still waiting, and every later one, rejects with `e` (the first death counts). */
  kill(e: TabwireError): void {
    this.#death ??= e
    for (const fail of this.#waiting) fail(this.#death)
    this.#waiting.clear()
  }

  /** Calls registered and not yet settled. */
  get waiting(): number {
    return this.#waiting.size
  }
}

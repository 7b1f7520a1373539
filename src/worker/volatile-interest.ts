import type { VolatileDelivery } from '../protocol/port.ts'

/**
 * The topics followers' tabs follow with `volatile: true`, by subscription key (`<worker>/<tab>/<sub>`). The owner
 * posts a server's volatile messages on the bus only for these: a BroadcastChannel post travels through the browser
 * process, and paying it for every volatile message nobody else wants doubled the owner's work on a round trip.
 */
export class VolatileInterest {
  readonly #topicOf = new Map<string, string>()
  readonly #keys = new Map<string, number>()

  /** A follower's subscription, new or replaced: counted when volatile, forgotten otherwise. */
  set(key: string, topic: string, volatile: boolean): void {
    this.delete(key)
    if (!volatile) return
    this.#topicOf.set(key, topic)
    this.#keys.set(topic, (this.#keys.get(topic) ?? 0) + 1)
  }

  delete(key: string): void {
    const topic = this.#topicOf.get(key)
    if (topic === undefined) return
    this.#topicOf.delete(key)
    const left = (this.#keys.get(topic) ?? 1) - 1
    if (left > 0) this.#keys.set(topic, left)
    else this.#keys.delete(topic)
  }

  /** A follower worker went away with every subscription of its tabs. */
  deleteAll(prefix: string): void {
    for (const key of [...this.#topicOf.keys()]) if (key.startsWith(prefix)) this.delete(key)
  }

  /** The messages some follower wants, in order. */
  wanted(msgs: readonly VolatileDelivery[]): VolatileDelivery[] {
    return this.#keys.size === 0 ? [] : msgs.filter((m) => this.#keys.has(m.topic))
  }
}

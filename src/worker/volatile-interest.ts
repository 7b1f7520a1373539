import type { VolatileDelivery } from '../protocol/port.ts'

/**
 * The topics followers' tabs follow with `volatile: true`, by subscription key (`<worker>/<tab>/<sub>`). The owner
 * posts a server's volatile messages on the bus only for these: a BroadcastChannel post travels through the browser
 * process, and paying it for every volatile message nobody else wants doubled the owner's work on a round trip.
 */
export class VolatileInterest {
  readonly #topicOf = new Map<string, string>()
  /** The followed topics, made again only after a change: `wanted` runs per volatile batch, subscriptions rarely change. */
  #topics: Set<string> | undefined

  /** A follower's subscription, new or replaced: kept when volatile, forgotten otherwise. */
  set(key: string, topic: string, volatile: boolean): void {
    if (volatile) this.#topicOf.set(key, topic)
    else this.#topicOf.delete(key)
    this.#topics = undefined
  }

  delete(key: string): void {
    if (this.#topicOf.delete(key)) this.#topics = undefined
  }

  /** A follower worker went away with every subscription of its tabs. */
  deleteAll(prefix: string): void {
    for (const key of [...this.#topicOf.keys()]) if (key.startsWith(prefix)) this.delete(key)
  }

  /** The messages some follower wants, in order. */
  wanted(msgs: readonly VolatileDelivery[]): VolatileDelivery[] {
    if (this.#topicOf.size === 0) return []
    const topics = (this.#topics ??= new Set(this.#topicOf.values()))
    return msgs.filter((m) => topics.has(m.topic))
  }
}

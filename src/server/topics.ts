import type { Feed } from './feed.ts'
import type { StoredMessage } from './store.ts'
import type { VolatileMessage } from './volatile-relay.ts'

/**
 * Which feeds follow which topic, on this node. The server hands it every message `store.onAppend` reports — its
 * only source of fan-out — so a message published through any node sharing the store reaches every subscriber.
 */
export class Topics {
  private readonly feeds = new Map<string, Set<Feed>>()

  add(feed: Feed): void {
    let set = this.feeds.get(feed.topic)
    if (!set) this.feeds.set(feed.topic, (set = new Set()))
    set.add(feed)
  }

  remove(feed: Feed): void {
    const set = this.feeds.get(feed.topic)
    if (!set?.delete(feed)) return
    if (set.size === 0) this.feeds.delete(feed.topic)
  }

  /** Feeds (one per connection) following `topic` on this node right now. */
  count(topic: string): number {
    return this.feeds.get(topic)?.size ?? 0
  }

  /** A volatile message heard from the relay: to every feed of its topic on this node. */
  relay(msg: VolatileMessage): void {
    const set = this.feeds.get(msg.topic)
    if (set) for (const feed of set) feed.offerVolatile(msg.body)
  }

  dispatch(msg: StoredMessage): void {
    const set = this.feeds.get(msg.topic)
    if (set) for (const feed of set) feed.offer(msg)
  }
}

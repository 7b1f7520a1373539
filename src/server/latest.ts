import type { Cursor, ResetFrame } from '../protocol/frames.ts'
import type { Store } from './store.ts'

/**
 * Where a subscription with `latest: true` starts: just before the topic's newest message, or at the end of an empty
 * log (so the next message appended is the first one sent). The client learns the position from a `reset` with
 * reason `latest`, sent before any message of the subscription; the feed then reads from there as from any cursor,
 * so a message appended meanwhile is not missed. It costs one `head()` of the store, nothing per connection.
 */
export async function latestStart(store: Store, topic: string): Promise<{ cursor: Cursor; reset: ResetFrame }> {
  const { epoch, first, last } = await store.head(topic)
  // Non-empty: first ≤ last, so this is last − 1. Empty (first = last + 1): last, where the next message follows.
  const seq = Math.max(first, last) - 1
  return { cursor: { topic, after: seq, epoch }, reset: { t: 'reset', topic, seq, epoch, reason: 'latest' } }
}

import type { RedisLink } from './redis-link.ts'
import { bodyArgs, bodyFrom } from './redis-scripts.ts'
import type { VolatileMessage, VolatileRelay } from './volatile-relay.ts'

const NEWLINE = 0x0a

/**
 * Volatile messages between the nodes of one Redis or one Redis Cluster, on their own channel (plain pub/sub on one
 * Redis, sharded on a Cluster: see `RedisLink`): never written to a stream, so nothing of them outlives the moment.
 * Pub/sub is at-most-once, which is exactly a volatile message's promise. One channel and one publishing connection
 * per node keep each client's messages in order across all its topics; on a Cluster that channel is one slot's, so
 * every volatile message goes through one shard (its primary publishes, its replicas relay nothing).
 *
 * Payload: the JSON text `[topic, field]` (`field` as in `BodyField`: `b` JSON text, `r` raw bytes), a newline, then
 * the body (JSON text never holds a raw newline, and the header is JSON, so the first newline ends it).
 */
export async function startRedisRelay(options: {
  /** The store's connections: the relay publishes and subscribes through them; the link is the store's to close. */
  link: RedisLink
  channel: string
  onError: (err: unknown) => void
}): Promise<VolatileRelay & { close(): Promise<void> }> {
  const { link, channel, onError } = options
  const listeners = new Set<(msg: VolatileMessage) => void>()
  await link.subscribe([channel], (payload) => {
    if (listeners.size === 0) return
    let msg: VolatileMessage
    try {
      const cut = payload.indexOf(NEWLINE)
      const [topic, field] = JSON.parse(payload.subarray(0, cut).toString('utf8')) as [string, string]
      msg = { topic, body: bodyFrom(field, payload.subarray(cut + 1)) }
    } catch (error) {
      onError(error)
      return
    }
    for (const listener of [...listeners]) listener(msg)
  })
  return {
    publish({ topic, body }) {
      const [field, value] = bodyArgs(body)
      const header = Buffer.from(`${JSON.stringify([topic, field])}\n`)
      const payload = Buffer.concat([header, typeof value === 'string' ? Buffer.from(value) : (value as Buffer)])
      // At-most-once by design: a message that cannot reach Redis now is gone, as it would be on a dropped socket.
      link.publish(channel, payload).catch(onError)
    },
    listen(listener) {
      const wrapped = (msg: VolatileMessage) => listener(msg)
      listeners.add(wrapped)
      return () => listeners.delete(wrapped)
    },
    async close() {
      listeners.clear()
    },
  }
}

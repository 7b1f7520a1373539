import {
  createClient,
  createCluster,
  RESP_TYPES,
  type RedisArgument,
  type RedisClientType,
  type RedisClusterType,
} from '@redis/client'

/**
 * The store's connections to one Redis or to a Redis Cluster, behind one shape: commands routed by a key, and the
 * notification channels (plain pub/sub on one Redis, sharded pub/sub on a Cluster).
 */
export interface RedisLink {
  readonly cluster: boolean
  /**
   * Sends a command; on a Cluster to the primary of `key`'s slot. With `buffers`, every string in the reply comes
   * back as the Buffer of its bytes, never decoded as UTF-8.
   */
  send<T>(key: string, args: readonly RedisArgument[], options?: { buffers?: boolean }): Promise<T>
  /**
   * Publishes on a channel (sharded on a Cluster, to the primary of the channel's slot): at most once, like every
   * pub/sub message.
   */
  publish(channel: string, payload: Buffer): Promise<void>
  /** Subscribes to the channels (sharded ones on a Cluster); payloads arrive as bytes. */
  subscribe(channels: readonly string[], listener: (payload: Buffer) => void): Promise<void>
  /** Subscribes to a plain channel, which on a Cluster every node hears (for rare, small messages). */
  subscribeEverywhere(channel: string, listener: (payload: string) => void): Promise<void>
  /**
   * `listener` is called whenever notifications may have been missed: after the notification connection (one of
   * them, on a Cluster) came back from an outage, and after a Cluster changed its shape (a failover).
   */
  onGap(listener: () => void): void
  close(): Promise<void>
}

export interface RedisLinkOptions {
  url: string
  cluster: boolean
  /** A connection was lost (told once per outage, per connection). */
  onError: (err: unknown) => void
}

/** At startup Redis is tried this many times, this far apart, before `createRedisStore` gives up. */
const STARTUP_TRIES = 10
const STARTUP_RETRY_MS = 500
/** Once Redis has been reached, a lost connection is retried forever, at most this far apart. */
const RECONNECT_MAX_MS = 5_000
/**
 * After a Cluster node comes back (or a replica takes over), the client moves its sharded subscriptions there a
 * moment later: the stream is read for missed appends once at once and once more after this delay.
 */
const RESUBSCRIBE_SETTLE_MS = 1_000

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err)
}

const asBytes = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }

/**
 * Reports a connection's errors once per outage instead of once per reconnect attempt (every few hundred ms), and
 * none before it was first ready: `connectRedis` fails then, with one message of its own.
 */
function reportOutages(client: RedisClientType, onError: (err: unknown) => void): void {
  let ready = false
  let down = false
  client.on('ready', () => {
    ready = true
    down = false
  })
  client.on('error', (err: unknown) => {
    if (!ready || down) return
    down = true
    onError(err)
  })
}

/** Connects to one Redis (`cluster: false`) or to the Cluster `url` is a node of, retrying for a few seconds. */
export async function connectRedis(options: RedisLinkOptions): Promise<RedisLink> {
  let reached = false
  let lastFailure: unknown
  const socket = {
    reconnectStrategy(retries: number, cause: Error): number | Error {
      // Jittered, so the nodes of a cluster do not all come back to a restarted Redis in the same millisecond.
      if (reached) return Math.min(100 * 2 ** retries, RECONNECT_MAX_MS) + Math.floor(Math.random() * 100)
      lastFailure = cause
      return retries + 1 < STARTUP_TRIES ? STARTUP_RETRY_MS : cause
    },
  }
  const failed = (error: unknown) => {
    const tried = (STARTUP_TRIES * STARTUP_RETRY_MS) / 1000
    const what = options.cluster ? 'the Redis Cluster' : 'Redis'
    return new Error(
      `cannot reach ${what} at ${options.url} (tried for ${tried} s): ${describeError(lastFailure ?? error)}`,
      { cause: error },
    )
  }
  if (!options.cluster) {
    const client: RedisClientType = createClient({ url: options.url, socket })
    reportOutages(client, options.onError)
    try {
      await client.connect()
    } catch (error) {
      throw failed(error)
    }
    reached = true
    return singleLink(client, options.onError)
  }
  const cluster: RedisClusterType = createCluster({ rootNodes: [{ url: options.url }], defaults: { socket } })
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.connect()
      break
    } catch (error) {
      lastFailure = error
      if (attempt >= STARTUP_TRIES) throw failed(error)
      await new Promise((resolve) => setTimeout(resolve, STARTUP_RETRY_MS))
    }
  }
  reached = true
  return clusterLink(cluster, options.onError)
}

/** One Redis: commands on one connection, notifications on a second (a RESP2 subscriber can do nothing else). */
async function singleLink(client: RedisClientType, onError: (err: unknown) => void): Promise<RedisLink> {
  const subscriber = client.duplicate()
  reportOutages(subscriber, onError)
  const gapListeners: (() => void)[] = []
  let readyBefore = false
  subscriber.on('ready', () => {
    if (readyBefore) for (const listener of gapListeners) listener()
    readyBefore = true
  })
  await subscriber.connect()
  return {
    cluster: false,
    send: <T>(_key: string, args: readonly RedisArgument[], options: { buffers?: boolean } = {}) =>
      client.sendCommand<T>([...args], options.buffers ? asBytes : undefined),
    async publish(channel, payload) {
      await client.publish(channel, payload)
    },
    async subscribe(channels, listener) {
      await subscriber.subscribe([...channels], listener, true)
    },
    async subscribeEverywhere(channel, listener) {
      await subscriber.subscribe(channel, listener)
    },
    onGap: (listener) => gapListeners.push(listener),
    async close() {
      await subscriber.close()
      await client.close()
    },
  }
}

/** A Cluster: the client keeps a connection per primary, and one per primary for its sharded subscriptions. */
function clusterLink(cluster: RedisClusterType, onError: (err: unknown) => void): RedisLink {
  const down = new Set<string>()
  const gapListeners: (() => void)[] = []
  const timers = new Set<NodeJS.Timeout>()
  cluster.on('node-error', (err: unknown, node: { host: string; port: number }) => {
    const address = `${node.host}:${node.port}`
    if (down.has(address)) return
    down.add(address)
    onError(err)
  })
  cluster.on('node-ready', (node: { host: string; port: number }) => {
    down.delete(`${node.host}:${node.port}`)
    const gap = () => {
      for (const listener of gapListeners) listener()
    }
    gap()
    const timer = setTimeout(() => {
      timers.delete(timer)
      gap()
    }, RESUBSCRIBE_SETTLE_MS)
    timers.add(timer)
  })
  return {
    cluster: true,
    send: <T>(key: string, args: readonly RedisArgument[], options: { buffers?: boolean } = {}) =>
      cluster.sendCommand<T>(key, false, [...args], options.buffers ? asBytes : undefined),
    async publish(channel, payload) {
      await cluster.sPublish(channel, payload)
    },
    async subscribe(channels, listener) {
      // One at a time per call: SSUBSCRIBE takes channels of one slot only.
      await Promise.all(channels.map((channel) => cluster.sSubscribe(channel, listener, true)))
    },
    async subscribeEverywhere(channel, listener) {
      await cluster.subscribe(channel, listener)
    },
    onGap: (listener) => gapListeners.push(listener),
    async close() {
      for (const timer of timers) clearTimeout(timer)
      await cluster.close()
    },
  }
}

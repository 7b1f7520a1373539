import { randomUUID } from 'node:crypto'
import type { Body, CallTag, Refusal } from '../protocol/frames.ts'
import { AppendListeners } from './append-listeners.ts'
import { startFanout } from './redis-fanout.ts'
import { clusterLayout, singleLayout } from './redis-layouts.ts'
import { connectRedis, describeError, type RedisLink } from './redis-link.ts'
import { CLAIM_SESSION, READ, TRIM, bodyFrom, evalScript } from './redis-scripts.ts'
import { startRedisRelay } from './redis-volatile.ts'
import type {
  PubInput,
  PubOutcome,
  ReadResult,
  RefuseOutcome,
  Retention,
  SessionClaims,
  Store,
  StoredMessage,
  TopicHead,
  VoidOutcome,
} from './store.ts'

// The Redis entry point (`tabwire/server/redis`) also carries presence for several nodes: one optional dependency.
export { createRedisPresence } from './presence-redis.ts'
export type { RedisPresenceOptions } from './presence-redis.ts'

export interface RedisStoreOptions {
  /** `redis://host:port` (optionally with a db number, `redis://host:port/2`). */
  url: string
  retention?: Retention
  /** Put before every key and the notification channel, so several apps can share one Redis. Default `tabwire:`. */
  prefix?: string
  /**
   * `url` is a node of a Redis Cluster: keys carry hash tags so every script stays in one slot, appends are announced
   * on sharded pub/sub, and the client follows failovers. Needs Redis 7 (sharded pub/sub). A store's data is laid out
   * differently on a Cluster than on one Redis: pick one for a store's lifetime.
   * @default false
   */
  cluster?: boolean
  /**
   * Hold each acknowledgement until this many replicas have the append (Redis `WAIT`, 2 s at most; an accept whose
   * replicas do not confirm fails, and the client resends it). Replication is asynchronous otherwise: a primary that
   * dies right after an append may take it along, ack and all, when its replica takes over.
   * @default 0
   */
  replicas?: number
  /**
   * A connection to Redis was lost (told once per outage, per connection; the client reconnects by itself), or a
   * notification could not be handled. Default: one line on stderr.
   */
  onError?: (err: unknown) => void
}

/**
 * What the READ script returns, every string as bytes: epoch, first, last, and XRANGE's entries
 * `[id, [field, body, 'a', at]]` (field `b`: JSON text, `r`: raw bytes; see `BodyField`).
 */
type ScriptRead = [Buffer, number, number, [Buffer, [Buffer, Buffer, Buffer, Buffer]][]]

/**
 * The store for several server nodes: each topic's log is a Redis Stream whose entry ids are the seqs (`<seq>-0`),
 * beside a hash with its epoch, first and last seq. On one Redis the dedup counters are one hash keyed by (user,
 * client), and appends and counter moves happen in one Lua script (see `ACCEPT`), atomic across every node; on a
 * Cluster (`cluster: true`) each script stays within one slot (see `clusterLayout`). Every append is announced on
 * a pub/sub channel, and each store instance turns those announcements into `onAppend` calls in seq order per topic,
 * filling any gap from the stream (see `startFanout`), so a message appended on one node reaches subscribers on all.
 *
 * Durability is Redis's: run it with `appendonly yes` (and `appendfsync always` for acks that survive power loss).
 * Retention is applied to a topic when something is appended to it.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.prefix ?? 'tabwire:'
  const onError =
    options.onError ?? ((err: unknown) => console.error(`tabwire redis store: ${describeError(err)} (reconnecting)`))
  const epochKey = `${prefix}epoch`
  // JSON keeps every (user, client) pair distinct, whatever characters the two strings hold.
  const counterField = (user: string, client: string) => JSON.stringify([user, client])

  const link = await connectRedis({ url: options.url, cluster: options.cluster ?? false, onError })
  /** The store's epoch, drawn by whichever node comes first (again, should the data be deleted under running nodes). */
  async function currentEpoch(): Promise<string> {
    await link.send(epochKey, ['SET', epochKey, randomUUID(), 'NX'])
    return (await link.send<string | null>(epochKey, ['GET', epochKey])) ?? randomUUID()
  }
  // What a topic nothing was appended to reports, and what its first append gives it (see READ and ACCEPT).
  const storeEpoch = await currentEpoch()
  const layoutOptions = {
    link,
    prefix,
    maxMessages: String(options.retention?.maxMessages ?? 0),
    maxAgeMs: String(options.retention?.maxAgeMs ?? 0),
    epochKey,
    currentEpoch,
    replicas: options.replicas ?? 0,
  }
  const layout = link.cluster ? clusterLayout(layoutOptions) : singleLayout(layoutOptions)
  const listeners = new AppendListeners()

  async function read(topic: string, after: number, limit: number): Promise<ReadResult> {
    // As bytes: a binary body decoded as UTF-8 text would lose every byte that is not valid UTF-8.
    const keys = layout.readKeys(topic)
    // On a Cluster the epoch key is not among the keys: '' comes back for a topic without one, and it is read apart.
    const fallback = link.cluster ? '' : storeEpoch
    const args = [fallback, String(after), String(Math.max(0, limit))]
    const [epochBytes, first, last, entries] = await evalScript<ScriptRead>(link, READ, keys, args, { buffers: true })
    const epoch =
      epochBytes.length > 0
        ? epochBytes.toString('utf8')
        : ((await link.send<string | null>(epochKey, ['GET', epochKey])) ?? storeEpoch)
    const msgs = entries.map(([id, fields]) => ({
      topic,
      seq: Number.parseInt(id.toString('latin1'), 10),
      epoch,
      body: bodyFrom(fields[0].toString('latin1'), fields[1]),
      at: Number(fields[3].toString('latin1')),
    }))
    return { epoch, first, last, msgs }
  }

  /** A listener that throws is the caller's bug: it must not stall delivery to the others, so it surfaces on its own. */
  function deliver(msg: StoredMessage): void {
    const failure = listeners.emit([msg])
    if (failure)
      queueMicrotask(() => {
        throw failure.error
      })
  }

  const fanout = await startFanout({ link, channels: layout.channels, read, deliver, onError })
  const sessionClaims = await claimsOver(link, prefix, counterField, onError)
  const relay = await startRedisRelay({ link, channel: layout.volatileChannel, onError })
  const voidIn = layout.void

  return {
    accept(user: string, clientId: string, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
      return pubs.length === 0 ? Promise.resolve([]) : layout.accept(counterField(user, clientId), pubs)
    },

    refuse(user: string, clientId: string, refusal: Refusal, topic?: string, call?: CallTag): Promise<RefuseOutcome> {
      return layout.refuse(counterField(user, clientId), refusal, topic, call)
    },

    // Absent on a Cluster (see `Store.void`): its server then offers no `welcome.early`.
    ...(voidIn && {
      void: (user: string, clientId: string, from: number, to: number): Promise<VoidOutcome> =>
        voidIn(counterField(user, clientId), from, to),
    }),

    refusals: (user: string, clientId: string): Promise<Refusal[]> => layout.refusals(counterField(user, clientId)),

    async append(topic: string, body: Body): Promise<StoredMessage> {
      const [outcome] = await layout.accept('', [{ id: 0, topic, body }])
      if (outcome?.kind !== 'published') throw new Error('tabwire redis store: a producer append was not published')
      return outcome.msg
    },

    acked: (user: string, clientId: string): Promise<number> => layout.acked(counterField(user, clientId)),

    read,

    async head(topic: string): Promise<TopicHead> {
      const { epoch, first, last } = await read(topic, 0, 0)
      return { epoch, first, last }
    },

    async trim(topic: string, before: number): Promise<TopicHead> {
      // The topic's meta hash and log: one slot on a Cluster.
      const keys = layout.readKeys(topic).slice(0, 2)
      const [first, last] = await evalScript<[number, number]>(link, TRIM, keys, [String(before)])
      const { epoch } = await read(topic, 0, 0)
      return { epoch, first, last }
    },

    onAppend(listener: (msg: StoredMessage) => void): () => void {
      return listeners.add(listener)
    },

    sessionClaims,
    relay,

    async close(): Promise<void> {
      listeners.clear()
      await relay.close()
      await fanout.close()
      await link.close()
    },
  }
}

/**
 * Session claims over Redis: a counter per (user, client) and one plain channel every node subscribes to. The
 * channel also carries `server.disconnect`: a claim is the array `[field, claim]`, a disconnect the object
 * `{ end: [user, code, reason], from }`. The node that announced a disconnect has already ended its own sessions, so it
 * skips its echo: a late echo (Cluster pub/sub lags under load) would otherwise end a session that opened after the
 * call, such as the user's reconnect with a fresh token after a 4401.
 */
async function claimsOver(
  link: RedisLink,
  prefix: string,
  fieldOf: (user: string, client: string) => string,
  onError: (err: unknown) => void,
): Promise<SessionClaims> {
  const channel = `${prefix}sessions`
  const listeners = new Set<(user: string, client: string, claim: number) => void>()
  const ends = new Set<(user: string, code: number, reason: string) => void>()
  const self = randomUUID()
  await link.subscribeEverywhere(channel, (payload) => {
    try {
      const message = JSON.parse(payload) as [string, number] | { end: [string, number, string]; from: string }
      if (!Array.isArray(message)) {
        if (message.from === self) return
        const [user, code, reason] = message.end
        for (const listener of ends) listener(user, code, reason)
        return
      }
      const [field, claim] = message
      const [user, client] = JSON.parse(field) as [string, string]
      for (const listener of listeners) listener(user, client, claim)
    } catch (error) {
      onError(error)
    }
  })
  return {
    claim(user, client) {
      const field = fieldOf(user, client)
      const key = `${prefix}session:${field}`
      return evalScript<number>(link, CLAIM_SESSION, [key], [channel, field])
    },
    onClaim(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async disconnect(user, code, reason) {
      // A plain PUBLISH: on a Cluster every node hears it, as it hears the claims.
      await link.send(channel, ['PUBLISH', channel, JSON.stringify({ end: [user, code, reason], from: self })])
    },
    onDisconnect(listener) {
      ends.add(listener)
      return () => ends.delete(listener)
    },
  }
}

import { randomUUID } from 'node:crypto'
import { createClient, type RedisClientType } from '@redis/client'
import type { Body, Refusal } from '../protocol/frames.ts'
import { startFanout } from './redis-fanout.ts'
import { startRedisRelay } from './redis-volatile.ts'
import { ACCEPT, READ, REFUSE, TRIM, bodyArgs, bodyFrom, evalScript } from './redis-scripts.ts'
import {
  KEPT_REFUSALS,
  ownBody,
  type RefuseOutcome,
  type PubInput,
  type PubOutcome,
  type ReadResult,
  type Retention,
  type Store,
  type StoredMessage,
  type TopicHead,
} from './store.ts'
import { AppendListeners } from './append-listeners.ts'

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
   * A connection to Redis was lost (told once per outage, per connection; the client reconnects by itself), or a
   * notification could not be handled. Default: one line on stderr.
   */
  onError?: (err: unknown) => void
}

/** At startup Redis is tried this many times, this far apart, before `createRedisStore` gives up. */
const STARTUP_TRIES = 10
const STARTUP_RETRY_MS = 500
/** Once Redis has been reached, a lost connection is retried forever, at most this far apart. */
const RECONNECT_MAX_MS = 5_000

function describeError(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err)
}

/**
 * Reports a connection's errors once per outage instead of once per reconnect attempt (every few hundred ms), and
 * none before it was first ready: `createRedisStore` fails then, with one message of its own.
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

/** What the ACCEPT script returns per message. */
type ScriptOutcome = ['published', number, string, number] | ['duplicate'] | ['out-of-order', number]

/**
 * What the READ script returns, every string as bytes: epoch, first, last, and XRANGE's entries
 * `[id, [field, body, 'a', at]]` (field `b`: JSON text, `r`: raw bytes; see `BodyField`).
 */
type ScriptRead = [Buffer, number, number, [Buffer, [Buffer, Buffer, Buffer, Buffer]][]]

/**
 * The store for several server nodes: each topic's log is a Redis Stream whose entry ids are the seqs (`<seq>-0`),
 * beside a hash with its epoch, first and last seq; the dedup counters are one hash keyed by (user, client). Appends
 * and counter moves happen in one Lua script (see `ACCEPT`), atomic across every node. Every append is announced on
 * a pub/sub channel, and each store instance turns those announcements into `onAppend` calls in seq order per topic,
 * filling any gap from the stream (see `startFanout`), so a message appended on one node reaches subscribers on all.
 *
 * Durability is Redis's: run it with `appendonly yes` (and `appendfsync always` for acks that survive power loss).
 * Retention is applied to a topic when something is appended to it.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.prefix ?? 'tabwire:'
  const maxMessages = String(options.retention?.maxMessages ?? 0)
  const maxAgeMs = String(options.retention?.maxAgeMs ?? 0)
  const onError =
    options.onError ?? ((err: unknown) => console.error(`tabwire redis store: ${describeError(err)} (reconnecting)`))
  const countersKey = `${prefix}clients`
  const epochKey = `${prefix}epoch`
  const channel = `${prefix}appends`
  const metaKey = (topic: string) => `${prefix}meta:${topic}`
  const logKey = (topic: string) => `${prefix}log:${topic}`
  // JSON keeps every (user, client) pair distinct, whatever characters the two strings hold.
  const counterField = (user: string, client: string) => JSON.stringify([user, client])
  const refusalsKey = (user: string, client: string) => `${prefix}refused:${counterField(user, client)}`

  let reached = false
  let lastFailure: unknown
  const client: RedisClientType = createClient({
    url: options.url,
    socket: {
      reconnectStrategy(retries, cause) {
        // Jittered, so the nodes of a cluster do not all come back to a restarted Redis in the same millisecond.
        if (reached) return Math.min(100 * 2 ** retries, RECONNECT_MAX_MS) + Math.floor(Math.random() * 100)
        lastFailure = cause
        return retries + 1 < STARTUP_TRIES ? STARTUP_RETRY_MS : cause
      },
    },
  })
  reportOutages(client, onError)
  try {
    await client.connect()
  } catch (error) {
    const tried = (STARTUP_TRIES * STARTUP_RETRY_MS) / 1000
    throw new Error(
      `cannot reach Redis at ${options.url} (tried for ${tried} s): ${describeError(lastFailure ?? error)}`,
      {
        cause: error,
      },
    )
  }
  reached = true
  // One epoch for the store, drawn by whichever node comes first: what a topic nothing was appended to reports, and
  // what its first append gives it (see READ and ACCEPT).
  await client.set(epochKey, randomUUID(), { condition: 'NX' })
  const storeEpoch = (await client.get(epochKey)) ?? randomUUID()
  const listeners = new AppendListeners()

  async function read(topic: string, after: number, limit: number): Promise<ReadResult> {
    // As bytes: a binary body decoded as UTF-8 text would lose every byte that is not valid UTF-8.
    const [epochBytes, first, last, entries] = await evalScript<ScriptRead>(
      client,
      READ,
      [metaKey(topic), logKey(topic), epochKey],
      [storeEpoch, String(after), String(Math.max(0, limit))],
      { buffers: true },
    )
    const epoch = epochBytes.toString('utf8')
    const msgs = entries.map(([id, fields]) => ({
      topic,
      seq: Number.parseInt(id.toString('latin1'), 10),
      epoch,
      body: bodyFrom(fields[0].toString('latin1'), fields[1]),
      at: Number(fields[3].toString('latin1')),
    }))
    return { epoch, first, last, msgs }
  }

  /** Runs ACCEPT for messages with their pub ids (`field` '' for a producer's messages: no dedup, ids unused). */
  async function run(field: string, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
    const topics = [...new Set(pubs.map((p) => p.topic))]
    const index = new Map(topics.map((topic, i) => [topic, i + 1]))
    const keys = [countersKey, epochKey, ...topics.flatMap((topic) => [metaKey(topic), logKey(topic)])]
    const args = [
      field,
      maxMessages,
      maxAgeMs,
      channel,
      randomUUID(),
      ...topics,
      ...pubs.flatMap((p) => [String(index.get(p.topic)), String(p.id), ...bodyArgs(p.body)]),
    ]
    const outcomes = await evalScript<ScriptOutcome[]>(client, ACCEPT, keys, args)
    // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch is exhaustive over ScriptOutcome (tsc checks it)
    return outcomes.map((outcome, i): PubOutcome => {
      const pub = pubs[i]
      if (!pub) throw new Error('tabwire redis store: more outcomes than pubs')
      switch (outcome[0]) {
        case 'published': {
          const [, seq, epoch, at] = outcome
          return { kind: 'published', msg: { topic: pub.topic, seq, epoch, body: ownBody(pub.body), at } }
        }
        case 'duplicate':
          return { kind: 'duplicate' }
        case 'out-of-order':
          return { kind: 'out-of-order', expected: outcome[1] }
      }
    })
  }

  /** A listener that throws is the caller's bug: it must not stall delivery to the others, so it surfaces on its own. */
  function deliver(msg: StoredMessage): void {
    const failure = listeners.emit([msg])
    if (failure)
      queueMicrotask(() => {
        throw failure.error
      })
  }

  const subscriber = client.duplicate()
  reportOutages(subscriber, onError)
  const fanout = await startFanout({ subscriber, channel, read, deliver, onError })
  const relaySubscriber = client.duplicate()
  reportOutages(relaySubscriber, onError)
  const relay = await startRedisRelay({
    publisher: client,
    subscriber: relaySubscriber,
    channel: `${prefix}volatile`,
    onError,
  })

  return {
    accept(user: string, clientId: string, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
      return pubs.length === 0 ? Promise.resolve([]) : run(counterField(user, clientId), pubs)
    },

    async refuse(user: string, clientId: string, refusal: Refusal): Promise<RefuseOutcome> {
      const { id, code, message } = refusal
      const outcome = await evalScript<['refused'] | ['duplicate'] | ['out-of-order', number]>(
        client,
        REFUSE,
        [countersKey, refusalsKey(user, clientId)],
        [counterField(user, clientId), String(id), JSON.stringify({ id, code, message }), String(KEPT_REFUSALS)],
      )
      return outcome[0] === 'out-of-order' ? { kind: 'out-of-order', expected: outcome[1] } : { kind: outcome[0] }
    },

    async refusals(user: string, clientId: string): Promise<Refusal[]> {
      const kept = await client.lRange(refusalsKey(user, clientId), 0, -1)
      return kept.map((text) => JSON.parse(text) as Refusal)
    },

    async append(topic: string, body: Body): Promise<StoredMessage> {
      const [outcome] = await run('', [{ id: 0, topic, body }])
      if (outcome?.kind !== 'published') throw new Error('tabwire redis store: a producer append was not published')
      return outcome.msg
    },

    async acked(user: string, clientId: string): Promise<number> {
      const value = await client.hGet(countersKey, counterField(user, clientId))
      return value === null ? 0 : Number(value)
    },

    read,

    async head(topic: string): Promise<TopicHead> {
      const { epoch, first, last } = await read(topic, 0, 0)
      return { epoch, first, last }
    },

    async trim(topic: string, before: number): Promise<TopicHead> {
      const [first, last] = await evalScript<[number, number]>(
        client,
        TRIM,
        [metaKey(topic), logKey(topic)],
        [String(before)],
      )
      const { epoch } = await read(topic, 0, 0)
      return { epoch, first, last }
    },

    onAppend(listener: (msg: StoredMessage) => void): () => void {
      return listeners.add(listener)
    },

    relay,

    async close(): Promise<void> {
      listeners.clear()
      await relay.close()
      await fanout.close()
      await client.close()
    },
  }
}

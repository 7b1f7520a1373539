import { createHash, randomUUID } from 'node:crypto'
import type { Json } from '../protocol/frames.ts'
import type { PresenceKey } from '../protocol/presence-frames.ts'
import type { HeldMember, PresenceChange, PresenceRegistry } from './presence.ts'
import { memberId } from './presence.ts'
import { connectRedis, describeError } from './redis-link.ts'
import { evalScript, type LuaScript } from './redis-scripts.ts'

export interface RedisPresenceOptions {
  /** `redis://host:port`; the same Redis as the store, or another. */
  url: string
  /**
   * `url` is a node of a Redis Cluster: each script touches one key (a topic's members), node keys are read one by
   * one, and changes are announced with plain PUBLISH, which every node of the Cluster relays.
   * @default false
   */
  cluster?: boolean
  /** Put before every key and the channel. Default `tabwire:`. */
  prefix?: string
  /**
   * A node that has not said it is alive for this long, ms, is dead: its members are removed by the other nodes
   * (each checks the topics its connections watch every `nodeTtl / 3`). Keep it above a GC pause or a Redis failover.
   * Default 15000.
   */
  nodeTtl?: number
  /** A connection to Redis failed (it reconnects by itself). Default: one line on stderr. */
  onError?: (err: unknown) => void
}

/** How long a set waits to hear its own change on the channel before going on without it. */
const HEAR_BACK_MS = 5_000

const lua = (source: string): LuaScript => ({ lua: source, sha: createHash('sha1').update(source).digest('hex') })

/**
 * A member is one hash field: `<since>|<node>|<owner>|<JSON {user, client, state}>`. Set keeps the `since` of a
 * member already there; both scripts publish the change in the same step, so every node hears changes in the order
 * Redis applied them. Node and owner are UUIDs (no `|`).
 */
const SET = lua(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
local since = ARGV[2]
if old then since = string.match(old, '^(%d+)|') end
local value = since .. '|' .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('PUBLISH', ARGV[4], ARGV[5] .. '\\n' .. value)
return 1
`)

/** Removes the field if `ARGV[2]` is empty or is its owner. */
const REMOVE = lua(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
if ARGV[2] ~= '' then
  local owner = string.match(old, '^%d+|[^|]*|([^|]*)|')
  if owner ~= ARGV[2] then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. '\\n' .. ARGV[5])
return 1
`)

interface Entry {
  member: HeldMember
  node: string
}

function parseEntry(value: string): Entry {
  const a = value.indexOf('|')
  const b = value.indexOf('|', a + 1)
  const c = value.indexOf('|', b + 1)
  const { user, client, state } = JSON.parse(value.slice(c + 1)) as { user: string; client: string; state: Json }
  return {
    node: value.slice(a + 1, b),
    member: { user, client, state, since: Number(value.slice(0, a)), owner: value.slice(b + 1, c) },
  }
}

/**
 * Presence shared by every node on one Redis: each topic's members in a hash, every change announced on a channel.
 * Each node marks itself alive with a key that expires after `nodeTtl` unless refreshed; the members of a node whose
 * key is gone (it crashed, or lost Redis for that long) are left out of every list, and removed (with a leave every
 * watcher sees) by the next check of any node watching their topic. A member whose connection moves to another node
 * within the grace period is taken over there: its owner changes, so the old node's delayed leave removes nothing.
 */
export async function createRedisPresence(options: RedisPresenceOptions): Promise<PresenceRegistry> {
  const prefix = options.prefix ?? 'tabwire:'
  const ttl = options.nodeTtl ?? 15_000
  if (!(Number.isSafeInteger(ttl) && ttl >= 30)) throw new RangeError(`nodeTtl must be an integer ≥ 30, got ${ttl}`)
  const onError = options.onError ?? ((err: unknown) => console.error(`tabwire redis presence: ${describeError(err)}`))
  const node = randomUUID()
  const channel = `${prefix}presence`
  const hashKey = (topic: string) => `${prefix}presence:${topic}`
  const nodeKey = (id: string) => `${prefix}presence-node:${id}`
  const listeners = new Set<(change: PresenceChange) => void>()
  /** Topics this node's connections watch (asked for with `members`): the ones its checks sweep. */
  const watched = new Set<string>()
  /** This node's sets not yet heard back on the channel, by nonce. */
  const heard = new Map<string, () => void>()

  const link = await connectRedis({ url: options.url, cluster: options.cluster ?? false, onError })
  await link.subscribeEverywhere(channel, (payload) => {
    const cut = payload.indexOf('\n')
    const [kind, topic, nonce] = JSON.parse(payload.slice(0, cut)) as ['set' | 'remove', string, string?]
    const rest = payload.slice(cut + 1)
    const change: PresenceChange =
      kind === 'set'
        ? { kind, topic, member: parseEntry(rest).member }
        : { kind, topic, key: JSON.parse(rest) as PresenceKey }
    for (const l of listeners) l(change)
    if (nonce !== undefined) heard.get(nonce)?.()
  })

  const alive = () => link.send(nodeKey(node), ['SET', nodeKey(node), '1', 'PX', String(ttl)])
  await alive()

  async function entries(topic: string): Promise<Entry[]> {
    const key = hashKey(topic)
    const all = (await link.send<string[]>(key, ['HVALS', key])).map(parseEntry)
    const nodes = [...new Set(all.map((e) => e.node))]
    if (nodes.length === 0) return []
    // One GET per node (node keys sit in different slots of a Cluster, where MGET would be refused).
    const live = await Promise.all(nodes.map((id) => link.send<string | null>(nodeKey(id), ['GET', nodeKey(id)])))
    const dead = new Set(nodes.filter((_, i) => live[i] === null))
    return all.map((e) => (dead.has(e.node) ? { ...e, node: '' } : e))
  }

  async function remove(topic: string, key: PresenceKey, owner?: string): Promise<void> {
    const header = JSON.stringify(['remove', topic])
    const keyJson = JSON.stringify({ user: key.user, client: key.client })
    await evalScript(link, REMOVE, [hashKey(topic)], [memberId(key), owner ?? '', channel, header, keyJson])
  }

  /** Removes the members of dead nodes from the topics this node watches. */
  async function sweep(): Promise<void> {
    for (const topic of watched) {
      for (const e of await entries(topic)) if (e.node === '') await remove(topic, e.member, e.member.owner)
    }
  }

  let ticking = false
  const tick = setInterval(
    () => {
      if (ticking) return
      ticking = true
      alive()
        .then(sweep)
        .catch(onError)
        .finally(() => (ticking = false))
    },
    Math.floor(ttl / 3),
  )

  return {
    async set(topic, member) {
      const { user, client: c, state, since, owner } = member
      const value = `${node}|${owner}|${JSON.stringify({ user, client: c, state })}`
      // Resolved once this node heard its own change back: its hub then lists the member as set (read your writes),
      // and every change published before it has been heard too. A subscriber that is down does not hold it long.
      const nonce = randomUUID()
      const back = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, HEAR_BACK_MS)
        heard.set(nonce, () => {
          clearTimeout(timer)
          resolve()
        })
      })
      const header = JSON.stringify(['set', topic, nonce])
      try {
        await evalScript(link, SET, [hashKey(topic)], [memberId(member), String(since), value, channel, header])
        await back
      } finally {
        heard.delete(nonce)
      }
    },
    remove,
    async members(topic) {
      // In the order they joined, as the memory registry lists them.
      const live = (await entries(topic)).filter((e) => e.node !== '').map((e) => e.member)
      return live.sort((x, y) => x.since - y.since)
    },
    watch(topic) {
      watched.add(topic)
    },
    forget(topic) {
      watched.delete(topic)
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      clearInterval(tick)
      listeners.clear()
      await link.close()
    },
  }
}

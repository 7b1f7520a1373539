/**
 * The Redis store on a real Redis Cluster (three primaries, one replica each), beyond the store contract suite that
 * runs on it too: the crash window between an append and the watermark's move, batches within and across slots,
 * and a primary killed in the middle of a stream. One cluster for the file; the failover test goes last (it leaves a
 * primary dead).
 */
import { createCluster } from '@redis/client'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import { bucketOf } from '../../src/server/redis-layouts.ts'
import type { PresenceListFrame } from '../../src/protocol/presence-frames.ts'
import { createRedisPresence, createRedisStore, type RedisStoreOptions } from '../../src/server/redis-store.ts'
import type { PubInput, Store, StoredMessage } from '../../src/server/store.ts'
import { startRedisCluster } from '../support/redis-cluster.ts'
import { TestClient } from '../support/ws-client.ts'

const cluster = await startRedisCluster()
const opened: Store[] = []
let serial = 0

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close().catch(() => undefined)))
  await cluster.stop()
})

async function open(prefix: string, options: Partial<RedisStoreOptions> = {}): Promise<Store> {
  const store = await createRedisStore({ url: cluster.url, cluster: true, prefix, onError: () => {}, ...options })
  opened.push(store)
  return store
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const pub = (id: number, topic: string): PubInput => ({ id, topic, body: { id } })
const ids = (msgs: readonly StoredMessage[]) => msgs.map((m) => (m.body as { id: number }).id)

const adminClient = () => createCluster({ rootNodes: [{ url: cluster.url }] })

/** Raw commands to the cluster, routed by key. */
async function withAdmin<T>(use: (admin: ReturnType<typeof adminClient>) => Promise<T>): Promise<T> {
  const admin = adminClient()
  await admin.connect()
  try {
    return await use(admin)
  } finally {
    await admin.close()
  }
}

/** Two topic names in one bucket (so one slot), and one in another. */
function topicsByBucket(): { same: [string, string]; other: string } {
  const first = 'room:0'
  const bucket = bucketOf(first)
  let n = 1
  while (bucketOf(`room:${n}`) !== bucket) n++
  let m = 1
  while (bucketOf(`room:${m}`) === bucket) m++
  return { same: [first, `room:${n}`], other: `room:${m}` }
}

describe('redis store on a Cluster', () => {
  it('keeps a topic within one slot and spreads topics over the primaries', async () => {
    const prefix = `s${++serial}:`
    const store = await open(prefix)
    const topics = range(1, 30).map((n) => `spread:${n}`)
    for (const topic of topics) await store.append(topic, { topic })
    const owners = await withAdmin(async (admin) => {
      // CLUSTER SLOTS: [from, to, [host, port, id], ...replicas] per range served.
      const ranges = (await admin.sendCommand(undefined, true, ['CLUSTER', 'SLOTS'])) as [
        number,
        number,
        [string, number],
      ][]
      const primaryOfSlot = (slot: number) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1]
      const primaries = new Set<number | undefined>()
      for (const topic of topics) {
        const keys = ['meta', 'log'].map((kind) => `${prefix}{b${bucketOf(topic)}}:${kind}:${topic}`)
        const slots = await Promise.all(
          keys.map((key) => admin.sendCommand<number>(key, true, ['CLUSTER', 'KEYSLOT', key])),
        )
        expect(new Set(slots).size).toBe(1)
        expect(await admin.sendCommand(keys[1], true, ['XLEN', keys[1] as string])).toBe(1)
        primaries.add(primaryOfSlot(slots[0] ?? -1))
      }
      return primaries
    })
    expect(owners.size).toBe(3)
  })

  it('appends a batch within one slot and across slots, and stops at the first out-of-order id', async () => {
    const store = await open(`s${++serial}:`)
    const { same, other } = topicsByBucket()
    const out = await store.accept('u', 'c', [pub(1, same[0]), pub(2, same[1]), pub(3, other), pub(4, same[0])])
    expect(out.map((o) => (o.kind === 'published' ? [o.msg.topic, o.msg.seq] : o.kind))).toEqual([
      [same[0], 1],
      [same[1], 1],
      [other, 1],
      [same[0], 2],
    ])
    const again = await store.accept('u', 'c', [pub(3, other), pub(5, other), pub(7, other), pub(6, other)])
    expect(again.map((o) => (o.kind === 'out-of-order' ? [o.kind, o.expected] : o.kind))).toEqual([
      'duplicate',
      'published',
      ['out-of-order', 6],
    ])
    expect(await store.acked('u', 'c')).toBe(5)
    expect(ids((await store.read(other, 0, 10)).msgs)).toEqual([3, 5])
  })

  it('a crash between an append and the watermark move is caught on the resend by the per-topic check', async () => {
    const prefix = `s${++serial}:`
    const store = await open(prefix)
    const { same, other } = topicsByBucket()
    await store.accept('u', 'c', [pub(1, same[0]), pub(2, other), pub(3, same[1])])
    expect(await store.acked('u', 'c')).toBe(3)
    // The node died after the appends, before it raised the watermark: the client reconnects, is told 0, resends.
    const watermark = `${prefix}{${JSON.stringify(['u', 'c'])}}:acked`
    await withAdmin((admin) => admin.del(watermark))
    expect(await store.acked('u', 'c')).toBe(0)
    const resent = await store.accept('u', 'c', [pub(1, same[0]), pub(2, other), pub(3, same[1]), pub(4, other)])
    expect(resent.map((o) => (o.kind === 'published' ? [o.msg.topic, o.msg.seq] : o.kind))).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      [other, 2],
    ])
    expect(await store.acked('u', 'c')).toBe(4)
    for (const [topic, expected] of [
      [same[0], [1]],
      [other, [2, 4]],
      [same[1], [3]],
    ] as const)
      expect(ids((await store.read(topic, 0, 10)).msgs)).toEqual(expected)
  })

  it('a refusal whose node died between its fence and its record is completed by the resend, refused or accepted', async () => {
    const prefix = `s${++serial}:`
    const store = await open(prefix)
    const refusal = { id: 2, code: 'forbidden', message: 'no' }
    // What the dead node left: the topic closed to id 2 with the refusal beside it; watermark and list untouched.
    const fence = (client: string) =>
      withAdmin((admin) =>
        admin.hSet(`${prefix}{b${bucketOf('t')}}:dedup:t`, {
          [JSON.stringify(['u', client])]: '2',
          [`refused:${JSON.stringify(['u', client])}`]: JSON.stringify(refusal),
        }),
      )
    for (const client of ['again', 'changed']) {
      await store.accept('u', client, [pub(1, 't')])
      await fence(client)
      expect(await store.acked('u', client)).toBe(1)
    }
    // Refused again on the resend: the fence is found, the refusal recorded once.
    expect(await store.refuse('u', 'again', refusal, 't')).toEqual({ kind: 'refused' })
    expect(await store.refusals('u', 'again')).toEqual([refusal])
    // Accepted on the resend (the verdict changed meanwhile): not appended, the refusal recorded before id 3 goes on.
    const outcomes = await store.accept('u', 'changed', [pub(2, 't'), pub(3, 't')])
    expect(outcomes.map((o) => (o.kind === 'published' ? (o.msg.body as { id: number }).id : o.kind))).toEqual([
      'duplicate',
      3,
    ])
    expect(await store.refusals('u', 'changed')).toEqual([refusal])
    expect(await store.acked('u', 'changed')).toBe(3)
    expect(ids((await store.read('t', 0, 10)).msgs)).toEqual([1, 1, 3])
  })

  it('closes the older socket of a client on another node with 4409', async () => {
    const prefix = `s${++serial}:`
    const nodes = await Promise.all([1, 2].map(async () => createServer({ port: 0, store: await open(prefix) })))
    const [a, b] = nodes.map((node) => `ws://127.0.0.1:${node.port}`) as [string, string]
    const older = await TestClient.hello(a, 'c1')
    const newer = await TestClient.hello(b, 'c1')
    try {
      expect(await older.closed).toEqual({ code: 4409, reason: 'superseded by a newer connection' })
      newer.send({ t: 'ping', n: 1 })
      await newer.waitFor((f) => f.some((x) => x.t === 'pong'))
      expect(nodes.map((node) => node.connections())).toEqual([0, 1])
    } finally {
      await Promise.all([older.close(), newer.close()])
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })

  it('relays volatile messages between two nodes on the sharded channel, in send order, bytes as bytes', async () => {
    const prefix = `s${++serial}:`
    const nodes = await Promise.all([1, 2].map(async () => createServer({ port: 0, store: await open(prefix) })))
    const [a, b] = nodes.map((node) => `ws://127.0.0.1:${node.port}`) as [string, string]
    const channel = `${prefix}{volatile}:relay`
    // Both stores listen on the one sharded channel (and nothing on the plain one of one Redis).
    const [sharded, plain] = await withAdmin(async (admin) => [
      (await admin.sendCommand(channel, true, ['PUBSUB', 'SHARDNUMSUB', channel])) as [string, number],
      (await admin.sendCommand(undefined, true, ['PUBSUB', 'NUMSUB', `${prefix}volatile`])) as [string, number],
    ])
    expect([sharded[1], plain[1]]).toEqual([2, 0])
    const onB = await TestClient.hello(b, 'watcher', { subs: [{ topic: 'cursor', after: 0 }] })
    const sender = await TestClient.hello(a, 'sender')
    try {
      for (let i = 1; i <= 30; i++) sender.send({ t: 'vpub', topic: i % 2 ? 'cursor' : 'other', body: { i } })
      sender.sendBinary({ t: 'vpub', topic: 'cursor', body: new Uint8Array([0, 10, 255]) })
      const vmsgs = () => onB.frames.filter((f) => f.t === 'vmsg')
      await onB.waitFor(() => vmsgs().length === 16)
      expect(vmsgs()).toEqual([
        ...range(1, 15).map((n) => ({ t: 'vmsg', topic: 'cursor', body: { i: 2 * n - 1 } })),
        { t: 'vmsg', topic: 'cursor', body: new Uint8Array([0, 10, 255]) },
      ])
      expect((await nodes[1]?.store.head('cursor'))?.last).toBe(0)
    } finally {
      await Promise.all([onB.close(), sender.close()])
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })

  it('shares presence between two nodes: a join and a leave on one are seen on the other', async () => {
    const prefix = `s${++serial}:`
    const nodes = await Promise.all(
      [1, 2].map(async () => {
        const presenceRegistry = await createRedisPresence({ url: cluster.url, cluster: true, prefix, nodeTtl: 600 })
        return createServer({ port: 0, store: await open(prefix), presenceRegistry })
      }),
    )
    const [a, b] = nodes.map((node) => `ws://127.0.0.1:${node.port}`) as [string, string]
    const alice = await TestClient.hello(a, 'ca')
    const bob = await TestClient.hello(b, 'cb')
    const presence = (c: TestClient) => c.frames.filter((f) => f.t === 'presence' || f.t === 'pdiff')
    try {
      alice.send({ t: 'pjoin', topic: 'room', state: 'a' })
      await alice.waitFor(() => presence(alice).length === 1)
      bob.send({ t: 'pjoin', topic: 'room', state: 'b' })
      await bob.waitFor(() => presence(bob).length === 1)
      expect((presence(bob)[0] as PresenceListFrame).members.map((m) => [m.client, m.state])).toEqual([
        ['ca', 'a'],
        ['cb', 'b'],
      ])
      await alice.waitFor(() => presence(alice).length === 2)
      expect(presence(alice)[1]).toMatchObject({ t: 'pdiff', joined: [{ client: 'cb', state: 'b' }], left: [] })
      bob.send({ t: 'pleave', topic: 'room' })
      await alice.waitFor(() => presence(alice).length === 3)
      expect(presence(alice)[2]).toEqual({
        t: 'pdiff',
        topic: 'room',
        joined: [],
        left: [{ user: 'anonymous', client: 'cb' }],
        updated: [],
      })
      expect((await nodes[0]?.presence('room'))?.map((m) => m.client)).toEqual(['ca'])
    } finally {
      await Promise.all([alice.close(), bob.close()])
      await Promise.all(nodes.map((node) => node.close()))
    }
  })

  it('refuses a pub for good on the Cluster, and the next one is appended and delivered in order', async () => {
    const prefix = `s${++serial}:`
    const authorize = (_user: string, topic: string) => !topic.startsWith('secret')
    const nodes = await Promise.all(
      [1, 2].map(async () => createServer({ port: 0, store: await open(prefix), authorize })),
    )
    const [a, b] = nodes.map((node) => `ws://127.0.0.1:${node.port}`) as [string, string]
    const watcher = await TestClient.hello(b, 'w', { subs: [{ topic: 'room', after: 0 }] })
    const alice = await TestClient.hello(a, 'ca')
    const wire = (id: number, topic: string) => ({ t: 'pub' as const, id, topic, body: { id } })
    try {
      alice.send(wire(1, 'room'), wire(2, 'secret:plans'), wire(3, 'room'))
      await alice.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
      const nack = { t: 'nack', id: 2, code: 'forbidden', message: 'not allowed to publish to secret:plans' }
      expect(alice.frames.slice(1)).toEqual([{ t: 'ack', id: 1 }, nack, { t: 'ack', id: 3 }])
      const msgs = () => watcher.frames.filter((f) => f.t === 'msg')
      await watcher.waitFor(() => msgs().length === 2)
      expect(msgs().map((m) => (m.t === 'msg' ? [m.seq, m.body] : []))).toEqual([
        [1, { id: 1 }],
        [2, { id: 3 }],
      ])
      const field = JSON.stringify(['anonymous', 'ca'])
      // The refusal went through the topic's slot (its fence) and the client's (watermark and list).
      const fence = await withAdmin((admin) =>
        admin.hGet(`${prefix}{b${bucketOf('secret:plans')}}:dedup:secret:plans`, `refused:${field}`),
      )
      expect(JSON.parse(fence ?? 'null')).toEqual({ id: 2, code: 'forbidden', message: nack.message })
      expect(await nodes[0]?.store.acked('anonymous', 'ca')).toBe(3)
      expect((await nodes[0]?.store.head('secret:plans'))?.last).toBe(0)
      // A reconnect on the other node learns of the refusal; the resend of 2 is answered with the same nack.
      await alice.close()
      const again = await TestClient.hello(b, 'ca')
      expect(again.frames[0]).toMatchObject({ t: 'welcome', acked: 3, refused: [{ id: 2, code: 'forbidden' }] })
      await again.close()
    } finally {
      await Promise.all([watcher.close(), alice.close()])
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })

  it('loses and doubles no acked message when the primary of the topic is killed mid-stream', {
    timeout: 60_000,
  }, async () => {
    const prefix = `s${++serial}:`
    const writer = await open(prefix, { replicas: 1 })
    const reader = await open(prefix)
    const seen: StoredMessage[] = []
    reader.onAppend((msg) => seen.push(msg))
    const topic = 'feed'
    const metaKey = `${prefix}{b${bucketOf(topic)}}:meta:${topic}`
    const victim = await cluster.primaryOf(metaKey)
    /** Once its replica has taken over, the dead primary comes back (as a replica): WAIT has a replica again. */
    async function failOverAndReturn(): Promise<void> {
      victim.kill()
      while ((await cluster.primaryOf(metaKey).catch(() => victim)) === victim) await sleep(100)
      await victim.restart()
    }
    let returned: Promise<void> | undefined
    const TOTAL = 200
    let acked = 0
    let failures = 0
    while (acked < TOTAL) {
      if (acked >= 60) returned ??= failOverAndReturn()
      const batch = range(acked + 1, Math.min(acked + 4, TOTAL)).map((id) => pub(id, topic))
      try {
        const out = await writer.accept('u', 'c', batch)
        expect(out.every((o) => o.kind === 'published' || o.kind === 'duplicate')).toBe(true)
        acked = batch.at(-1)?.id ?? acked
      } catch {
        // As a client after a failed connection: reconnect, learn the watermark, resend from there.
        failures++
        acked = await writer.acked('u', 'c').catch(() => acked)
      }
    }
    await returned
    expect((await cluster.primaryOf(metaKey)).port).not.toBe(victim.port)
    // The kill was felt: accepts failed (the primary was gone, or the new one had no replica yet) and were resent.
    expect(failures).toBeGreaterThan(0)
    const log = await writer.read(topic, 0, 1_000)
    expect(log.msgs.map((m) => m.seq)).toEqual(range(1, TOTAL))
    expect(ids(log.msgs)).toEqual(range(1, TOTAL))
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(TOTAL), { timeout: 20_000 })
    expect(seen.map((m) => m.seq)).toEqual(range(1, TOTAL))
    expect(ids(seen)).toEqual(range(1, TOTAL))
  })
})

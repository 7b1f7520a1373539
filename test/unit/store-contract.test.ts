import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, createCluster } from '@redis/client'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import Database from 'better-sqlite3'
import type { Body, Json } from '../../src/protocol/frames.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import type { PubInput, Retention, Store, StoredMessage } from '../../src/server/store.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts'
import {
  hammer,
  hammerInProcesses,
  openStore,
  pubFor,
  type HammerOptions,
  type HammerReport,
  type StoreSpec,
} from '../support/store-hammer.ts'

const dir = mkdtempSync(join(tmpdir(), 'tabwire-store-contract-'))
let redisStarting: Promise<RedisServer> | undefined
/** Started by the first Redis test, so a missing redis-server fails those tests (with how to install it), no others. */
const redis = () => (redisStarting ??= startRedis())
let clusterStarting: Promise<RedisCluster> | undefined
/** Three primaries with a replica each, started by the first Cluster test and shared by all of them. */
const redisCluster = () => (clusterStarting ??= startRedisCluster())
let opened: Store[] = []
let serial = 0

afterEach(async () => {
  await Promise.all(opened.map((store) => store.close()))
  opened = []
})

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await redisStarting?.then(
    (server) => server.stop(),
    () => undefined,
  )
  await clusterStarting?.then(
    (cluster) => cluster.stop(),
    () => undefined,
  )
})

function track(store: Store): Store {
  opened.push(store)
  return store
}

interface Subject {
  name: string
  /** A new, empty store of this kind. */
  open(retention?: Retention): Promise<Store>
  /** Runs `hammer` as two servers on `store` (opened by `open`) would. */
  race(store: Store, options: Omit<HammerOptions, 'worker'>): Promise<HammerReport[]>
}

/** A store that outlives its process. */
interface DurableSubject extends Subject {
  /** A new instance on the data of `store` (already closed), as a restarted server gets; Redis restarts first. */
  reopen(store: Store): Promise<Store>
  /** What the store's data weighs where it lives: rows per table and bytes on disk, or Redis keys and their values. */
  footprint(store: Store): Promise<unknown>
}

/** Where each sqlite or Redis store under test keeps its data, so other processes and reopens can find it. */
const specs = new WeakMap<Store, StoreSpec>()

function specOf(store: Store): StoreSpec {
  const spec = specs.get(store)
  if (!spec) throw new Error('not a store this suite opened')
  return spec
}

async function openSpec(spec: StoreSpec): Promise<Store> {
  const store = track(await openStore(spec))
  specs.set(store, spec)
  return store
}

const memory: Subject = {
  name: 'memory',
  open: async (retention) => track(createMemoryStore(retention ? { retention } : {})),
  // One process: two concurrent hammers on one instance, interleaving at every await.
  race: (store, options) =>
    Promise.all([hammer(store, { ...options, worker: 'a' }), hammer(store, { ...options, worker: 'b' })]),
}

const sqlite: DurableSubject = {
  name: 'sqlite',
  open: (retention) => openSpec({ kind: 'sqlite', path: join(dir, `store-${++serial}.db`), retention }),
  race: (store, options) => hammerInProcesses(specOf(store), options, 2),
  reopen: (store) => openSpec(specOf(store)),
  async footprint(store) {
    const { path } = specOf(store) as { path: string }
    const db = new Database(path, { readonly: true })
    try {
      const rows = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get()
      const bytes = (file: string) => (existsSync(file) ? statSync(file).size : 0)
      return { topics: rows('topics'), messages: rows('messages'), bytes: bytes(path) + bytes(`${path}-wal`) }
    } finally {
      db.close()
    }
  },
}

const redisSubject: DurableSubject = {
  name: 'redis',
  open: async (retention) => openSpec({ kind: 'redis', url: (await redis()).url, prefix: `t${++serial}:`, retention }),
  race: (store, options) => hammerInProcesses(specOf(store), options, 2),
  async reopen(store) {
    await (await redis()).restart()
    return openSpec(specOf(store))
  },
  async footprint(store) {
    const { prefix } = specOf(store) as { prefix: string }
    const admin = createClient({ url: (await redis()).url })
    await admin.connect()
    try {
      const keys = (await admin.keys(`${prefix}*`)).sort()
      // A digest of each key's serialised value: a readable diff when something changed.
      const digest = async (key: string) =>
        createHash('sha1')
          .update(String(await admin.dump(key)))
          .digest('hex')
      return Object.fromEntries(await Promise.all(keys.map(async (key) => [key, await digest(key)])))
    } finally {
      await admin.close()
    }
  },
}

const redisClusterSubject: DurableSubject = {
  name: 'redis cluster',
  open: async (retention) =>
    openSpec({ kind: 'redis', cluster: true, url: (await redisCluster()).url, prefix: `t${++serial}:`, retention }),
  race: (store, options) => hammerInProcesses(specOf(store), options, 2),
  // A Cluster is not restarted whole (its replicas are what keep it up): a new store instance on the same data.
  reopen: (store) => openSpec(specOf(store)),
  async footprint(store) {
    const { prefix } = specOf(store) as { prefix: string }
    const admin = createCluster({ rootNodes: [{ url: (await redisCluster()).url }] })
    await admin.connect()
    try {
      const entries: [string, string][] = []
      for (const primary of admin.masters) {
        const node = await admin.nodeClient(primary)
        for (const key of await node.keys(`${prefix}*`)) {
          const value = String(await node.dump(key))
          entries.push([key, createHash('sha1').update(value).digest('hex')])
        }
      }
      return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)))
    } finally {
      await admin.close()
    }
  },
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const seqs = (msgs: readonly StoredMessage[]) => msgs.map((m) => m.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

function published(outcomes: Awaited<ReturnType<Store['accept']>>): StoredMessage[] {
  return outcomes.flatMap((o) => (o.kind === 'published' ? [o.msg] : []))
}

/** Bytes that are not valid UTF-8 (a lone 0xff, a NUL, 0xfe): any text round trip would change them. */
const NOT_UTF8 = [0xff, 0x00, 0xfe]

/** A body as bytes (asserting it is a plain Uint8Array, not a Buffer), or as itself when JSON. */
function bytesOf(body: Body): number[] | Json {
  if (!(body instanceof Uint8Array)) return body
  expect(Buffer.isBuffer(body), 'a binary body must come back as a plain Uint8Array, not a Buffer').toBe(false)
  expect(Object.getPrototypeOf(body)).toBe(Uint8Array.prototype)
  return ['bytes', ...body]
}

/** Collects what `onAppend` delivers, per topic. */
function collect(store: Store) {
  const byTopic = new Map<string, StoredMessage[]>()
  const stop = store.onAppend((msg) => byTopic.set(msg.topic, [...(byTopic.get(msg.topic) ?? []), msg]))
  const count = () => [...byTopic.values()].reduce((n, msgs) => n + msgs.length, 0)
  return { byTopic, stop, count }
}

describe.each([memory, sqlite, redisSubject, redisClusterSubject])('$name store', (subject) => {
  it('appends with contiguous seqs per topic, from 1, under one epoch', async () => {
    const store = await subject.open()
    const a1 = await store.append('a', { n: 1 })
    const b1 = await store.append('b', { n: 1 })
    const out = await store.accept('u', 'c', [
      { id: 1, topic: 'a', body: { n: 2 } },
      { id: 2, topic: 'b', body: { n: 2 } },
      { id: 3, topic: 'a', body: { n: 3 } },
    ])
    const a4 = await store.append('a', [4, 'four'])
    expect([a1.seq, b1.seq, ...seqs(published(out)), a4.seq]).toEqual([1, 1, 2, 2, 3, 4])
    expect(out.map((o) => o.kind)).toEqual(['published', 'published', 'published'])
    expect(await store.head('a')).toEqual({ epoch: a1.epoch, first: 1, last: 4 })
    expect(await store.head('b')).toEqual({ epoch: b1.epoch, first: 1, last: 2 })
    const { msgs } = await store.read('a', 0, 10)
    expect(msgs.map((m) => [m.topic, m.seq, m.epoch, m.body])).toEqual([
      ['a', 1, a1.epoch, { n: 1 }],
      ['a', 2, a1.epoch, { n: 2 }],
      ['a', 3, a1.epoch, { n: 3 }],
      ['a', 4, a1.epoch, [4, 'four']],
    ])
  })

  it('reads after a cursor, at most `limit`, with the head', async () => {
    const store = await subject.open()
    for (const n of range(1, 10)) await store.append('t', { n })
    const page = await store.read('t', 3, 4)
    expect(page.msgs.map((m) => [m.seq, m.body])).toEqual([
      [4, { n: 4 }],
      [5, { n: 5 }],
      [6, { n: 6 }],
      [7, { n: 7 }],
    ])
    expect([page.first, page.last, page.epoch]).toEqual([1, 10, (await store.head('t')).epoch])
    expect(seqs((await store.read('t', 8, 100)).msgs)).toEqual([9, 10])
    expect(seqs((await store.read('t', 10, 5)).msgs)).toEqual([])
    expect(seqs((await store.read('t', 0, 0)).msgs)).toEqual([])
  })

  it('reports an unknown topic as empty, under the epoch its first append gets', async () => {
    const store = await subject.open()
    const head = await store.head('nothing yet')
    expect([head.first, head.last]).toEqual([1, 0])
    expect(head.epoch).toMatch(/.{8,}/)
    expect(await store.read('nothing yet', 0, 10)).toEqual({ ...head, msgs: [] })
    expect((await store.append('nothing yet', 'first')).epoch).toBe(head.epoch)
  })

  it('publishes a client id once: a resent id is a duplicate and moves nothing', async () => {
    const store = await subject.open()
    const first = await store.accept('u', 'c', [pubFor(1), pubFor(2)])
    const again = await store.accept('u', 'c', [pubFor(1), pubFor(2), pubFor(3)])
    expect(first.map((o) => o.kind)).toEqual(['published', 'published'])
    expect(again.map((o) => o.kind)).toEqual(['duplicate', 'duplicate', 'published'])
    expect(await store.acked('u', 'c')).toBe(3)
    expect((await store.read('side:1', 0, 10)).msgs.map((m) => m.body)).toEqual([{ id: 1 }])
    expect((await store.read('side:0', 0, 10)).msgs.map((m) => m.body)).toEqual([{ id: 2 }])
    expect((await store.read('hot', 0, 10)).msgs.map((m) => m.body)).toEqual([{ id: 3 }])
    expect(await store.accept('u', 'c', [])).toEqual([])
  })

  it('stops a batch at the first out-of-order id, applying nothing after it', async () => {
    const store = await subject.open()
    const pubs: PubInput[] = [1, 3, 2].map((id) => ({ id, topic: 't', body: { id } }))
    const out = await store.accept('u', 'c', pubs)
    expect(out.map((o) => (o.kind === 'out-of-order' ? [o.kind, o.expected] : [o.kind]))).toEqual([
      ['published'],
      ['out-of-order', 2],
    ])
    expect(await store.acked('u', 'c')).toBe(1)
    expect(await store.head('t')).toMatchObject({ first: 1, last: 1 })
    expect(seqs(published(await store.accept('u', 'c', [pubs[2] as PubInput, pubs[1] as PubInput])))).toEqual([2, 3])
  })

  it('refuses a pub for good: the counter moves past it with nothing appended, and the pubs after it go on', async () => {
    const store = await subject.open()
    await store.accept('u', 'c', [pubFor(1)])
    const refusal = { id: 2, code: 'forbidden', message: 'not allowed to publish to secret' }
    expect(await store.refuse('u', 'c', { id: 4, code: 'invalid', message: 'x' })).toEqual({
      kind: 'out-of-order',
      expected: 2,
    })
    expect(await store.refuse('u', 'c', refusal)).toEqual({ kind: 'refused' })
    expect(await store.acked('u', 'c')).toBe(2)
    expect(await store.refuse('u', 'c', refusal)).toEqual({ kind: 'duplicate' })
    expect(await store.refuse('u', 'c', { id: 1, code: 'invalid', message: 'late' })).toEqual({ kind: 'duplicate' })
    const after = await store.accept('u', 'c', [pubFor(2), pubFor(3)])
    expect(after.map((o) => o.kind)).toEqual(['duplicate', 'published'])
    expect(await store.acked('u', 'c')).toBe(3)
    // Only ids 1 and 3 were appended (pubFor puts id 1 on side:1, 3 on hot).
    expect((await store.read('side:1', 0, 10)).msgs.map((m) => m.body)).toEqual([{ id: 1 }])
    expect((await store.read('side:0', 0, 10)).msgs).toEqual([])
    expect((await store.read('hot', 0, 10)).msgs.map((m) => m.body)).toEqual([{ id: 3 }])
    expect(await store.refusals('u', 'c')).toEqual([refusal])
    expect(await store.refusals('u', 'other')).toEqual([])
    expect(await store.refusals('v', 'c')).toEqual([])
  })

  it('keeps the latest 64 refusals of a client, oldest first', async () => {
    const store = await subject.open()
    for (const id of range(1, 70)) await store.refuse('u', 'c', { id, code: 'invalid', message: `m${id}` })
    const kept = await store.refusals('u', 'c')
    expect(kept.map((r) => r.id)).toEqual(range(7, 70))
    expect(kept[0]).toEqual({ id: 7, code: 'invalid', message: 'm7' })
    expect(await store.acked('u', 'c')).toBe(70)
  })

  it('gives each id one fate when refusals and accepts of it race', { timeout: 30_000 }, async () => {
    const store = await subject.open()
    const upTo = 60
    const fates: string[][] = []
    // Both claims of every id are in flight together, in an order that alternates, each waiting for the id before.
    let before: Promise<unknown> = Promise.resolve()
    for (const id of range(1, upTo)) {
      // With the pub's topic, as the server passes it: a store deduplicating per topic closes the topic to the id.
      const refuse = () =>
        store.refuse('u', 'c', { id, code: 'invalid', message: 'no' }, pubFor(id).topic).then((o) => o.kind)
      const accept = () => store.accept('u', 'c', [pubFor(id)]).then((o) => o[0]?.kind ?? 'none')
      const claims = before.then(() => Promise.all(id % 2 ? [refuse(), accept()] : [accept(), refuse()]))
      before = claims.then((kinds) => fates.push(kinds.sort()))
    }
    await before
    // One Redis decides in one round trip, so the claim sent first wins; a Cluster's claims take two (watermark, then
    // the topic's slot), so either may: what holds everywhere is one fate per id, and the log and refusals agree.
    const sentFirst = range(1, upTo).map((id) => (id % 2 ? 'duplicate+refused' : 'duplicate+published'))
    const joined = fates.map((f) => f.join('+'))
    if (subject.name !== 'redis cluster') expect(joined).toEqual(sentFirst)
    for (const fate of joined) expect(['duplicate+refused', 'duplicate+published']).toContain(fate)
    const refused = range(1, upTo).filter((id) => joined[id - 1] === 'duplicate+refused')
    expect(await store.acked('u', 'c')).toBe(upTo)
    expect((await store.refusals('u', 'c')).map((r) => r.id)).toEqual(refused)
    const logged: number[] = []
    for (const topic of ['hot', 'side:0', 'side:1'])
      for (const msg of (await store.read(topic, 0, upTo)).msgs) logged.push((msg.body as { id: number }).id)
    expect(logged.sort((a, b) => a - b)).toEqual(range(1, upTo).filter((id) => !refused.includes(id)))
  })

  it('keeps one counter per (user, client): the same client id of another user is independent', async () => {
    const store = await subject.open()
    await store.accept('alice', 'tab', [pubFor(1), pubFor(2)])
    const bob = await store.accept('bob', 'tab', [pubFor(1)])
    expect(bob.map((o) => o.kind)).toEqual(['published'])
    expect(await store.acked('alice', 'tab')).toBe(2)
    expect(await store.acked('bob', 'tab')).toBe(1)
    expect(await store.acked('alice', 'other')).toBe(0)
    expect(await store.acked('alice:tab', '')).toBe(0)
    expect((await store.read('side:1', 0, 10)).msgs.map((m) => [m.seq, m.body])).toEqual([
      [1, { id: 1 }],
      [2, { id: 1 }],
    ])
  })

  it('trims by count on append: `first` moves, reads start there', async () => {
    const store = await subject.open({ maxMessages: 3 })
    for (const n of range(1, 5)) await store.append('t', { n })
    expect(await store.head('t')).toMatchObject({ first: 3, last: 5 })
    expect(seqs((await store.read('t', 0, 10)).msgs)).toEqual([3, 4, 5])
    expect(seqs((await store.read('t', 1, 1)).msgs)).toEqual([3])
    await store.accept('u', 'c', [{ id: 1, topic: 't', body: 6 }])
    expect(await store.read('t', 0, 10)).toMatchObject({
      first: 4,
      last: 6,
      msgs: [{ seq: 4 }, { seq: 5 }, { seq: 6 }],
    })
  })

  it('trims on demand below a seq, never the newest message; an unknown topic stays empty', async () => {
    const store = await subject.open()
    for (const n of range(1, 5)) await store.append('t', { n })
    const { epoch } = await store.head('t')
    expect(await store.trim!('t', 4)).toEqual({ epoch, first: 4, last: 5 })
    expect(seqs((await store.read('t', 0, 10)).msgs)).toEqual([4, 5])
    // Not backwards, and never past the newest.
    expect(await store.trim!('t', 2)).toEqual({ epoch, first: 4, last: 5 })
    expect(await store.trim!('t', 99)).toEqual({ epoch, first: 5, last: 5 })
    expect((await store.read('t', 0, 10)).msgs.map((m) => m.body)).toEqual([{ n: 5 }])
    // Appends go on after it.
    expect((await store.append('t', { n: 6 })).seq).toBe(6)
    expect(seqs((await store.read('t', 0, 10)).msgs)).toEqual([5, 6])
    expect(await store.trim!('never appended', 10)).toMatchObject({ first: 1, last: 0 })
    expect(await store.head('never appended')).toMatchObject({ first: 1, last: 0 })
  })

  it('trims by age on append: messages older than maxAgeMs go, `first` moves', async () => {
    const store = await subject.open({ maxAgeMs: 600 })
    await store.append('t', 1)
    await store.append('t', 2)
    await sleep(800)
    await store.accept('u', 'c', [{ id: 1, topic: 't', body: 3 }])
    await store.append('t', 4)
    expect(await store.read('t', 0, 10)).toMatchObject({ first: 3, last: 4, msgs: [{ body: 3 }, { body: 4 }] })
  })

  it('tells onAppend listeners every append in seq order per topic, until they unsubscribe', async () => {
    const store = await subject.open()
    const seen = collect(store)
    for (const id of range(1, 12)) {
      await store.accept('u', 'c', [pubFor(id)])
      if (id % 4 === 0) await store.append('hot', { producer: id })
    }
    await vi.waitFor(() => expect(seen.count()).toBeGreaterThanOrEqual(15), { timeout: 5_000 })
    expect(seen.count()).toBe(15)
    expect(seqs(seen.byTopic.get('hot') ?? [])).toEqual(range(1, 7))
    expect((seen.byTopic.get('hot') ?? []).map((m) => m.body)).toEqual([
      { id: 3 },
      { producer: 4 },
      { id: 6 },
      { producer: 8 },
      { id: 9 },
      { id: 12 },
      { producer: 12 },
    ])
    expect(seqs(seen.byTopic.get('side:0') ?? [])).toEqual(range(1, 4))
    expect(seqs(seen.byTopic.get('side:1') ?? [])).toEqual(range(1, 4))
    seen.stop()
    const after = collect(store)
    await store.append('hot', 'late')
    await vi.waitFor(() => expect(after.count()).toBe(1), { timeout: 5_000 })
    expect(seen.count()).toBe(15)
  })

  it('keeps binary bodies byte for byte through accept, append, read and onAppend, beside JSON ones', async () => {
    const store = await subject.open()
    const seen = collect(store)
    // A Buffer that views the middle of a larger one: the store must take exactly its bytes.
    const big = Buffer.from([9, 9, ...NOT_UTF8, 9])
    const reused = new Uint8Array([1, 2, 3])
    const out = await store.accept('u', 'c', [
      { id: 1, topic: 'bin', body: new Uint8Array(NOT_UTF8) },
      { id: 2, topic: 'bin', body: new Uint8Array(0) },
      { id: 3, topic: 'bin', body: { $b: [0, 1] } },
      { id: 4, topic: 'bin', body: big.subarray(2, 5) },
    ])
    const appended = await store.append('bin', reused)
    // The caller reuses its buffers: the log must not change with them.
    reused.fill(0)
    big.fill(0)
    const json = await store.append('bin', 'after')
    const expected = [
      ['bytes', ...NOT_UTF8],
      ['bytes'],
      { $b: [0, 1] },
      ['bytes', ...NOT_UTF8],
      ['bytes', 1, 2, 3],
      'after',
    ]
    expect(seqs([...published(out), appended, json])).toEqual(range(1, 6))
    expect([...published(out), appended, json].map((m) => bytesOf(m.body))).toEqual(expected)
    const { msgs } = await store.read('bin', 0, 10)
    expect(msgs.map((m) => [m.seq, bytesOf(m.body)])).toEqual(expected.map((b, i) => [i + 1, b]))
    expect(bytesOf((await store.read('bin', 1, 1)).msgs[0]?.body ?? null)).toEqual(['bytes'])
    await vi.waitFor(() => expect(seen.count()).toBe(6), { timeout: 5_000 })
    expect((seen.byTopic.get('bin') ?? []).map((m) => bytesOf(m.body))).toEqual(expected)
  })

  it('publishes each id exactly once and keeps seqs contiguous when two servers accept at once', {
    timeout: 60_000,
  }, async () => {
    const store = await subject.open()
    const upTo = 120
    const reports = await subject.race(store, { user: 'u', client: 'c', upTo })
    expect(reports.map((r) => r.outOfOrder)).toEqual([0, 0])
    const pubs = reports.flatMap((r) => r.published)
    expect(pubs.map((p) => p.id).sort((x, y) => x - y)).toEqual(range(1, upTo))
    expect(await store.acked('u', 'c')).toBe(upTo)
    const produced = reports.flatMap((r) => r.produced)
    for (const topic of ['hot', 'side:0', 'side:1']) {
      const claimed = [...pubs.filter((p) => p.topic === topic), ...produced.filter((p) => p.topic === topic)]
      const seqsClaimed = claimed.map((p) => p.seq).sort((x, y) => x - y)
      expect(seqsClaimed).toEqual(range(1, claimed.length))
      const log = await store.read(topic, 0, 1_000)
      expect(log.last).toBe(claimed.length)
      const ids = pubs
        .filter((p) => p.topic === topic)
        .map((p) => p.id)
        .sort((x, y) => x - y)
      const logged = log.msgs.flatMap((m) =>
        typeof m.body === 'object' && m.body && 'id' in m.body ? [m.body.id] : [],
      )
      expect(logged.map(Number).sort((x, y) => x - y)).toEqual(ids)
    }
    expect(produced.length).toBeGreaterThan(0)
  })
})

/** A pub opening send call `n` of tab `tab` (`count` pubs), sent early with `stored` as the client's watermark. */
function early(id: number, tab: string, n: number, count: number, stored: number): PubInput {
  return { id, topic: 'hot', body: { id }, call: [tab, n, count, stored] }
}

/** The stores that keep early calls and take `void`: every one but the Cluster (its dedup is kept per topic). */
describe.each([memory, sqlite, redisSubject])('$name store: early calls and void', (subject) => {
  async function voidable(): Promise<Store & Required<Pick<Store, 'void'>>> {
    const store = await subject.open()
    if (!store.void) throw new Error(`the ${subject.name} store has no void`)
    return store as Store & Required<Pick<Store, 'void'>>
  }

  it('keeps the call a taken pub opens; void answers those in its range and moves the counter to its end', async () => {
    const store = await voidable()
    await store.accept('u', 'c', [early(1, 'tab-a', 1, 2, 0), pubFor(2), early(3, 'tab-b', 7, 1, 0)])
    expect(await store.void('u', 'c', 2, 6)).toEqual({
      kind: 'voided',
      was: 3,
      calls: [{ id: 3, tab: 'tab-b', n: 7, count: 1 }],
    })
    expect(await store.acked('u', 'c')).toBe(6)
    // Asked again (a client that died before it stored the answer): the same calls, the counter where it is.
    expect(await store.void('u', 'c', 1, 6)).toEqual({
      kind: 'voided',
      was: 6,
      calls: [
        { id: 1, tab: 'tab-a', n: 1, count: 2 },
        { id: 3, tab: 'tab-b', n: 7, count: 1 },
      ],
    })
    // The ids void closed are duplicates now: a late copy of a pub sent before the void publishes nothing.
    expect((await store.accept('u', 'c', [early(4, 'tab-a', 2, 1, 0)])).map((o) => o.kind)).toEqual(['duplicate'])
    expect(seqs((await store.read('hot', 0, 10)).msgs)).toEqual([1, 2])
    expect(await store.void('u', 'c', 4, 6)).toEqual({ kind: 'voided', was: 6, calls: [] })
  })

  it("forgets the calls at or below a later call's stored watermark, and keeps the newest 64", async () => {
    const store = await voidable()
    await store.accept('u', 'c', [early(1, 't', 1, 1, 0), early(2, 't', 2, 1, 0), early(3, 't', 3, 1, 2)])
    expect(await store.void('u', 'c', 1, 3)).toEqual({
      kind: 'voided',
      was: 3,
      calls: [{ id: 3, tab: 't', n: 3, count: 1 }],
    })
    const many = range(4, 103).map((id) => early(id, 't', id, 1, 3))
    await store.accept('u', 'c', many)
    const kept = await store.void('u', 'c', 1, 103)
    expect(kept).toMatchObject({ kind: 'voided', was: 103 })
    expect(kept.kind === 'voided' && kept.calls.map((c) => c.id)).toEqual(range(40, 103))
  })

  it('keeps the call of a refused pub, keeps nothing for a duplicate, and keeps calls per (user, client)', async () => {
    const store = await voidable()
    const refusal = { id: 1, code: 'forbidden', message: 'no' }
    expect(await store.refuse('u', 'c', refusal, 'hot', ['tab-a', 1, 2, 0])).toEqual({ kind: 'refused' })
    await store.accept('u', 'c', [pubFor(2), early(2, 'tab-x', 9, 1, 0)])
    await store.accept('v', 'c', [early(1, 'tab-v', 1, 1, 0)])
    expect(await store.void('u', 'c', 1, 2)).toEqual({
      kind: 'voided',
      was: 2,
      calls: [{ id: 1, tab: 'tab-a', n: 1, count: 2 }],
    })
    expect(await store.void('v', 'c', 1, 1)).toEqual({
      kind: 'voided',
      was: 1,
      calls: [{ id: 1, tab: 'tab-v', n: 1, count: 1 }],
    })
    expect(await store.void('u', 'other', 1, 1)).toEqual({ kind: 'voided', was: 0, calls: [] })
  })

  it('refuses a void that starts past the next id, moving nothing', async () => {
    const store = await voidable()
    await store.accept('u', 'c', [pubFor(1)])
    expect(await store.void('u', 'c', 3, 5)).toEqual({ kind: 'out-of-order', expected: 2 })
    expect(await store.acked('u', 'c')).toBe(1)
    expect((await store.accept('u', 'c', [pubFor(2)])).map((o) => o.kind)).toEqual(['published'])
  })
})

describe.each([sqlite, redisSubject])('$name store: early calls across a restart', (subject) => {
  it('keeps the early calls and the counter a void moved', { timeout: 20_000 }, async () => {
    const store = await subject.open()
    await store.accept('u', 'c', [early(1, 'tab-a', 1, 1, 0)])
    await store.void?.('u', 'c', 2, 4)
    await store.close()
    opened = opened.filter((s) => s !== store)
    const reopened = await subject.reopen(store)
    expect(await reopened.acked('u', 'c')).toBe(4)
    expect(await reopened.void?.('u', 'c', 1, 4)).toEqual({
      kind: 'voided',
      was: 4,
      calls: [{ id: 1, tab: 'tab-a', n: 1, count: 1 }],
    })
  })
})

describe('redis cluster store', () => {
  it('offers no void: its dedup is kept per topic', async () => {
    expect((await redisClusterSubject.open()).void).toBeUndefined()
  })
})

describe.each([sqlite, redisSubject, redisClusterSubject])('$name store across a restart', (subject) => {
  it('keeps logs, counters and epochs, and goes on from where it was', { timeout: 20_000 }, async () => {
    const store = await subject.open()
    await store.accept('u', 'c', [pubFor(1), pubFor(2), pubFor(3)])
    await store.append('news', { headline: 'kept' })
    const before = [await store.head('hot'), await store.head('news'), await store.head('never appended')]
    await store.close()
    opened = opened.filter((s) => s !== store)
    const reopened = await subject.reopen(store)
    expect([await reopened.head('hot'), await reopened.head('news'), await reopened.head('never appended')]).toEqual(
      before,
    )
    expect(await reopened.acked('u', 'c')).toBe(3)
    expect((await reopened.read('news', 0, 10)).msgs.map((m) => m.body)).toEqual([{ headline: 'kept' }])
    const out = await reopened.accept('u', 'c', [pubFor(3), { id: 4, topic: 'hot', body: { id: 4 } }])
    expect(out.map((o) => (o.kind === 'published' ? o.msg.seq : o.kind))).toEqual(['duplicate', 2])
    expect((await reopened.read('hot', 0, 10)).msgs.map((m) => m.body as Json)).toEqual([{ id: 3 }, { id: 4 }])
  })

  it('keeps a trim', { timeout: 20_000 }, async () => {
    const store = await subject.open()
    for (const n of range(1, 4)) await store.append('t', n)
    await store.trim!('t', 3)
    await store.close()
    opened = opened.filter((s) => s !== store)
    const reopened = await subject.reopen(store)
    expect(await reopened.read('t', 0, 10)).toMatchObject({ first: 3, last: 4, msgs: [{ body: 3 }, { body: 4 }] })
  })

  it('keeps refusals and the counter moved past them', { timeout: 20_000 }, async () => {
    const store = await subject.open()
    await store.accept('u', 'c', [pubFor(1)])
    await store.refuse('u', 'c', { id: 2, code: 'too-large', message: 'big' })
    await store.close()
    opened = opened.filter((s) => s !== store)
    const reopened = await subject.reopen(store)
    expect(await reopened.acked('u', 'c')).toBe(2)
    expect(await reopened.refusals('u', 'c')).toEqual([{ id: 2, code: 'too-large', message: 'big' }])
    expect((await reopened.accept('u', 'c', [pubFor(3)])).map((o) => o.kind)).toEqual(['published'])
  })

  it('reads topics nothing was appended to without writing anything, under the epoch their first append gets', async () => {
    const store = await subject.open()
    await store.append('known', 'x')
    const before = await subject.footprint(store)
    const names = range(1, 2_000).map((n) => `unknown:${n}`)
    const heads = await Promise.all(names.map((name) => store.head(name)))
    const reads = await Promise.all(names.map((name) => store.read(name, 5, 10)))
    expect(await subject.footprint(store)).toEqual(before)
    const epoch = (await store.head('known')).epoch
    expect(new Set([...heads, ...reads].map((h) => JSON.stringify([h.epoch, h.first, h.last])))).toEqual(
      new Set([JSON.stringify([epoch, 1, 0])]),
    )
    expect(reads.every((r) => r.msgs.length === 0)).toBe(true)
    expect((await store.append('unknown:7', 'first')).epoch).toBe(epoch)
  })

  it('keeps binary bodies byte for byte, empty ones included', { timeout: 20_000 }, async () => {
    const store = await subject.open()
    await store.accept('u', 'c', [{ id: 1, topic: 'bin', body: new Uint8Array(NOT_UTF8) }])
    await store.append('bin', new Uint8Array(0))
    await store.append('bin', { json: true })
    await store.close()
    opened = opened.filter((s) => s !== store)
    const reopened = await subject.reopen(store)
    await reopened.append('bin', new Uint8Array([0x80]))
    expect((await reopened.read('bin', 0, 10)).msgs.map((m) => [m.seq, bytesOf(m.body)])).toEqual([
      [1, ['bytes', ...NOT_UTF8]],
      [2, ['bytes']],
      [3, { json: true }],
      [4, ['bytes', 0x80]],
    ])
  })
})

describe('sqlite store on a file written before binary bodies', () => {
  it('reads the old JSON rows as they were and appends binary bodies after them', async () => {
    const path = join(dir, `old-${++serial}.db`)
    // The schema and rows as the store wrote them before binary bodies: every body JSON text.
    const old = new Database(path)
    old.exec(`
      CREATE TABLE topics (topic TEXT PRIMARY KEY, epoch TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE messages (topic TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (topic, seq)) WITHOUT ROWID;
      CREATE TABLE clients (user TEXT NOT NULL, client TEXT NOT NULL, acked INTEGER NOT NULL, PRIMARY KEY (user, client)) WITHOUT ROWID;
      INSERT INTO topics VALUES ('t', 'old-epoch', 1, 2);
      INSERT INTO messages VALUES ('t', 1, '{"n":1}', 1), ('t', 2, '"two"', 2);
      INSERT INTO clients VALUES ('u', 'c', 2);
    `)
    old.close()
    const store = track(createSqliteStore({ path }))
    expect(await store.acked('u', 'c')).toBe(2)
    const msg = await store.append('t', new Uint8Array(NOT_UTF8))
    expect([msg.seq, msg.epoch]).toEqual([3, 'old-epoch'])
    expect((await store.read('t', 0, 10)).msgs.map((m) => [m.seq, bytesOf(m.body)])).toEqual([
      [1, { n: 1 }],
      [2, 'two'],
      [3, ['bytes', ...NOT_UTF8]],
    ])
    // A file from before early calls gains their table: a pub's call is kept, and void answers with it.
    await store.accept('u', 'c', [early(3, 'tab-a', 1, 1, 2)])
    expect(await store.void?.('u', 'c', 1, 4)).toEqual({
      kind: 'voided',
      was: 3,
      calls: [{ id: 3, tab: 'tab-a', n: 1, count: 1 }],
    })
  })
})

describe('redis store on several servers', () => {
  it('delivers an append made through one server to onAppend on another, in seq order', {
    timeout: 20_000,
  }, async () => {
    const a = await redisSubject.open()
    const b = await openSpec(specOf(a))
    const onB = collect(b)
    for (const id of range(1, 30)) await (id % 2 ? a : b).accept('u', 'c', [pubFor(id)])
    await vi.waitFor(() => expect(onB.count()).toBeGreaterThanOrEqual(30), { timeout: 10_000 })
    expect(seqs(onB.byTopic.get('hot') ?? [])).toEqual(range(1, 10))
    expect(seqs(onB.byTopic.get('side:0') ?? [])).toEqual(range(1, 10))
    expect(seqs(onB.byTopic.get('side:1') ?? [])).toEqual(range(1, 10))
    expect((onB.byTopic.get('hot') ?? []).map((m) => m.body)).toEqual(range(1, 10).map((n) => ({ id: 3 * n })))
  })

  it('reads what it missed from the stream when its notification connection drops', { timeout: 30_000 }, async () => {
    const a = await redisSubject.open()
    const b = await openSpec(specOf(a))
    const onB = collect(b)
    await a.append('t', 1)
    await vi.waitFor(() => expect(onB.count()).toBe(1), { timeout: 5_000 })
    const admin = createClient({ url: (await redis()).url })
    await admin.connect()
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
    await admin.close()
    for (const n of range(2, 20)) await a.append('t', n)
    await vi.waitFor(() => expect(onB.count()).toBeGreaterThanOrEqual(20), { timeout: 20_000 })
    expect((onB.byTopic.get('t') ?? []).map((m) => [m.seq, m.body])).toEqual(range(1, 20).map((n) => [n, n]))
  })

  it('delivers binary bodies to another server intact, by notification and by a gap read', {
    timeout: 30_000,
  }, async () => {
    const a = await redisSubject.open()
    const b = await openSpec(specOf(a))
    const onB = collect(b)
    // Bytes with a newline and invalid UTF-8: they must not be split or decoded on the way.
    const bodyOf = (n: number): Body => (n % 3 === 0 ? { n } : new Uint8Array([n, 0x0a, ...NOT_UTF8, n]))
    await a.append('t', bodyOf(1))
    await a.append('t', new Uint8Array(0))
    await vi.waitFor(() => expect(onB.count()).toBe(2), { timeout: 5_000 })
    const admin = createClient({ url: (await redis()).url })
    await admin.connect()
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
    await admin.close()
    for (const n of range(3, 12)) await a.append('t', bodyOf(n))
    await vi.waitFor(() => expect(onB.count()).toBeGreaterThanOrEqual(12), { timeout: 20_000 })
    expect((onB.byTopic.get('t') ?? []).map((m) => [m.seq, bytesOf(m.body)])).toEqual(
      range(1, 12).map((n) => [n, bytesOf(n === 2 ? new Uint8Array(0) : bodyOf(n))]),
    )
  })
})

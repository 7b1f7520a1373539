import { describe, expect, it } from 'vitest'
import type { MsgFrame } from '../../src/protocol/frames.ts'
import { createMemoryStore } from '../../src/server/index.ts'
import type { Store, TabwireServer } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

async function publishMany(server: TabwireServer, topic: string, n: number): Promise<string> {
  let epoch = ''
  for (let i = 1; i <= n; i++) epoch = (await server.publish(topic, `b${i}`)).epoch
  return epoch
}

const msg = (topic: string, seq: number, epoch: string): MsgFrame => ({ t: 'msg', topic, seq, epoch, body: `b${seq}` })
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('server replay', () => {
  it('replays exactly the seqs after a hello cursor, then follows live', async () => {
    const { server, url } = await serve()
    const epoch = await publishMany(server, 't', 10)
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 6, epoch }] })
    await c.untilSeq('t', 10)
    await server.publish('t', 'b11')
    await c.untilSeq('t', 11)
    await c.quiet()
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      ...range(7, 11).map((s) => msg('t', s, epoch)),
    ])
  })

  it('replays in batches of replayBatch from a sub frame, and a later sub replaces the cursor', async () => {
    const { server, url } = await serve({ replayBatch: 3 })
    const epoch = await publishMany(server, 't', 8)
    const c = await hello(url, 'c')
    c.send({ t: 'sub', topic: 't', after: 0 })
    await c.untilSeq('t', 8)
    expect(c.msgs('t').map((m) => m.seq)).toEqual(range(1, 8))
    c.send({ t: 'sub', topic: 't', after: 5, epoch })
    await c.waitFor(() => c.msgs('t').length === 11)
    await c.quiet()
    expect(c.msgs('t').map((m) => m.seq)).toEqual([...range(1, 8), 6, 7, 8])
  })

  it('sends nothing for a topic after unsub', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 0 }] })
    await server.publish('t', 'b1')
    await c.untilSeq('t', 1)
    c.send({ t: 'unsub', topic: 't' }, { t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    await server.publish('t', 'b2')
    await c.quiet()
    expect(c.msgs('t').map((m) => m.seq)).toEqual([1])
  })

  it('answers a cursor before the retained range with a retention reset, then the retained msgs', async () => {
    const store = createMemoryStore({ retention: { maxMessages: 5 } })
    const { server, url } = await serve({ store })
    const epoch = await publishMany(server, 't', 12)
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 3, epoch }] })
    await c.untilSeq('t', 12)
    await c.quiet()
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'reset', topic: 't', seq: 7, epoch, reason: 'retention' },
      ...range(8, 12).map((s) => msg('t', s, epoch)),
    ])
  })

  it('answers a cursor of another epoch with an epoch reset to first - 1, then every retained msg', async () => {
    const { server, url } = await serve()
    const epoch = await publishMany(server, 't', 3)
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 2, epoch: 'epoch-of-a-lost-store' }] })
    await c.untilSeq('t', 3)
    await c.quiet()
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'reset', topic: 't', seq: 0, epoch, reason: 'epoch' },
      ...range(1, 3).map((s) => msg('t', s, epoch)),
    ])
  })

  it('answers an epoch change on an empty topic with a reset to 0 and nothing else', async () => {
    const { server, url } = await serve()
    const { epoch } = await server.store.head('empty')
    const c = await hello(url, 'c', { subs: [{ topic: 'empty', after: 9, epoch: 'old' }] })
    await c.waitFor((f) => f.length === 2)
    await c.quiet()
    expect(c.frames[1]).toEqual({ t: 'reset', topic: 'empty', seq: 0, epoch, reason: 'epoch' })
    expect(c.frames).toHaveLength(2)
  })

  it('answers a cursor beyond the log end with an ahead reset to first - 1, then every retained msg', async () => {
    const store = createMemoryStore({ retention: { maxMessages: 2 } })
    const { server, url } = await serve({ store })
    const epoch = await publishMany(server, 't', 4)
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 40 }] })
    await c.untilSeq('t', 4)
    await server.publish('t', 'b5')
    await c.untilSeq('t', 5)
    await c.quiet()
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'reset', topic: 't', seq: 2, epoch, reason: 'ahead' },
      ...range(3, 5).map((s) => msg('t', s, epoch)),
    ])
  })

  it('sends a live burst of one tick as one WebSocket message', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 0 }] })
    await c.quiet(20)
    const before = c.messages
    await Promise.all(range(1, 50).map((i) => server.publish('t', `b${i}`)))
    await c.untilSeq('t', 50)
    expect(c.messages - before).toBe(1)
    expect(c.msgs('t').map((m) => m.seq)).toEqual(range(1, 50))
  })

  it.each([
    ['reads that return a snapshot one turn late', { lateReads: true, lateNotices: false }],
    ['append notices that arrive one turn late, as from a shared remote store', { lateReads: true, lateNotices: true }],
  ])('delivers 1..N exactly once, in order, when publishes race a replay from 0: %s', async (_name, lag) => {
    const N = 2000
    const pre = 1000
    const { store, racedReads } = laggingStore(lag)
    const { server, url } = await serve({ replayBatch: 100, store })
    await publishMany(server, 't', pre)
    const c = await hello(url, 'c')
    const publisher = await hello(url, 'p', { subs: [{ topic: 't', after: 0 }] })
    c.send({ t: 'sub', topic: 't', after: 0 })
    // Live publishes from two sources, spread over many ticks while the replay reads 100 at a time.
    const serverSide = (async () => {
      for (let i = pre + 1; i <= pre + 500; i++) {
        await server.publish('t', i)
        if (i % 5 === 0) await new Promise((r) => setImmediate(r))
      }
    })()
    for (let id = 1; id <= 500; id += 10) {
      publisher.send(...range(id, id + 9).map((n) => ({ t: 'pub' as const, id: n, topic: 't', body: n })))
      await new Promise((r) => setImmediate(r))
    }
    await serverSide
    await c.untilSeq('t', N, 10_000)
    await publisher.untilSeq('t', N, 10_000)
    await c.quiet()
    expect(racedReads()).toBeGreaterThan(0)
    expect(c.msgs('t').map((m) => m.seq)).toEqual(range(1, N))
    expect(c.frames.filter((f) => f.t !== 'msg')).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
    ])
    expect(publisher.msgs('t').map((m) => m.seq)).toEqual(range(1, N))
  })
})

/**
 * A memory store that behaves like a remote one: a read's snapshot is answered a turn later, and optionally append
 * notices reach listeners a turn later (in order). `racedReads` counts appends that happened while a read was in
 * flight, proving a test exercised the race it is about.
 */
function laggingStore(lag: { lateReads: boolean; lateNotices: boolean }): { store: Store; racedReads: () => number } {
  const base = createMemoryStore()
  let readsInFlight = 0
  let raced = 0
  const turn = () => new Promise((resolve) => setImmediate(resolve))
  base.onAppend(() => {
    if (readsInFlight > 0) raced++
  })
  const store: Store = {
    ...base,
    async read(topic, after, limit) {
      readsInFlight++
      try {
        const r = await base.read(topic, after, limit)
        if (lag.lateReads) await turn()
        return r
      } finally {
        readsInFlight--
      }
    },
    onAppend(listener) {
      if (!lag.lateNotices) return base.onAppend(listener)
      let chain = Promise.resolve()
      return base.onAppend((msg) => {
        chain = chain.then(turn).then(() => listener(msg))
      })
    },
  }
  return { store, racedReads: () => raced }
}

describe('server fetch', () => {
  it('answers with range frames of replayBatch msgs, done on the last, without touching the subscription', async () => {
    const { server, url } = await serve({ replayBatch: 4 })
    const epoch = await publishMany(server, 't', 12)
    const c = await hello(url, 'c')
    c.send({ t: 'fetch', req: 1, topic: 't', after: 2, limit: 7 })
    await c.waitFor((f) => f.some((x) => x.t === 'range' && x.done))
    const m = (seq: number) => ({ seq, epoch, body: `b${seq}` })
    // One message first (its size sizes the next reads), then replayBatch at a time, up to the limit.
    expect(c.frames.slice(1)).toEqual([
      { t: 'range', req: 1, topic: 't', msgs: [m(3)], done: false },
      { t: 'range', req: 1, topic: 't', msgs: range(4, 7).map(m), done: false },
      { t: 'range', req: 1, topic: 't', msgs: range(8, 9).map(m), done: true },
    ])
    const mark = c.frames.length
    c.send({ t: 'fetch', req: 2, topic: 't', after: 11, limit: 100 })
    c.send({ t: 'fetch', req: 3, topic: 't', after: 12, limit: 100 })
    c.send({ t: 'fetch', req: 4, topic: 'nothing-here', after: 0, limit: 1 })
    await c.waitFor((f) => f.filter((x) => x.t === 'range' && x.done).length === 4)
    await server.publish('t', 'b13')
    await c.quiet()
    expect(c.since(mark)).toEqual([
      { t: 'range', req: 2, topic: 't', msgs: [m(12)], done: true },
      { t: 'range', req: 3, topic: 't', msgs: [], done: true },
      { t: 'range', req: 4, topic: 'nothing-here', msgs: [], done: true },
    ])
  })

  it('starts a range at the oldest retained seq when the asked one is trimmed', async () => {
    const store = createMemoryStore({ retention: { maxMessages: 3 } })
    const { server, url } = await serve({ store })
    const epoch = await publishMany(server, 't', 10)
    const c = await hello(url, 'c')
    c.send({ t: 'fetch', req: 9, topic: 't', after: 0, limit: 3 })
    await c.waitFor((f) => f.length === 3)
    expect(c.frames.slice(1)).toEqual([
      { t: 'range', req: 9, topic: 't', msgs: [{ seq: 8, epoch, body: 'b8' }], done: false },
      { t: 'range', req: 9, topic: 't', msgs: [9, 10].map((seq) => ({ seq, epoch, body: `b${seq}` })), done: true },
    ])
  })
})

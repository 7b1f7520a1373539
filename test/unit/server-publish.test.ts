import { describe, expect, it, vi } from 'vitest'
import type { PubFrame } from '../../src/protocol/frames.ts'
import type { ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

const pub = (id: number, body: string = `m${id}`, topic = 'room'): PubFrame => ({ t: 'pub', id, topic, body })
const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })

describe('server publish', () => {
  it('acks a batch of pubs with one cumulative ack and fans each out once', async () => {
    const { url } = await serve()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'room', after: 0 }] })
    const c = await hello(url, 'c1')
    c.send(pub(1), pub(2), pub(3))
    c.send(pub(4), pub(5))
    await c.waitFor((f) => f.length === 3)
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 3 },
      { t: 'ack', id: 5 },
    ])
    await watcher.untilSeq('room', 5)
    await watcher.quiet()
    const epoch = watcher.msgs('room')[0]?.epoch
    expect(watcher.frames.slice(1)).toEqual(
      [1, 2, 3, 4, 5].map((seq) => ({ t: 'msg', topic: 'room', seq, epoch, body: `m${seq}` })),
    )
  })

  it('re-acks a resent id without publishing it again, on the same and on a new connection', async () => {
    const { server, url } = await serve()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'room', after: 0 }] })
    const c = await hello(url, 'c1')
    c.send(pub(1), pub(2))
    await c.waitFor((f) => f.length === 2)
    c.send(pub(2, 'resent'))
    c.send(pub(1, 'resent'), pub(2, 'resent'))
    await c.waitFor((f) => f.length === 4)
    expect(c.frames.slice(1)).toEqual([
      { t: 'ack', id: 2 },
      { t: 'ack', id: 2 },
      { t: 'ack', id: 2 },
    ])
    await c.close()

    const again = await hello(url, 'c1')
    expect(again.frames).toEqual([{ t: 'welcome', v: 1, acked: 2, maxBytes: 1048576, early: 64 }])
    again.send(pub(1, 'resent'), pub(2, 'resent'), pub(3))
    await again.waitFor((f) => f.length === 2)
    expect(again.frames[1]).toEqual({ t: 'ack', id: 3 })

    await watcher.untilSeq('room', 3)
    await watcher.quiet()
    expect(watcher.msgs('room').map((m) => [m.seq, m.body])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
    ])
    expect((await server.store.head('room')).last).toBe(3)
  })

  it('acks an older resent id with that id: cumulative acks never claim more than was sent', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    c.send(pub(1), pub(2), pub(3))
    await c.waitFor((f) => f.length === 2)
    c.send(pub(2))
    await c.waitFor((f) => f.length === 3)
    expect(c.frames.slice(1)).toEqual([
      { t: 'ack', id: 3 },
      { t: 'ack', id: 2 },
    ])
  })

  it('closes 4400 on an out-of-order id after acking what came before it in the batch', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c1')
    c.send(pub(1), pub(3), pub(4))
    expect(await c.closed).toEqual({ code: 4400, reason: 'out-of-order' })
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 1 },
      { t: 'error', code: 'out-of-order', message: 'pub.id 3 is out of order: expected 2' },
    ])
    expect((await server.store.head('room')).last).toBe(1)
    expect(await server.store.acked('anonymous', 'c1')).toBe(1)
  })

  it('closes 4400 without an ack when the very first id skips ahead', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    c.send(pub(2))
    expect((await c.closed).code).toBe(4400)
    expect(c.frames.slice(1)).toEqual([
      { t: 'error', code: 'out-of-order', message: 'pub.id 2 is out of order: expected 1' },
    ])
  })

  it('binds dedup to the user: another user reusing the client id neither suppresses nor acks the first', async () => {
    const { server, url } = await serve({ authenticate })
    const watcher = await hello(url, 'w', { token: 'watcher', subs: [{ topic: 'room', after: 0 }] })
    const alice = await hello(url, 'shared-id', { token: 'alice' })
    alice.send(pub(1, 'a1'), pub(2, 'a2'))
    await alice.waitFor((f) => f.length === 2)

    const bob = await hello(url, 'shared-id', { token: 'bob' })
    expect(bob.frames).toEqual([{ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 }])
    bob.send(pub(1, 'b1'))
    await bob.waitFor((f) => f.length === 2)
    expect(bob.frames[1]).toEqual({ t: 'ack', id: 1 })

    alice.send(pub(3, 'a3'))
    await alice.waitFor((f) => f.length === 3)
    expect(alice.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 2 },
      { t: 'ack', id: 3 },
    ])
    await watcher.untilSeq('room', 4)
    expect(watcher.msgs('room').map((m) => m.body)).toEqual(['a1', 'a2', 'b1', 'a3'])
    expect(await server.store.acked('alice', 'shared-id')).toBe(3)
    expect(await server.store.acked('bob', 'shared-id')).toBe(1)
    expect(server.connections()).toBe(3)
  })

  it('delivers a publisher its own messages with their seqs', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1', { subs: [{ topic: 'room', after: 0 }] })
    c.send(pub(1), pub(2))
    await c.untilSeq('room', 2)
    expect(c.msgs('room').map((m) => m.seq)).toEqual([1, 2])
    expect(c.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', id: 2 }])
  })

  it('publishes server-side messages through the store to subscribers', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c1', { subs: [{ topic: 'news', after: 0 }] })
    await c.quiet(20)
    const stored = await server.publish('news', { headline: 'hi' })
    expect(stored).toMatchObject({ topic: 'news', seq: 1, body: { headline: 'hi' } })
    await c.untilSeq('news', 1)
    expect(c.frames.slice(1)).toEqual([
      { t: 'msg', topic: 'news', seq: 1, epoch: stored.epoch, body: { headline: 'hi' } },
    ])
  })

  it('keeps accepting when a client vanishes mid-batch, and has stored what it accepted', async () => {
    const { server, url } = await serve()
    const gone = await hello(url, 'gone')
    gone.send(...Array.from({ length: 200 }, (_, i) => pub(i + 1)))
    gone.send({ t: 'fetch', req: 1, topic: 'room', after: 0, limit: 1000 }, { t: 'sub', topic: 'room', after: 0 })
    gone.ws.terminate()
    const other = await hello(url, 'other', { subs: [{ topic: 'room', after: 0 }] })
    other.send(pub(1, 'other'))
    await other.waitFor((f) => f.some((x) => x.t === 'ack'))
    await other.waitFor(() => other.msgs('room').some((m) => m.body === 'other'))
    const seqs = other.msgs('room').map((m) => m.seq)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    await vi.waitFor(() => expect(server.connections()).toBe(1))
  })
})

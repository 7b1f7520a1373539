import { describe, expect, it } from 'vitest'
import type { CallTag, PubFrame } from '../../src/protocol/frames.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import type { Store } from '../../src/server/store.ts'
import { serverHarness } from '../support/server-harness.ts'
import { storeKinds } from '../support/server-stores.ts'

const { serve, hello } = serverHarness()

/** The stores that take `void`, each through a real server. */
const stores = storeKinds('server-early')

const pub = (id: number, call?: CallTag, topic = 'room'): PubFrame =>
  call ? { t: 'pub', id, topic, body: `m${id}`, call } : { t: 'pub', id, topic, body: `m${id}` }

/** A store without `void`, as one whose dedup is kept per topic (the Redis Cluster's) is. */
function storeWithoutVoid(): Store {
  const { void: _void, ...rest } = createMemoryStore()
  return rest
}

describe('server: pubs sent before they were stored, and void', () => {
  it.each(stores)(
    "answers a void with the ids it had taken and the calls they opened, then acks the void's end ($name store)",
    async ({ open }) => {
      const { server, url } = await serve({ store: await open() })
      const watcher = await hello(url, 'w', { subs: [{ topic: 'room', after: 0 }] })
      const dying = await hello(url, 'c1')
      // A worker sends calls 1 (two pubs) and 2 before they were stored, and dies.
      dying.send(pub(1, ['tab-a', 1, 2, 0]), pub(2), pub(3, ['tab-b', 4, 1, 0]))
      await dying.waitFor((f) => f.length === 2)
      await dying.close()
      const next = await hello(url, 'c1')
      next.send({ t: 'void', from: 1, to: 8 })
      await next.waitFor((f) => f.length === 3)
      expect(next.frames).toEqual([
        { t: 'welcome', v: 1, acked: 3, maxBytes: 1048576, early: 64 },
        {
          t: 'voided',
          from: 1,
          to: 8,
          was: 3,
          calls: [
            [1, 'tab-a', 1, 2],
            [3, 'tab-b', 4, 1],
          ],
        },
        { t: 'ack', id: 8 },
      ])
      // A late copy of a voided id publishes nothing; the next id goes on.
      next.send(pub(5), pub(9, ['tab-a', 2, 1, 8]))
      await next.waitFor((f) => f.length === 4)
      expect(next.frames[3]).toEqual({ t: 'ack', id: 9 })
      await watcher.untilSeq('room', 4)
      await watcher.quiet()
      expect(watcher.msgs('room').map((m) => m.body)).toEqual(['m1', 'm2', 'm3', 'm9'])
      // Call 9's stored watermark (8) let the server forget the calls at or below it.
      expect(await server.store.void?.('anonymous', 'c1', 1, 9)).toEqual({
        kind: 'voided',
        was: 9,
        calls: [{ id: 9, tab: 'tab-a', n: 2, count: 1 }],
      })
    },
  )

  it('offers early in its welcome when its store takes void, and not otherwise', async () => {
    const { url } = await serve()
    expect((await hello(url, 'c1')).frames).toEqual([{ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 }])
    const without = await serve({ store: storeWithoutVoid() })
    expect((await hello(without.url, 'c1')).frames).toEqual([{ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576 }])
  })

  it('keeps the call of a pub it refused, and answers void in order with the pubs around it', async () => {
    const { url } = await serve({ authorize: (_user, topic) => topic !== 'secret' })
    const c = await hello(url, 'c1')
    c.send(pub(1, ['tab-a', 1, 1, 0], 'secret'), { t: 'void', from: 2, to: 3 }, pub(4))
    await c.waitFor((f) => f.length === 5)
    expect(c.frames.slice(1)).toEqual([
      { t: 'nack', id: 1, code: 'forbidden', message: 'not allowed to publish to secret' },
      { t: 'voided', from: 2, to: 3, was: 1, calls: [] },
      { t: 'ack', id: 3 },
      { t: 'ack', id: 4 },
    ])
    c.send({ t: 'void', from: 1, to: 1 })
    await c.waitFor((f) => f.length === 7)
    expect(c.frames.slice(5)).toEqual([
      { t: 'voided', from: 1, to: 1, was: 4, calls: [[1, 'tab-a', 1, 1]] },
      { t: 'ack', id: 4 },
    ])
  })

  it('keeps the call of a pub that came in a binary message', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c1')
    c.sendBinary({ t: 'pub', id: 1, topic: 'room', body: new Uint8Array([0xff, 0]), call: ['tab-a', 1, 1, 0] })
    await c.waitFor((f) => f.length === 2)
    expect(await server.store.void?.('anonymous', 'c1', 1, 1)).toEqual({
      kind: 'voided',
      was: 1,
      calls: [{ id: 1, tab: 'tab-a', n: 1, count: 1 }],
    })
  })

  it('closes 4400 on a void that starts past the next id, moving nothing', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c1')
    c.send(pub(1), { t: 'void', from: 3, to: 5 })
    expect(await c.closed).toEqual({ code: 4400, reason: 'out-of-order' })
    expect(c.frames.slice(1)).toEqual([
      { t: 'ack', id: 1 },
      { t: 'error', code: 'out-of-order', message: 'void.from 3 is out of order: expected at most 2' },
    ])
    expect(await server.store.acked('anonymous', 'c1')).toBe(1)
  })

  it('closes 4400 on a void when its store has none, as a server that never heard of void would', async () => {
    const { url } = await serve({ store: storeWithoutVoid() })
    const c = await hello(url, 'c1')
    c.send({ t: 'void', from: 1, to: 2 })
    expect(await c.closed).toEqual({ code: 4400, reason: 'type' })
    expect(c.frames.slice(1)).toEqual([
      { t: 'error', code: 'type', message: 'void is not taken here: the welcome offered no early' },
    ])
  })

  it.each([
    [{ t: 'void', from: 0, to: 1 }, 'void.from must be an integer ≥ 1'],
    [{ t: 'void', from: 3, to: 2 }, 'void.to must be an integer ≥ 3'],
    [{ t: 'void', from: 1 }, 'void.to must be an integer ≥ 1'],
    [{ ...pub(1), call: ['tab', 1, 1] }, 'pub.call must be [tab, n, count, stored]'],
    [{ ...pub(1), call: ['', 1, 1, 0] }, "pub.call's tab must be a non-empty string of at most 64 characters"],
    [
      { ...pub(1), call: ['x'.repeat(65), 1, 1, 0] },
      "pub.call's tab must be a non-empty string of at most 64 characters",
    ],
    [{ ...pub(1), call: ['tab', 0, 1, 0] }, "pub.call's n and count must be integers ≥ 1"],
    [{ ...pub(1), call: ['tab', 1, 1.5, 0] }, "pub.call's n and count must be integers ≥ 1"],
    [{ ...pub(2), call: ['tab', 1, 1, 2] }, "pub.call's stored must be an integer ≥ 0 below pub.id"],
    [{ ...pub(1), call: ['tab', 1, 1, -1] }, "pub.call's stored must be an integer ≥ 0 below pub.id"],
  ])('refuses %j with a field error, taking nothing', async (frame: object, message: string) => {
    const { server, url } = await serve()
    const c = await hello(url, 'c1')
    c.send(JSON.stringify(frame))
    expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
    expect(c.frames.slice(1)).toEqual([{ t: 'error', code: 'field', message }])
    expect(await server.store.acked('anonymous', 'c1')).toBe(0)
  })
})

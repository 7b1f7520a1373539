/**
 * Volatile messages and requests across two server nodes on one real Redis: a `vpub` on node A reaches node B's
 * subscribers (JSON and bytes, in send order), nothing is written to Redis for them, and requests stay on the node
 * that was asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServerFrame } from '../../src/protocol/frames.ts'
import { createServer, type TabwireServer } from '../../src/server/index.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { TestClient } from '../support/ws-client.ts'

let redis: RedisServer
let a: TabwireServer
let b: TabwireServer

beforeAll(async () => {
  redis = await startRedis()
  a = await createServer({ port: 0, store: await createRedisStore({ url: redis.url, prefix: 'vol:' }) })
  b = await createServer({ port: 0, store: await createRedisStore({ url: redis.url, prefix: 'vol:' }) })
}, 30_000)

afterAll(async () => {
  await a?.close()
  await b?.close()
  await redis?.stop()
})

const vmsgs = (frames: ServerFrame[]) => frames.filter((f) => f.t === 'vmsg')

describe('volatile on two nodes over Redis', () => {
  it('a vpub on node A reaches subscribers on both nodes in send order, bytes as bytes, and is not in the log', async () => {
    const onB = await TestClient.hello(`ws://127.0.0.1:${b.port}`, 'b', { subs: [{ topic: 'cursor', after: 0 }] })
    const onA = await TestClient.hello(`ws://127.0.0.1:${a.port}`, 'a', { subs: [{ topic: 'cursor', after: 0 }] })
    const sender = await TestClient.hello(`ws://127.0.0.1:${a.port}`, 's')
    for (let i = 1; i <= 50; i++) sender.send({ t: 'vpub', topic: 'cursor', body: { i } })
    sender.sendBinary({ t: 'vpub', topic: 'cursor', body: new Uint8Array([0, 10, 255]) })
    await onB.waitFor((f) => vmsgs(f).length === 51)
    await onA.waitFor((f) => vmsgs(f).length === 51)
    const expected = [
      ...Array.from({ length: 50 }, (_, i) => ({ t: 'vmsg', topic: 'cursor', body: { i: i + 1 } })),
      { t: 'vmsg', topic: 'cursor', body: new Uint8Array([0, 10, 255]) },
    ]
    expect(vmsgs(onB.frames)).toEqual(expected)
    expect(vmsgs(onA.frames)).toEqual(expected)
    expect((await b.store.head('cursor')).last).toBe(0)
    await Promise.all([onA.close(), onB.close(), sender.close()])
  })

  it('a request is answered by the node it was asked on', async () => {
    a.handle('where', () => 'a')
    b.handle('where', () => 'b')
    const c = await TestClient.hello(`ws://127.0.0.1:${b.port}`, 'c')
    c.send({ t: 'request', id: 1, topic: 'where', body: null })
    await c.waitFor((f) => f.some((x) => x.t === 'reply'))
    expect(c.frames.filter((f) => f.t === 'reply')).toEqual([{ t: 'reply', id: 1, body: 'b' }])
    await c.close()
  })
})

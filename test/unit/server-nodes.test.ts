/**
 * Sessions across nodes: two servers on one Redis close an older socket of a (user, client) on the other node with
 * 4409, as one node does for its own sockets. The same on a Redis Cluster: test/unit/redis-cluster.test.ts.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { startRedis } from '../support/redis.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()
const redis = await startRedis()
afterAll(() => redis.stop())

/** Two nodes on one Redis, on a key prefix of their own. */
async function twoNodes() {
  const prefix = `n-${randomUUID()}:`
  const node = async () => serve({ store: await createRedisStore({ url: redis.url, prefix }) })
  return [await node(), await node()] as const
}

describe('sessions across nodes on one Redis', () => {
  it('closes the older socket of a client on another node with 4409, and no other', async () => {
    const [a, b] = await twoNodes()
    const older = await hello(a.url, 'c1')
    const bystander = await hello(a.url, 'c2')
    const newer = await hello(b.url, 'c1')
    expect(await older.closed).toEqual({ code: 4409, reason: 'superseded by a newer connection' })
    newer.send({ t: 'ping', n: 1 })
    bystander.send({ t: 'ping', n: 2 })
    await newer.waitFor((f) => f.some((x) => x.t === 'pong'))
    await bystander.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect([a.server.connections(), b.server.connections()]).toEqual([1, 1])
  })

  it('keeps the newest of three sockets moving between nodes', async () => {
    const [a, b] = await twoNodes()
    const first = await hello(a.url, 'c1')
    const second = await hello(b.url, 'c1')
    expect((await first.closed).code).toBe(4409)
    const third = await hello(a.url, 'c1')
    expect((await second.closed).code).toBe(4409)
    third.send({ t: 'ping', n: 1 })
    await third.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect([a.server.connections(), b.server.connections()]).toEqual([1, 0])
  })
})

/**
 * `server.disconnect(user)` across two server nodes, on one real Redis and on a real Redis Cluster: the call on node
 * A ends the user's sessions on both nodes, with the code and reason it chose, through the channel that carries the
 * session claims, and leaves other users' sessions alone on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type TabwireServer } from '../../src/server/index.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { startRedis } from '../support/redis.ts'
import { startRedisCluster } from '../support/redis-cluster.ts'
import { TestClient } from '../support/ws-client.ts'

const authenticate = (token: string | undefined) => ({ user: token ?? 'nobody' })

const on = (node: TabwireServer, client: string, token: string) =>
  TestClient.hello(`ws://127.0.0.1:${node.port}`, client, { token })

const answers = async (c: TestClient, n: number) => {
  c.send({ t: 'ping', n })
  await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === n))
}

describe.each([
  { layout: 'one Redis', start: startRedis, cluster: false },
  { layout: 'a Redis Cluster', start: startRedisCluster, cluster: true },
])('server.disconnect on two nodes over $layout', ({ start, cluster }) => {
  let redis: { url: string; stop(): Promise<void> }
  let a: TabwireServer
  let b: TabwireServer

  beforeAll(async () => {
    redis = await start()
    const store = () => createRedisStore({ url: redis.url, cluster, prefix: 'dc:', onError: () => {} })
    a = await createServer({ port: 0, authenticate, store: await store() })
    b = await createServer({ port: 0, authenticate, store: await store() })
  }, 60_000)

  afterAll(async () => {
    await a?.close()
    await b?.close()
    await redis?.stop()
  })

  it.each([4401, 4403] as const)(
    "closes the user's sessions on both nodes with %i; other users stay on both",
    async (code) => {
      const aliceA = await on(a, 'a1', 'alice')
      const aliceB = await on(b, 'a2', 'alice')
      const bobA = await on(a, 'b1', 'bob')
      const bobB = await on(b, 'b2', 'bob')
      await a.disconnect('alice', { code, reason: 'account closed' })
      expect(await aliceA.closed).toEqual({ code, reason: 'account closed' })
      expect(await aliceB.closed).toEqual({ code, reason: 'account closed' })
      await answers(bobA, 1)
      await answers(bobB, 2)
      expect([a.connections(), b.connections()]).toEqual([1, 1])
      await Promise.all([bobA.close(), bobB.close()])
    },
  )
})

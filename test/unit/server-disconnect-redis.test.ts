/**
 * `server.disconnect(user)` across two server nodes, on one real Redis and on a real Redis Cluster: the call on node
 * A ends the user's sessions on both nodes, with the code and reason it chose, through the channel that carries the
 * session claims, and leaves other users' sessions alone on both.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
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

  it("a reconnect on the calling node after the call is not ended by the call's echo", async () => {
    const first = await on(a, 'a1', 'alice')
    await a.disconnect('alice', { code: 4401, reason: 'token revoked' })
    expect(await first.closed).toEqual({ code: 4401, reason: 'token revoked' })
    const again = await on(a, 'a1', 'alice')
    const bobA = await on(a, 'b1', 'bob')
    // Both announcements go through the channel's one Redis node, in this order: once node A has heard B's, it has
    // had every chance to hear its own.
    await b.disconnect('bob', { code: 4403, reason: 'gone' })
    expect(await bobA.closed).toEqual({ code: 4403, reason: 'gone' })
    await answers(again, 3)
    expect([a.connections(), b.connections()]).toEqual([1, 0])
    await again.close()
  })

  it('a node hears the disconnects of the others and skips its own echo', async () => {
    const options = { url: redis.url, cluster, prefix: 'echo:', onError: () => {} }
    const [one, two] = await Promise.all([createRedisStore(options), createRedisStore(options)])
    const claims = (store: typeof one) => store.sessionClaims ?? expect.unreachable('a Redis store has session claims')
    const heard: Record<'one' | 'two', unknown[]> = { one: [], two: [] }
    claims(one).onDisconnect((...end) => heard.one.push(end))
    claims(two).onDisconnect((...end) => heard.two.push(end))
    await claims(one).disconnect('alice', 4401, 'first')
    await claims(two).disconnect('bob', 4403, 'second')
    await vi.waitFor(() => expect(heard.one.length + heard.two.length).toBe(2))
    expect(heard).toEqual({ one: [['bob', 4403, 'second']], two: [['alice', 4401, 'first']] })
    await Promise.all([one.close(), two.close()])
  })
})

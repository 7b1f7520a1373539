/**
 * Presence across server nodes sharing a real Redis: members joined on either node are seen on both, a client that
 * moves to the other node within the grace period is taken over with no leave, and a node killed with SIGKILL takes
 * its members with it once its liveness key expires: no ghosts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { PresenceDiffFrame, PresenceListFrame } from '../../src/protocol/presence-frames.ts'
import type { ServerOptions } from '../../src/server/index.ts'
import { createRedisPresence } from '../../src/server/redis-store.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { serverHarness } from '../support/server-harness.ts'
import { TestClient } from '../support/ws-client.ts'

const { serve, hello } = serverHarness()
let redis: RedisServer
const children = new Set<ChildProcess>()
const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })

beforeAll(async () => {
  redis = await startRedis()
})
afterAll(() => redis.stop())
afterEach(() => {
  for (const c of children) c.kill('SIGKILL')
  children.clear()
})

async function node(prefix: string, options: Partial<ServerOptions> = {}) {
  const presenceRegistry = await createRedisPresence({ url: redis.url, prefix, nodeTtl: 600 })
  return serve({ authenticate, presenceRegistry, ...options })
}

const lists = (c: TestClient, from = 0) => c.since(from).filter((f): f is PresenceListFrame => f.t === 'presence')
const diffs = (c: TestClient, from = 0) => c.since(from).filter((f): f is PresenceDiffFrame => f.t === 'pdiff')

async function join(c: TestClient, topic: string, state: string): Promise<PresenceListFrame> {
  const mark = c.frames.length
  c.send({ t: 'pjoin', topic, state })
  await c.waitFor(() => lists(c, mark).length > 0)
  return lists(c, mark)[0] as PresenceListFrame
}

describe('presence on Redis, several nodes', () => {
  it('members of both nodes see each other; a client moving to the other node within the grace period is not seen leaving', async () => {
    const prefix = `t-${randomUUID()}:`
    const n1 = await node(prefix, { presenceGrace: 60_000 })
    const n2 = await node(prefix, { presenceGrace: 60_000 })
    const a = await hello(n1.url, 'ca', { token: 'alice' })
    const b = await hello(n2.url, 'cb', { token: 'bob' })
    await join(a, 'room', 'a')
    const mark = a.frames.length
    const list = await join(b, 'room', 'b')
    expect(list.members.map((m) => [m.user, m.state])).toEqual([
      ['alice', 'a'],
      ['bob', 'b'],
    ])
    await a.waitFor(() => diffs(a, mark).length === 1)
    expect(diffs(a, mark)[0]).toMatchObject({ joined: [{ user: 'bob', client: 'cb', state: 'b' }], left: [] })
    expect((await n1.server.presence('room')).map((m) => m.user)).toEqual(['alice', 'bob'])

    // Bob's connection drops and comes back on node 1: same member, same since; a new state is an update.
    const since = list.members[1]?.since
    await b.close()
    const b2 = await hello(n1.url, 'cb', { token: 'bob' })
    const again = await join(b2, 'room', 'b2')
    expect(again.members.find((m) => m.user === 'bob')).toEqual({ user: 'bob', client: 'cb', state: 'b2', since })
    await a.waitFor(() => diffs(a, mark).length === 2)
    await a.quiet(200)
    expect(diffs(a, mark).slice(1)).toEqual([
      { t: 'pdiff', topic: 'room', joined: [], left: [], updated: [{ user: 'bob', client: 'cb', state: 'b2', since }] },
    ])
    // A leave on node 1 reaches node 2's watchers.
    const c = await hello(n2.url, 'cc', { token: 'carol' })
    await join(c, 'room', 'c')
    const cMark = c.frames.length
    b2.send({ t: 'pleave', topic: 'room' })
    await c.waitFor(() => diffs(c, cMark).length === 1)
    expect(diffs(c, cMark)[0]).toEqual({
      t: 'pdiff',
      topic: 'room',
      joined: [],
      left: [{ user: 'bob', client: 'cb' }],
      updated: [],
    })
  })

  it('a node killed with SIGKILL takes its members with it once its liveness expires; no ghosts', async () => {
    const prefix = `t-${randomUUID()}:`
    const n1 = await node(prefix)
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/support/presence-node-child.ts', redis.url, prefix, '600'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    children.add(child)
    let out = ''
    child.stdout?.setEncoding('utf8')
    const url2 = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: string) => {
        out += chunk
        const m = /^listening (ws:\/\/\S+)$/m.exec(out)
        if (m?.[1]) resolve(m[1])
      })
      child.once('exit', (code) => reject(new Error(`node 2 exited early (${code}): ${out}`)))
    })
    const a = await hello(n1.url, 'ca', { token: 'alice' })
    await join(a, 'room', 'a')
    const ghost = await TestClient.hello(url2, 'cg', { token: 'ghost' })
    await join(ghost, 'room', 'g')
    await a.waitFor(() => diffs(a).some((d) => d.joined.some((m) => m.client === 'cg')))
    const mark = a.frames.length
    child.kill('SIGKILL')
    const killedAt = performance.now()
    // Node 2's grace period is 60 s: only the expiry of its liveness (600 ms) can remove the ghost.
    await a.waitFor(() => diffs(a, mark).length > 0, 10_000)
    expect(performance.now() - killedAt).toBeLessThan(60_000)
    expect(diffs(a, mark)).toEqual([
      { t: 'pdiff', topic: 'room', joined: [], left: [{ user: 'anonymous', client: 'cg' }], updated: [] },
    ])
    expect((await n1.server.presence('room')).map((m) => m.user)).toEqual(['alice'])
    await ghost.close()
  })
})

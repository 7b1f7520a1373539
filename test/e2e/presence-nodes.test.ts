/**
 * Presence across two server nodes sharing a real Redis, with real browsers: a profile on node A and a profile on
 * node B see each other (two members), and when A's connection is moved to node B (a proxy retargets and cuts it),
 * B's tab sees no leave and no join: the member is taken over on the other node within the grace period.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import { createRedisPresence } from '../../src/server/redis-store.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { pageErrors, waitForState } from '../support/e2e.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { createFaultProxy } from '../support/fault-proxy.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { openTab, type Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

const GRACE = 2_000

function members(tab: Tab, count: number): Promise<[string, unknown][]> {
  return until(
    () => `${count} members${pageErrors(tab)}`,
    () => tab.call('presenceMembers', 'room'),
    (m) => m.length === count,
  )
}

describe.each(BROWSERS)('%s: presence on two nodes', (name) => {
  let redis: RedisServer | undefined
  const env = useBrowserApp(name, async (closers) => {
    const r = await startRedis()
    redis = r
    closers.push(onCleanup(() => r.stop()))
  })

  it('a profile on each node: 2 members; moving one to the other node is seen by nobody', async () => {
    if (!redis) throw new Error('beforeAll has not run')
    const redisUrl = redis.url
    const prefix = `t-${randomUUID()}:`
    const closers: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const close of closers.reverse()) await close()
    })
    const node = async () => {
      const presenceRegistry = await createRedisPresence({ url: redisUrl, prefix })
      const server = await createServer({ port: 0, presenceRegistry, presenceGrace: GRACE })
      closers.push(onCleanup(() => server.close()))
      return server
    }
    const a = await node()
    const b = await node()
    const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: a.port } })
    closers.push(onCleanup(() => proxy.close()))
    const namespace = `ns-${randomUUID()}`
    const tabOn = async (port: number) => {
      const context = await env.browser().newContext()
      closers.push(onCleanup(() => context.close()))
      const tab = await openTab(context, env.app().pageUrl(`ws://127.0.0.1:${port}`, namespace))
      await waitForState(tab, 'open')
      return tab
    }
    const onA = await tabOn(proxy.port)
    const onB = await tabOn(b.port)
    await onA.call('presenceJoin', 'room', 'A')
    await onB.call('presenceJoin', 'room', 'B')
    await members(onA, 2)
    await members(onB, 2)
    expect((await a.presence('room')).map((m) => m.state)).toEqual(['A', 'B'])
    expect((await b.presence('room')).map((m) => m.state)).toEqual(['A', 'B'])
    expect(a.connections()).toBe(1)

    const mark = (await onB.call('presenceChanges', 'room')).length
    proxy.retarget({ host: '127.0.0.1', port: b.port })
    proxy.cutAll()
    await until(
      () => 'A on node B',
      () => b.connections(),
      (n) => n === 2,
    )
    // A's list is rebuilt from node B: a sync with both members.
    await until(
      () => `A's new list${pageErrors(onA)}`,
      () => onA.call('presenceChanges', 'room'),
      (c) => c.filter((x) => x.sync).length >= 2 && c.at(-1)?.members.length === 2,
    )
    await onB.call('presenceUpdate', 'room', 'B2')
    await until(
      () => 'B2 at A',
      () => onA.call('presenceMembers', 'room'),
      (m) => m.some(([, s]) => s === 'B2'),
    )
    // Past node A's grace period: the leave it scheduled for A's old connection removed nothing, since node B holds A.
    await new Promise((resolve) => setTimeout(resolve, GRACE + 1_000))
    // Nothing about A reached B: its only change since is none (its own update is not news to it).
    expect(
      (await onB.call('presenceChanges', 'room')).slice(mark).filter((c) => c.left.length + c.joined.length > 0),
    ).toEqual([])
    expect((await b.presence('room')).map((m) => m.state)).toEqual(['A', 'B2'])
  })
})

/**
 * Volatile sends between browser profiles (each a browser context of its own: its own SharedWorker, IndexedDB and
 * socket), on two server nodes sharing one real Redis: what is sent while online reaches the other profile's
 * subscriber on the other node, in order; what is sent while offline is dropped at once and never arrives after the
 * reconnect, nor appears in the log.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer } from '../../src/server/index.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { pageErrors, waitForState } from '../support/e2e.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { openTab, type Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

describe.each(BROWSERS)('%s: volatile across profiles and nodes', (name) => {
  let redis: RedisServer | undefined
  const env = useBrowserApp(name, async (closers) => {
    const r = await startRedis()
    redis = r
    closers.push(onCleanup(() => r.stop()))
  })

  it('online: reaches the other profile on the other node in send order; offline: dropped, never delivered later, never in the log', async () => {
    if (!redis) throw new Error('beforeAll has not run')
    const prefix = `v-${randomUUID()}:`
    const closers: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const close of closers.reverse()) await close()
    })
    const node = async () => {
      const server = await createServer({ port: 0, store: await createRedisStore({ url: redis?.url ?? '', prefix }) })
      closers.push(onCleanup(() => server.close()))
      return server
    }
    const a = await node()
    const b = await node()
    const profile = async (port: number): Promise<Tab> => {
      const context = await env.browser().newContext()
      closers.push(onCleanup(() => context.close()))
      const tab = await openTab(context, env.app().pageUrl(`ws://127.0.0.1:${port}`, `ns-${randomUUID()}`))
      await waitForState(tab, 'open')
      return tab
    }
    const sender = await profile(a.port)
    const receiver = await profile(b.port)
    const topic = `cursor:${randomUUID()}`
    await receiver.call('subscribeVolatile', topic)
    await until(
      'the subscription on node B',
      () => b.subscribers(topic),
      (n) => n === 1,
    )

    for (let i = 1; i <= 20; i++) expect(await sender.call('sendVolatile', topic, { i })).toBe(true)
    const got = await until(
      () => `20 volatile messages${pageErrors(receiver)}`,
      () => receiver.call('volatileReceived', topic),
      (list) => list.length >= 20,
    )
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ({ i: i + 1 })))

    // Node A goes away: the sender's volatile send is dropped at once, and is not sent when A is back.
    await a.stop()
    await waitForState(sender, 'reconnecting')
    expect(await sender.call('sendVolatile', topic, 'while offline')).toBe(false)
    await a.start()
    await waitForState(sender, 'open')
    expect(await sender.call('sendVolatile', topic, 'after')).toBe(true)
    const after = await until(
      () => `the message sent after the reconnect${pageErrors(receiver)}`,
      () => receiver.call('volatileReceived', topic),
      (list) => list.length >= 21,
    )
    expect(after.slice(20)).toEqual(['after'])
    expect(await receiver.call('received', topic)).toEqual([])
    expect((await b.store.read(topic, 0, 100)).msgs).toEqual([])
  })
})

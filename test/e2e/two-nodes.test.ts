/**
 * Several nodes: two tabwire servers (node A and node B, in process, each with its own Redis store and so its own
 * Redis connections) share one `redis-server`, or one Redis Cluster. Tabs reach them directly or through a fault proxy that moves them
 * from A to B (`retarget`, then `cutAll`). The proofs:
 * - a message published on A (by the server or by a tab on A) reaches a tab on B, in the one order of the log;
 * - a tab moved from A to B in the middle of a stream misses and repeats nothing, inbound or outbound;
 * - a pub A accepted whose ack was lost is not sent again (B's `welcome` carries A's counter);
 * - a pub resent to B after A accepted it is re-acked by B and not appended again.
 * The last two hold A's (and B's) store calls at chosen points, so the interleaving is forced, not hoped for.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Body, Json } from '../../src/protocol/frames.ts'
import { createServer } from '../../src/server/index.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import type { PubOutcome, Store } from '../../src/server/store.ts'
import type { TabwireServer } from '../../src/server/types.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { onCleanup } from '../support/cleanup.ts'
import { pageErrors, receivedUpTo, waitForState } from '../support/e2e.ts'
import { useBrowserApp } from '../support/e2e-browser-app.ts'
import { createFaultProxy, type FaultProxy } from '../support/fault-proxy.ts'
import { startRedis } from '../support/redis.ts'
import { startRedisCluster } from '../support/redis-cluster.ts'
import { openTab, type Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

/** A promise the test resolves by hand: holds a store call at a chosen point. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

/**
 * A node's store, watched: every `accept` is counted on entry and its outcomes recorded, and a test may hold it
 * before it reaches Redis (`holdBefore`) or after Redis committed but before the node sees the result (`holdAfter`).
 */
interface Watched {
  store: Store
  entered: number
  outcomes: PubOutcome['kind'][]
  holdBefore: Promise<void> | undefined
  holdAfter: Promise<void> | undefined
}

function watch(inner: Store): Watched {
  const w: Watched = {
    entered: 0,
    outcomes: [],
    holdBefore: undefined,
    holdAfter: undefined,
    store: {
      async accept(user, client, pubs) {
        w.entered++
        if (w.holdBefore) await w.holdBefore
        const outcomes = await inner.accept(user, client, pubs)
        w.outcomes.push(...outcomes.map((o) => o.kind))
        if (w.holdAfter) await w.holdAfter
        return outcomes
      },
      refuse: (user, client, refusal) => inner.refuse(user, client, refusal),
      refusals: (user, client) => inner.refusals(user, client),
      append: (topic, body) => inner.append(topic, body),
      acked: (user, client) => inner.acked(user, client),
      read: (topic, after, limit) => inner.read(topic, after, limit),
      head: (topic) => inner.head(topic),
      onAppend: (listener) => inner.onAppend(listener),
      ...(inner.sessionClaims ? { sessionClaims: inner.sessionClaims } : {}),
      close: () => inner.close(),
    },
  }
  return w
}

interface Node {
  server: TabwireServer
  watched: Watched
  url: string
}

interface Cluster {
  a: Node
  b: Node
  proxy: FaultProxy
  /** A tab in a browser context of its own (its own SharedWorker and IndexedDB), on `wsUrl`. */
  openTab(wsUrl: string): Promise<Tab>
  /** The URL that goes through the proxy (to A until retargeted). */
  proxied: string
  /** `topic`'s whole log as [seq, body] pairs, read from Redis (through B's store). */
  log(topic: string): Promise<[number, Body][]>
}

/**
 * Every engine on one Redis; one engine on a Redis Cluster (three primaries with a replica each): the store's layout
 * does not depend on the browser.
 */
const CASES = [
  ...BROWSERS.map((name) => [name, 'one Redis'] as const),
  ...BROWSERS.slice(0, 1).map((name) => [name, 'a Redis Cluster'] as const),
]

describe.each(CASES)('%s: two nodes on %s', (name, backend) => {
  let redis: { url: string; cluster: boolean } | undefined
  const env = useBrowserApp(name, async (closers) => {
    if (backend === 'a Redis Cluster') {
      const c = await startRedisCluster()
      redis = { url: c.url, cluster: true }
      closers.push(onCleanup(() => c.stop()))
      return
    }
    const r = await startRedis()
    redis = { url: r.url, cluster: false }
    closers.push(onCleanup(() => r.stop()))
  })

  /** Two nodes on a key prefix of their own (tests never share a topic), a proxy in front of A, closed after the test. */
  async function cluster(): Promise<Cluster> {
    if (!redis) throw new Error('beforeAll has not run')
    const pageApp = env.app()
    const liveBrowser = env.browser()
    const { url: redisUrl, cluster: onCluster } = redis
    const prefix = `t-${randomUUID()}:`
    // Closed newest first: tabs, then the proxy, then the nodes, so no tab reconnects into a half-closed cluster.
    const closers: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const close of closers.reverse()) await close()
    })
    const node = async (): Promise<Node> => {
      const watched = watch(await createRedisStore({ url: redisUrl, prefix, cluster: onCluster }))
      const server = await createServer({ port: 0, store: watched.store })
      closers.push(onCleanup(() => server.close()))
      return { server, watched, url: `ws://127.0.0.1:${server.port}` }
    }
    const a = await node()
    const b = await node()
    const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: a.server.port } })
    closers.push(onCleanup(() => proxy.close()))
    const namespace = `ns-${randomUUID()}`
    return {
      a,
      b,
      proxy,
      proxied: `ws://127.0.0.1:${proxy.port}`,
      async openTab(wsUrl) {
        const context = await liveBrowser.newContext()
        closers.push(onCleanup(() => context.close()))
        const tab = await openTab(context, pageApp.pageUrl(wsUrl, namespace))
        await waitForState(tab, 'open')
        return tab
      },
      async log(topic) {
        const r = await b.watched.store.read(topic, 0, 10_000)
        return r.msgs.map((m) => [m.seq, m.body])
      },
    }
  }

  /** Waits until the node has exactly `n` open connections. */
  const connectionsOf = (node: Node, n: number, what: string) =>
    until(
      what,
      () => node.server.connections(),
      (c) => c === n,
    )

  it('a message published on node A, by the server or by a tab on A, reaches a tab on node B', async () => {
    const c = await cluster()
    const onB = await c.openTab(c.b.url)
    const onA = await c.openTab(c.a.url)
    for (const tab of [onA, onB]) await tab.call('subscribe', 'room', 0)
    expect([c.a.server.connections(), c.b.server.connections()]).toEqual([1, 1])

    await c.a.server.publish('room', { from: 'server A', n: 1 })
    await onA.call('send', 'room', [
      { from: 'tab A', n: 2 },
      { from: 'tab A', n: 3 },
    ])
    await onA.call('allAcked', 'room')
    await c.b.server.publish('room', { from: 'server B', n: 4 })

    const expected = [
      { topic: 'room', seq: 1, body: { from: 'server A', n: 1 } },
      { topic: 'room', seq: 2, body: { from: 'tab A', n: 2 } },
      { topic: 'room', seq: 3, body: { from: 'tab A', n: 3 } },
      { topic: 'room', seq: 4, body: { from: 'server B', n: 4 } },
    ]
    expect(await receivedUpTo(onB, 'room', 4)).toEqual(expected)
    expect(await receivedUpTo(onA, 'room', 4)).toEqual(expected)
    // The tab's pubs went to A only, and A published them.
    expect([c.a.watched.outcomes, c.b.watched.outcomes]).toEqual([['published', 'published'], []])
  })

  it('a tab moved from A to B in the middle of a stream misses and repeats nothing, inbound or outbound', async () => {
    const COUNT = 300
    const c = await cluster()
    const tab = await c.openTab(c.proxied)
    await tab.call('subscribe', 'feed', 0)
    await connectionsOf(c.a, 1, 'the tab on A')

    const sent = Array.from({ length: 100 }, (_, i) => ({ n: i + 1 }))
    await tab.call('send', 'chat', sent.slice(0, 50))
    for (let n = 1; n <= COUNT; n++) {
      if (n === 100) {
        // Mid-stream: new connections go to B, the tab's socket to A is reset; publishing goes on meanwhile.
        c.proxy.retarget({ host: '127.0.0.1', port: c.b.server.port })
        c.proxy.cutAll()
        await tab.call('send', 'chat', sent.slice(50))
      }
      if (n === 200) await connectionsOf(c.b, 1, 'the tab to reconnect to B')
      // Both nodes produce into the one log: odd n on A, even n on B.
      await (n % 2 ? c.a : c.b).server.publish('feed', { n })
    }
    await c.a.server.publish('feed', { n: 'end' })

    const expected = [
      ...Array.from({ length: COUNT }, (_, i) => ({ topic: 'feed', seq: i + 1, body: { n: i + 1 } as Json })),
      { topic: 'feed', seq: COUNT + 1, body: { n: 'end' } },
    ]
    const got = await receivedUpTo(tab, 'feed', COUNT + 1)
    expect(got.map((m) => m.seq)).toEqual(expected.map((m) => m.seq))
    expect(got).toEqual(expected)
    expect(await tab.call('resets', 'feed')).toEqual([])

    await tab.call('allAcked', 'chat')
    expect(await tab.call('pending')).toBe(0)
    expect(await c.log('chat')).toEqual(sent.map((body, i) => [i + 1, body]))
    expect([c.a.server.connections(), c.b.server.connections()]).toEqual([0, 1])
    expect(c.proxy.stats().faults.cut).toBeGreaterThanOrEqual(1)
  })

  it('a pub A accepted whose ack was lost is not sent again: B welcomes the tab with A’s counter', async () => {
    const c = await cluster()
    const tab = await c.openTab(c.proxied)
    await tab.call('subscribe', 'chat', 0)
    await connectionsOf(c.a, 1, 'the tab on A')

    // A commits the pub to Redis, then its ack is held: it never leaves A before the socket dies.
    const held = gate()
    c.a.watched.holdAfter = held.promise
    await tab.call('send', 'chat', [{ n: 1 }])
    await until(
      'A to commit the pub',
      () => c.a.watched.outcomes.length,
      (n) => n === 1,
    )
    c.proxy.retarget({ host: '127.0.0.1', port: c.b.server.port })
    c.proxy.cutAll()

    await until(
      () => `the pub to count as acked${pageErrors(tab)}`,
      () => tab.call('pending'),
      (n) => n === 0,
    )
    await tab.call('allAcked', 'chat')
    held.open()
    await tab.call('send', 'chat', [{ n: 2 }])
    await tab.call('allAcked', 'chat')

    expect(c.a.watched.outcomes).toEqual(['published'])
    // B never saw id 1 again: its welcome said 1 was accepted, so only id 2 reached it.
    expect(c.b.watched.outcomes).toEqual(['published'])
    expect(await c.log('chat')).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
    ])
    expect((await receivedUpTo(tab, 'chat', 2)).map((m) => m.seq)).toEqual([1, 2])
  })

  it('a pub resent to B after A accepted it is re-acked by B and held once in the log', async () => {
    const c = await cluster()
    const tab = await c.openTab(c.proxied)
    await tab.call('subscribe', 'chat', 0)
    await connectionsOf(c.a, 1, 'the tab on A')

    // A has the pub but has not reached Redis yet when the tab's socket dies.
    const aGate = gate()
    const bGate = gate()
    c.a.watched.holdBefore = aGate.promise
    c.b.watched.holdBefore = bGate.promise
    await tab.call('send', 'chat', [{ n: 1 }])
    await until(
      'the pub to reach A',
      () => c.a.watched.entered,
      (n) => n === 1,
    )
    c.proxy.retarget({ host: '127.0.0.1', port: c.b.server.port })
    c.proxy.cutAll()

    // B's welcome said 0 (A had not committed), so the tab resends id 1 to B; it waits at B's gate.
    await until(
      () => `the resend to reach B${pageErrors(tab)}`,
      () => c.b.watched.entered,
      (n) => n === 1,
    )
    aGate.open()
    await until(
      'A to commit the pub',
      () => c.a.watched.outcomes.length,
      (n) => n === 1,
    )
    bGate.open()

    await tab.call('allAcked', 'chat')
    expect(await tab.call('pending')).toBe(0)
    await tab.call('send', 'chat', [{ n: 2 }])
    await tab.call('allAcked', 'chat')

    expect(c.a.watched.outcomes).toEqual(['published'])
    expect(c.b.watched.outcomes).toEqual(['duplicate', 'published'])
    expect(await c.log('chat')).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
    ])
    expect(await receivedUpTo(tab, 'chat', 2)).toEqual([
      { topic: 'chat', seq: 1, body: { n: 1 } },
      { topic: 'chat', seq: 2, body: { n: 2 } },
    ])
  })
})

/**
 * `tabwire/sw`'s drain on fake-indexeddb against a real server's HTTP outbox over real sockets: the queue a worker
 * stored reaches the server once and in order, acked records leave the disk as after a socket's `ack` (refused ones
 * into the dead letters), workers of open tabs hear it on the bus, a held owner lock wins, and a server that is down
 * or needs a socket's resync leaves everything queued.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { BusMessage } from '../../../src/worker/bus.ts'
import { ownerLock } from '../../../src/worker/bus.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import { OutboxStore, OutboxWriter } from '../../../src/worker/outbox-store.ts'
import { realClock } from '../../../src/worker/platform.ts'
import { drainOnEvents, drainOutbox, type DrainPlatform } from '../../../src/sw/index.ts'
import { ChannelHub, FakeLocks, freshNamespace, until } from './fakes.ts'
import { cancel, dead, list } from '../../../src/worker/outbox-queries.ts'

// The reference server needs Node's types, which this worker project's tsconfig does not load: imported by a computed
// path, tsc leaves it to vitest (as docs-options.test.ts does with the client's options), and it is typed here by
// the little this test uses of it.
const SERVER_ENTRY = new URL('../../../src/server/index.ts', import.meta.url).href
interface TabwireServer {
  readonly port: number
  store: {
    read(topic: string, after: number, limit: number): Promise<{ msgs: { body: unknown }[] }>
    acked(user: string, client: string): Promise<number>
    refusals(user: string, client: string): Promise<{ id: number; code: string }[]>
  }
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}
interface ServerOptions {
  httpOutbox: boolean
  maxFrameBytes: number
  authorize: (user: string, topic: string) => boolean
  authenticate: (token: string | undefined) => { user: string }
}
const { AuthError, createServer } = (await import(SERVER_ENTRY)) as {
  AuthError: new (message: string, options: { expired: boolean }) => Error
  createServer(options: Partial<ServerOptions> & { port: number }): Promise<TabwireServer>
}

const servers: TabwireServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function serve(options: Partial<ServerOptions> = {}) {
  const server = await createServer({ port: 0, httpOutbox: true, ...options })
  servers.push(server)
  return { server, url: `http://127.0.0.1:${server.port}/outbox` }
}

/** One browser's parts for the drain, with every request it makes counted. */
function browser() {
  const fakeLocks = new FakeLocks()
  const hub = new ChannelHub()
  const requests: number[] = []
  const sent: string[] = []
  /** Every `ifAvailable` lock request: its name, and whether it was held. */
  const lockAsks: string[] = []
  const platform: DrainPlatform = {
    locks: {
      request: (name, _options, grant) => {
        const held = fakeLocks.isHeld(name)
        lockAsks.push(`${name} ${held ? 'held' : 'granted'}`)
        return held ? grant(null) : (fakeLocks.request(name, {}, () => grant({})) as Promise<never>)
      },
    },
    database: (namespace) => new DbHandle(namespace),
    channel: hub.channel,
    fetch: async (input, init) => {
      requests.push(String(init?.body ?? '').length)
      sent.push(String(init?.body ?? ''))
      return fetch(input, init)
    },
    clock: realClock,
  }
  return { platform, fakeLocks, hub, requests, sent, lockAsks }
}

/** Stores `n` messages as a worker does (one call each), then lets the store go, as a closed tab's worker would. */
async function queue(namespace: string, from: number, to: number, topic = 'room'): Promise<void> {
  const db = new DbHandle(namespace)
  const outbox = await OutboxStore.load(db, realClock)
  const writer = new OutboxWriter(outbox, () => undefined)
  for (let i = from; i <= to; i++) await writer.send([{ topic, body: JSON.stringify({ n: i }) }])
  outbox.dispose()
  ;(await db.get()).close()
}

async function onDisk(namespace: string) {
  const db = new DbHandle(namespace)
  const outbox = await OutboxStore.load(db, realClock)
  const left = await list(outbox, 1_000)
  const letters = await dead(outbox, 100)
  const pending = outbox.counters.pending()
  ;(await db.get()).close()
  return { ids: left.map((e) => e.id), dead: letters.map((d) => [d.id, d.code]), pending }
}

const bodiesOf = async (server: TabwireServer, topic = 'room') =>
  (await server.store.read(topic, 0, 1_000)).msgs.map((m) => (m.body as { n: number }).n)

describe('drainOutbox', () => {
  it('delivers the queue once and in order, empties it on disk, and tells open workers on the bus', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 20)
    const { platform, hub, requests } = browser()
    const heard: BusMessage[] = []
    const listener = hub.channel(`tabwire-bus:${namespace}`)
    listener.onmessage = (ev) => heard.push(ev.data as BusMessage)

    const result = await drainOutbox({ url, namespace }, platform)
    expect(result).toEqual({ busy: false, delivered: 20, refused: 0, dropped: 0, pending: 0 })
    expect(await bodiesOf(server)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(requests).toHaveLength(1)
    expect(await onDisk(namespace)).toEqual({ ids: [], dead: [], pending: 0 })
    await until(() => heard.length > 0, 'the bus message')
    expect(heard).toEqual([{ k: 'acked', upTo: 20, v: 1 }])

    // Again: nothing queued, nothing sent.
    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 0,
      refused: 0,
      dropped: 0,
      pending: 0,
    })
    expect(requests).toHaveLength(1)
  })

  it('yields to a worker that holds the owner lock: sends nothing, changes nothing', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 3)
    const { platform, fakeLocks, requests } = browser()
    let release = (): void => undefined
    void fakeLocks.request(ownerLock(namespace), {}, () => new Promise<void>((r) => (release = r)))
    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: true,
      delivered: 0,
      refused: 0,
      dropped: 0,
      pending: 0,
    })
    expect(requests).toEqual([])
    expect(await bodiesOf(server)).toEqual([])
    expect((await onDisk(namespace)).ids).toEqual([1, 2, 3])
    release()
  })

  it('a server that is down leaves everything queued and rejects (the browser retries the sync); the next drain delivers', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 5)
    const { platform } = browser()
    await server.stop()
    await expect(drainOutbox({ url, namespace }, platform)).rejects.toMatchObject({
      name: 'TabwireError',
      code: 'failed',
      message: expect.stringContaining('the HTTP outbox is unreachable; the messages stay queued'),
    })
    expect(await onDisk(namespace)).toEqual({ ids: [1, 2, 3, 4, 5], dead: [], pending: 5 })
    await server.start()
    expect(await drainOutbox({ url, namespace }, platform)).toMatchObject({ delivered: 5, pending: 0 })
    expect(await bodiesOf(server)).toEqual([1, 2, 3, 4, 5])
  })

  it('refused messages go to the dead letters before their ids count as done, and the bus hears `dead` first', async () => {
    const { server, url } = await serve({ authorize: (_u, topic) => topic !== 'secret' })
    const namespace = freshNamespace()
    await queue(namespace, 1, 2)
    await queue(namespace, 3, 3, 'secret')
    await queue(namespace, 4, 4)
    const { platform, hub } = browser()
    const heard: BusMessage[] = []
    hub.channel(`tabwire-bus:${namespace}`).onmessage = (ev) => heard.push(ev.data as BusMessage)
    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 3,
      refused: 1,
      dropped: 0,
      pending: 0,
    })
    expect(await bodiesOf(server)).toEqual([1, 2, 4])
    expect(await onDisk(namespace)).toEqual({ ids: [], dead: [[3, 'forbidden']], pending: 0 })
    await until(() => heard.length > 1, 'both bus messages')
    expect(heard.map((m) => m.k)).toEqual(['dead', 'acked'])
  })

  it('a cancelled and an expired message go as skips: the rest is delivered, their slots refused with their why, no dead letter', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    const expiresAt = Date.now() + 60_000
    const db = new DbHandle(namespace)
    const tab = await OutboxStore.load(db, realClock)
    const writer = new OutboxWriter(tab, () => undefined)
    for (let i = 1; i <= 5; i++)
      await writer.send([{ topic: 'room', body: JSON.stringify({ n: i }), ...(i === 4 ? { expiresAt } : {}) }])
    expect(await cancel(tab, 2)).toEqual({ id: 2, topic: 'room', code: 'cancelled' })
    tab.dispose()
    ;(await db.get()).close()
    const { platform, hub, sent } = browser()
    // The drain runs after #4's expiry passed.
    platform.clock = { ...realClock, now: () => Date.now() + 120_000 }
    const heard: BusMessage[] = []
    hub.channel(`tabwire-bus:${namespace}`).onmessage = (ev) => heard.push(ev.data as BusMessage)

    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 3,
      refused: 0,
      dropped: 2,
      pending: 0,
    })
    expect(await bodiesOf(server)).toEqual([1, 3, 5])
    const client = (await clientOf(namespace)) as string
    expect((await server.store.refusals('anonymous', client)).map((r) => [r.id, r.code])).toEqual([
      [2, 'cancelled'],
      [4, 'expired'],
    ])
    expect(await server.store.acked('anonymous', client)).toBe(5)
    // One request, the two slots as skips in it.
    expect(sent).toHaveLength(1)
    expect(sent[0]).toContain('{"id":2,"skip":"cancelled"}')
    expect(sent[0]).toContain('{"id":4,"skip":"expired"}')
    expect(await onDisk(namespace)).toEqual({ ids: [], dead: [], pending: 0 })
    // Open tabs' workers hear of the expiry before the ack covering it.
    await until(() => heard.length > 1, 'both bus messages')
    expect(heard).toEqual([
      { k: 'dropped', messages: [{ id: 4, topic: 'room', code: 'expired', expiresAt }], v: 1 },
      { k: 'acked', upTo: 5, v: 1 },
    ])
  })

  it('a cancel of a message the drain has taken answers already-sent, and the message is delivered once', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 3)
    const { platform } = browser()
    // A tab's worker beside the drain cancels #2 while the drain's request is on its way.
    const db = new DbHandle(namespace)
    const tab = await OutboxStore.load(db, realClock)
    const post = platform.fetch
    let cancelled: Promise<unknown> | undefined
    platform.fetch = async (input, init) => {
      cancelled ??= cancel(tab, 2).then(
        (dropped) => dropped,
        (e: unknown) => e,
      )
      await cancelled
      return post(input, init)
    }
    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 3,
      refused: 0,
      dropped: 0,
      pending: 0,
    })
    expect(await cancelled).toMatchObject({ name: 'TabwireError', code: 'already-sent' })
    expect(await bodiesOf(server)).toEqual([1, 2, 3])
    expect(await server.store.refusals('anonymous', (await clientOf(namespace)) as string)).toEqual([])
    tab.dispose()
    ;(await db.get()).close()
  })

  it('asks token() for each drain and once more after a 401; the bearer reaches authenticate', async () => {
    const seen: (string | undefined)[] = []
    const { server, url } = await serve({
      authenticate: (token) => {
        seen.push(token)
        if (token !== 'fresh') throw new AuthError('expired', { expired: true })
        return { user: 'alice' }
      },
    })
    const namespace = freshNamespace()
    await queue(namespace, 1, 2)
    const { platform, requests } = browser()
    const tokens = ['stale', 'fresh']
    const result = await drainOutbox({ url, namespace, token: async () => tokens.shift() }, platform)
    expect(result).toMatchObject({ delivered: 2, pending: 0 })
    expect(requests).toHaveLength(2)
    expect(seen).toEqual(['stale', 'fresh'])
    expect(await server.store.acked('alice', (await clientOf(namespace)) ?? '')).toBe(2)
  })

  it('a 413 halves the batch until it fits; a pub that alone is over the limit stops the drain, queued for the socket', async () => {
    const { server, url } = await serve({ maxFrameBytes: 1_500 })
    const namespace = freshNamespace()
    await queue(namespace, 1, 40)
    const { platform, requests } = browser()
    const result = await drainOutbox({ url, namespace }, platform)
    expect(result).toEqual({ busy: false, delivered: 40, refused: 0, dropped: 0, pending: 0 })
    expect(await bodiesOf(server)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    // The first request (all 40) was refused whole; later ones fit.
    expect(requests.length).toBeGreaterThan(2)

    const db = new DbHandle(namespace)
    await new OutboxWriter(await OutboxStore.load(db, realClock), () => undefined).send([
      { topic: 'room', body: JSON.stringify('x'.repeat(2_000)) },
    ])
    ;(await db.get()).close()
    expect(await drainOutbox({ url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 0,
      refused: 0,
      dropped: 0,
      pending: 1,
      stopped: 'too-large',
    })
    expect((await onDisk(namespace)).ids).toEqual([41])
  })

  it('a server that lost its counter (out-of-order): the drain stops and keeps the queue for the socket’s renumbering', async () => {
    const first = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 3)
    const { platform } = browser()
    expect(await drainOutbox({ url: first.url, namespace }, platform)).toMatchObject({ delivered: 3 })
    await queue(namespace, 4, 5)
    const amnesiac = await serve()
    expect(await drainOutbox({ url: amnesiac.url, namespace }, platform)).toEqual({
      busy: false,
      delivered: 0,
      refused: 0,
      dropped: 0,
      pending: 2,
      stopped: 'out-of-order',
    })
    expect((await onDisk(namespace)).ids).toEqual([4, 5])
    expect(await bodiesOf(amnesiac.server)).toEqual([])
  })
})

async function clientOf(namespace: string): Promise<string | undefined> {
  const db = new DbHandle(namespace)
  const client = await (await db.get()).get('meta', 'client')
  ;(await db.get()).close()
  return typeof client === 'string' ? client : undefined
}

/** A service worker's extendable event as the handlers see it; `done` settles as its `waitUntil` promise does. */
class FakeEvent extends Event {
  readonly waited: Promise<unknown>[] = []
  constructor(
    type: string,
    readonly tag?: string,
    readonly lastChance = false,
  ) {
    super(type)
  }
  waitUntil(p: Promise<unknown>): void {
    this.waited.push(p)
  }
}

describe('drainOnEvents', () => {
  it("drains on its namespace's sync only; a busy drain rejects the sync (retried) unless it is the last chance", async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 3)
    const { platform, fakeLocks, requests } = browser()
    const scope = new EventTarget()
    drainOnEvents(
      { url, namespace, also: { start: false, activate: false, push: false, fetch: false } },
      scope as never,
      platform,
    )

    const other = new FakeEvent('sync', 'tabwire-outbox:another')
    scope.dispatchEvent(other)
    expect(other.waited).toEqual([])

    let release = (): void => undefined
    void fakeLocks.request(ownerLock(namespace), {}, () => new Promise<void>((r) => (release = r)))
    const busy = new FakeEvent('sync', `tabwire-outbox:${namespace}`)
    scope.dispatchEvent(busy)
    await expect(busy.waited[0]).rejects.toMatchObject({
      code: 'failed',
      message: expect.stringContaining('retried later'),
    })
    const last = new FakeEvent('sync', `tabwire-outbox:${namespace}`, true)
    scope.dispatchEvent(last)
    await expect(last.waited[0]).resolves.toBeUndefined()
    expect(requests).toEqual([])
    release()

    await until(() => !fakeLocks.isHeld(ownerLock(namespace)), 'the lock to go')
    const sync = new FakeEvent('sync', `tabwire-outbox:${namespace}`)
    scope.dispatchEvent(sync)
    await sync.waited[0]
    expect(await bodiesOf(server)).toEqual([1, 2, 3])
  })

  it('push, activate and fetch drain quietly: a server that is down waits for the next chance, nothing thrown or lost', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 2)
    const { platform } = browser()
    const scope = new EventTarget()
    drainOnEvents({ url, namespace, also: { start: false } }, scope as never, platform)
    await server.stop()
    const push = new FakeEvent('push')
    scope.dispatchEvent(push)
    await expect(push.waited[0]).resolves.toBeUndefined()
    expect((await onDisk(namespace)).ids).toEqual([1, 2])
    await server.start()
    const activate = new FakeEvent('activate')
    scope.dispatchEvent(activate)
    await activate.waited[0]
    expect(await bodiesOf(server)).toEqual([1, 2])
    // A fetch right after a quiet drain does not start another (at most one a minute).
    const fetchEvent = new FakeEvent('fetch')
    scope.dispatchEvent(fetchEvent)
    expect(fetchEvent.waited).toEqual([])
  })

  /**
   * A start of the service worker (`drainOnEvents` called as its script is evaluated, here with a fresh scope each
   * time, as a restarted worker has fresh globals) is awaited through the event that woke it: another namespace's
   * sync, which drains nothing of this one.
   */
  async function start(url: string, namespace: string, platform: DrainPlatform): Promise<EventTarget> {
    const scope = new EventTarget()
    drainOnEvents({ url, namespace }, scope as never, platform)
    const woke = new FakeEvent('sync', 'tabwire-outbox:another')
    scope.dispatchEvent(woke)
    expect(woke.waited).toHaveLength(1)
    await Promise.all(woke.waited)
    return scope
  }

  it('a start drains what is queued, once; a start within the minute does not drain again, a push still does', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    const { platform, requests, lockAsks } = browser()

    // Nothing queued: no drain (not even the lock asked), and no minute starts.
    await start(url, namespace, platform)
    expect([requests, lockAsks]).toEqual([[], []])

    await queue(namespace, 1, 5)
    await start(url, namespace, platform)
    expect(await bodiesOf(server)).toEqual([1, 2, 3, 4, 5])
    expect(requests).toHaveLength(1)
    expect(lockAsks).toEqual([`${ownerLock(namespace)} granted`])
    expect(await onDisk(namespace)).toEqual({ ids: [], dead: [], pending: 0 })

    await queue(namespace, 6, 8)
    const again = await start(url, namespace, platform)
    expect([requests.length, lockAsks.length]).toEqual([1, 1])
    expect(await onDisk(namespace)).toEqual({ ids: [6, 7, 8], dead: [], pending: 3 })
    // Nor does a fetch of this worker's life: the start's minute is the fetches' too.
    const fetchEvent = new FakeEvent('fetch')
    again.dispatchEvent(fetchEvent)
    expect(fetchEvent.waited).toEqual([])

    const push = new FakeEvent('push')
    again.dispatchEvent(push)
    await Promise.all(push.waited)
    expect(await bodiesOf(server)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(requests).toHaveLength(2)
    expect(await onDisk(namespace)).toEqual({ ids: [], dead: [], pending: 0 })
  })

  it('a start while a live worker holds the owner lock sends nothing and leaves the queue to it', async () => {
    const { server, url } = await serve()
    const namespace = freshNamespace()
    await queue(namespace, 1, 3)
    const { platform, fakeLocks, requests, lockAsks } = browser()
    let release = (): void => undefined
    void fakeLocks.request(ownerLock(namespace), {}, () => new Promise<void>((r) => (release = r)))
    await start(url, namespace, platform)
    expect(lockAsks).toEqual([`${ownerLock(namespace)} held`])
    expect(requests).toEqual([])
    expect(await bodiesOf(server)).toEqual([])
    expect(await onDisk(namespace)).toEqual({ ids: [1, 2, 3], dead: [], pending: 3 })
    release()
  })
})

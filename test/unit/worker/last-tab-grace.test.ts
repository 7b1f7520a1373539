/**
 * `lastTabGrace`: when a namespace's last tab leaves a worker that lives on, the socket, the owner lock and that tab's
 * subscriptions stay for the grace, so the next tab (a reload) attaches to a live connection and replays the newest
 * message from the local log; once the grace is over with no tab, the socket closes and the lock passes on.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { Delivery, TabEvents } from '../../../src/protocol/port.ts'
import { ownerLock, workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

const GRACE = 3_000

function fakeTab(id: string) {
  const seen: Delivery[] = []
  const events = fakeTabEvents({ messages: (_sub, msgs) => void seen.push(...msgs) })
  return { tab: new Tab({ id, lock: `lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>), seen }
}

/** A worker (holding its lifetime lock, as `serve()` does) with one tab of the namespace. */
async function worker(name: string, namespace: string, shared: { locks: FakeLocks; hub: ChannelHub }, grace: number) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  let ended = 0
  const config = sessionConfig(namespace, { url: 'ws://server.test/', lastTabGrace: grace })
  const host = new NamespaceHost(config, name, () => void ended++, platform)
  await host.ready
  const first = fakeTab(`${name}-t1`)
  host.attach(first.tab)
  return { host, platform, first, ended: () => ended }
}

/** The worker owns an open socket on which topic `news` holds 1..3, followed by its first tab. */
async function openWithNews(grace: number) {
  const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
  const namespace = freshNamespace()
  const w = await worker('wA', namespace, shared, grace)
  await until(() => w.platform.sockets.all.length === 1, 'the socket')
  const socket = w.platform.sockets.last
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => w.host.state.state === 'open', 'open')
  w.host.subscribe(w.first.tab, 1, 'news', 0)
  await until(() => socket.sent('sub').length === 1, 'the sub')
  socket.receive(...[1, 2, 3].map((seq) => ({ t: 'msg' as const, topic: 'news', seq, epoch: 'e1', body: `m${seq}` })))
  await until(() => w.first.seen.length === 3, 'the first tab has 1..3')
  return { ...w, socket, shared, namespace }
}

describe('lastTabGrace', () => {
  it('a tab attaching within the grace finds the same socket, no second hello, and the newest message from the log', async () => {
    const w = await openWithNews(GRACE)
    w.host.detach(w.first.tab)
    w.platform.clock.advance(GRACE - 1)
    expect(w.host.ended).toBe(false)
    expect(w.socket.closedWith).toBeUndefined()
    // The gone tab's subscription stays routed: the topic is still followed on the server and logged here.
    expect(w.socket.sent('unsub')).toEqual([])
    w.socket.receive({ t: 'msg', topic: 'news', seq: 4, epoch: 'e1', body: 'm4' })

    const next = fakeTab('wA-t2')
    w.host.attach(next.tab)
    w.host.subscribe(next.tab, 1, 'news', 0, { latest: true })
    await until(() => next.seen.length === 1, 'the newest from the local log')
    expect(next.seen).toEqual([{ topic: 'news', seq: 4, body: 'm4' }])
    w.socket.receive({ t: 'msg', topic: 'news', seq: 5, epoch: 'e1', body: 'm5' })
    await until(() => next.seen.length === 2, 'the next live message')
    expect(next.seen.map((m) => m.seq)).toEqual([4, 5])

    // The grace ends with a tab attached: the gone tab's subscription goes, the topic stays followed for the new one.
    w.platform.clock.advance(1)
    expect(w.host.ended).toBe(false)
    expect(w.platform.sockets.all).toHaveLength(1)
    expect(w.socket.sent('hello')).toHaveLength(1)
    expect(w.socket.sent('sub')).toEqual([{ t: 'sub', topic: 'news', after: 0 }])
    expect(w.socket.sent('unsub')).toEqual([])
    expect(w.socket.closedWith).toBeUndefined()
    expect(w.first.seen.map((m) => m.seq)).toEqual([1, 2, 3])
  })

  it('no tab by the end of the grace: the socket closes, the namespace ends and another worker takes the lock', async () => {
    const w = await openWithNews(GRACE)
    const other = await worker('wB', w.namespace, w.shared, GRACE)
    w.host.detach(w.first.tab)
    // Another worker of the namespace (a second release, a dedicated worker) waits for the lock the grace holds.
    w.platform.clock.advance(GRACE - 1)
    await until(() => other.host.state.state === 'open', "B's tab hears the owner's state")
    expect(other.host.stats({ id: 'wB', version: 't', kind: 'shared' }).owner).toBe(false)
    expect(other.platform.sockets.all).toHaveLength(0)
    expect(w.ended()).toBe(0)

    w.platform.clock.advance(1)
    expect(w.ended()).toBe(1)
    expect(w.host.ended).toBe(true)
    expect(w.socket.closedWith?.code).toBe(1000)
    await until(() => other.platform.sockets.all.length === 1, "B's own socket")
    expect(w.shared.locks.isHeld(ownerLock(w.namespace))).toBe(true)
    expect(other.host.stats({ id: 'wB', version: 't', kind: 'shared' }).owner).toBe(true)
  })

  it("under whenHidden: 'disconnect', a tab attaching within the grace lifts the hold the tabless grace set", async () => {
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const platform = fakePlatform(shared)
    const config = sessionConfig(freshNamespace(), {
      url: 'ws://server.test/',
      lastTabGrace: GRACE,
      whenHidden: 'disconnect',
      hiddenGrace: 100,
    })
    const host = new NamespaceHost(config, 'wA', () => undefined, platform)
    await host.ready
    const first = fakeTab('wA-t1')
    host.attach(first.tab)
    await until(() => platform.sockets.all.length === 1, 'the socket')
    platform.sockets.last.open()
    platform.sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => host.state.state === 'open', 'open')

    host.detach(first.tab)
    platform.clock.advance(100)
    expect(host.state.state).toBe('offline')
    host.attach(fakeTab('wA-t2').tab)
    await until(() => platform.sockets.all.length === 2, 'a new socket once a shown tab is back')
    expect(host.state.state).toBe('reconnecting')
  })

  it('the same tab back within the grace (back/forward cache, same id) resubscribes in place of its lingering sub', async () => {
    const w = await openWithNews(GRACE)
    w.host.detach(w.first.tab)
    const back = fakeTab('wA-t1')
    w.host.attach(back.tab)
    w.host.subscribe(back.tab, 1, 'news', 3)
    w.socket.receive({ t: 'msg', topic: 'news', seq: 4, epoch: 'e1', body: 'm4' })
    await until(() => back.seen.length === 1, 'the next message')
    expect(back.seen).toEqual([{ topic: 'news', seq: 4, body: 'm4' }])
    w.platform.clock.advance(GRACE)
    expect(w.host.ended).toBe(false)
    w.socket.receive({ t: 'msg', topic: 'news', seq: 5, epoch: 'e1', body: 'm5' })
    await until(() => back.seen.length === 2, 'still followed after the grace')
    expect(back.seen.map((m) => m.seq)).toEqual([4, 5])
  })

  it('a socket lost during the grace ends the namespace instead of being dialled again for nobody', async () => {
    const w = await openWithNews(GRACE)
    w.host.detach(w.first.tab)
    w.socket.serverClose(1006)
    await until(() => w.ended() === 1, 'the namespace ended')
    w.platform.clock.advance(GRACE)
    await until(() => !w.shared.locks.isHeld(ownerLock(w.namespace)), 'the owner lock released')
    expect(w.platform.sockets.all).toHaveLength(1)
  })

  it('a grace of 0 ends the namespace with its last tab, as before', async () => {
    const w = await openWithNews(0)
    w.host.detach(w.first.tab)
    expect(w.ended()).toBe(1)
    expect(w.socket.closedWith?.code).toBe(1000)
    expect(w.platform.clock.pending()).toEqual([])
  })

  it('a tab that comes and goes within the grace starts it again; the grace stays bounded', async () => {
    const w = await openWithNews(GRACE)
    w.host.detach(w.first.tab)
    w.platform.clock.advance(GRACE / 2)
    const next = fakeTab('wA-t2')
    w.host.attach(next.tab)
    w.host.detach(next.tab)
    w.platform.clock.advance(GRACE - 1)
    expect(w.socket.closedWith).toBeUndefined()
    w.platform.clock.advance(1)
    expect(w.ended()).toBe(1)
    expect(w.socket.closedWith?.code).toBe(1000)
  })
})

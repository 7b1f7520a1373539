/**
 * Two workers of one namespace (two releases after a deploy, or two tabs' dedicated workers) on shared fake locks, a
 * fake BroadcastChannel and one fake-indexeddb: one owns the socket, the other relays; when the owner goes, the
 * follower takes over and resumes every subscription where its tabs stand, with nothing lost or repeated.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { StateInfo, TabEvents } from '../../../src/protocol/port.ts'
import { BUS_VERSION, type BusMessage, ownerLock, workerLock } from '../../../src/worker/bus.ts'
import type { Channel } from '../../../src/worker/platform.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, freshNamespace, until, sessionConfig, fakeTabEvents } from './fakes.ts'

const config = (namespace: string) => sessionConfig(namespace, { url: 'ws://server.test/' })

const WORKER = { id: 'w', version: 'test', kind: 'dedicated' as const }

interface NodeEvents {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): void
  off(event: 'unhandledRejection', listener: (reason: unknown) => void): void
}

/** A tab as the worker sees it, recording every call the worker makes into it. */
function fakeTab(id: string) {
  const seen = { states: [] as StateInfo[], seqs: [] as number[], acked: [] as number[] }
  const events: TabEvents = fakeTabEvents({
    state: (info) => void seen.states.push(info),
    messages: (_sub, msgs) => void seen.seqs.push(...msgs.map((m) => m.seq)),
    acked: (upTo) => void seen.acked.push(upTo),
  })
  const tab = new Tab({ id, lock: `tab-lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>)
  return { tab, seen, lastState: () => seen.states.at(-1)?.state }
}

/** A worker with one tab; it holds its lifetime lock as `serve()` does. */
async function worker(name: string, namespace: string, shared: { locks: FakeLocks; hub: ChannelHub }) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
  await host.ready
  const t = fakeTab(`${name}-tab`)
  host.attach(t.tab)
  return { host, platform, ...t }
}

/** Worker A with one tab, owning the socket of a fresh namespace: open, and welcomed with nothing acked. */
async function openOwner() {
  const namespace = freshNamespace()
  const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
  const a = await worker('wA', namespace, shared)
  await until(() => a.platform.sockets.all.length === 1, "A's socket")
  const sa = a.platform.sockets.last
  sa.open()
  sa.receive({ t: 'welcome', v: 1, acked: 0 })
  return { namespace, shared, a, sa }
}

describe('owner handoff', () => {
  it('the follower relays through the owner, then takes over from where its tab stands', async () => {
    const { namespace, shared, a, sa } = await openOwner()
    const b = await worker('wB', namespace, shared)
    expect(shared.locks.isHeld(ownerLock(namespace))).toBe(true)
    await until(() => b.lastState() === 'open', "B's tab hears the owner's state")
    expect(a.host.stats(WORKER).owner).toBe(true)
    expect(b.host.stats(WORKER).owner).toBe(false)

    // B's tab subscribes: the owner subscribes on the socket and relays what arrives.
    b.host.subscribe(b.tab, 1, 'news', 0)
    await until(() => sa.sent('sub').length === 1, 'the sub on the owner socket')
    expect(sa.sent('sub')).toEqual([{ t: 'sub', topic: 'news', after: 0 }])
    sa.receive(
      { t: 'msg', topic: 'news', seq: 1, epoch: 'e1', body: 1 },
      { t: 'msg', topic: 'news', seq: 2, epoch: 'e1', body: 2 },
    )
    await until(() => b.seen.seqs.length === 2, 'relayed messages')

    // B's send is stored by B; the owner hears `committed` and writes it; the ack comes back to B's tab.
    expect(await b.host.send([{ topic: 'chat', body: '"from B"' }])).toEqual([1])
    await until(() => sa.sent('pub').length === 1, 'the pub on the owner socket')
    expect(sa.sent('pub')).toEqual([{ t: 'pub', id: 1, topic: 'chat', body: 'from B' }])
    sa.receive({ t: 'ack', id: 1 })
    await until(() => b.seen.acked.includes(1), "B's tab hears the ack")

    // A's last tab goes: A lets go of the lock, B becomes the owner and dials its own socket.
    a.host.detach(a.tab)
    expect(sa.closedWith?.code).toBe(1000)
    await until(() => b.platform.sockets.all.length === 1, "B's socket")
    // Sent while nobody owned a socket: it waits in the outbox for B's welcome.
    expect(await b.host.send([{ topic: 'chat', body: '"meanwhile"' }])).toEqual([2])
    const sb = b.platform.sockets.last
    sb.open()
    expect(sb.sent('hello')[0]?.subs).toEqual([{ topic: 'news', after: 2, epoch: 'e1' }])
    sb.receive({ t: 'welcome', v: 1, acked: 1 })
    await until(() => sb.sent('pub').length === 1, 'the resend on B')
    expect(sb.sent('pub')).toEqual([{ t: 'pub', id: 2, topic: 'chat', body: 'meanwhile' }])
    sb.receive(
      { t: 'msg', topic: 'news', seq: 2, epoch: 'e1', body: 2 },
      { t: 'msg', topic: 'news', seq: 3, epoch: 'e1', body: 3 },
    )
    await until(() => b.seen.seqs.length === 3, 'the message after the handoff')
    expect(b.seen.seqs).toEqual([1, 2, 3])
    expect(b.host.stats(WORKER).owner).toBe(true)
    expect(b.lastState()).toBe('open')
  })

  it('a follower resubscribes at a new owner from where its tab stands', async () => {
    const { namespace, shared, a, sa } = await openOwner()
    // C queues for the lock before B, so C is the next owner and B stays a follower throughout.
    const c = await worker('wC', namespace, shared)
    const b = await worker('wB', namespace, shared)
    b.host.subscribe(b.tab, 1, 'news', 0)
    // B routes its subscriptions again at each announcement of the owner it hears (A answers C's join and B's own),
    // and A subscribes a key it serves anew: its socket may see the topic unsubscribed and subscribed again (one task
    // or two apart, as the bus delivers), always ending subscribed once.
    await until(() => sa.sent('sub').length >= 1)
    sa.receive({ t: 'msg', topic: 'news', seq: 1, epoch: 'e1', body: 1 })
    await until(() => b.seen.seqs.length === 1)
    expect(sa.sent('sub').length).toBe(sa.sent('unsub').length + 1)
    expect(new Set([...sa.sent('sub'), ...sa.sent('unsub')].map((f) => f.topic))).toEqual(new Set(['news']))
    a.host.detach(a.tab)
    await until(() => c.platform.sockets.all.length === 1, "C's socket")
    const sc = c.platform.sockets.last
    sc.open()
    sc.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => sc.sent('sub').length === 1, "B's subscription at C")
    expect(sc.sent('sub')).toEqual([{ t: 'sub', topic: 'news', after: 1, epoch: 'e1' }])
    sc.receive({ t: 'msg', topic: 'news', seq: 2, epoch: 'e1', body: 2 })
    await until(() => b.seen.seqs.length === 2)
    expect(b.seen.seqs).toEqual([1, 2])
    expect(b.host.stats(WORKER).owner).toBe(false)
  })

  it("the owner's word that reaches a worker before its storage is open is dropped, not thrown on; its join brings it anew", async () => {
    const thrown: unknown[] = []
    const onUnhandled = (e: unknown) => void thrown.push(e)
    // Node's, which this project's worker types leave out.
    const { process } = globalThis as unknown as { process: NodeEvents }
    process.on('unhandledRejection', onUnhandled)
    try {
      const { namespace, shared, a, sa } = await openOwner()
      expect(await a.host.send([{ topic: 'chat', body: '1' }])).toEqual([1])
      await until(() => sa.sent('pub').length === 1)
      sa.receive({ t: 'ack', id: 1 })
      await until(() => a.seen.acked.includes(1))

      // B starts; before its storage opens, the bus brings it the owner's announcement, an ack and a renumbering
      // (each needs B's outbox), and its tab is attached already, as a port's attach does before it waits.
      const platform = fakePlatform(shared)
      const open = platform.channel
      let bus: Channel | undefined
      platform.channel = (name) => (bus = open(name))
      const b = new NamespaceHost(config(namespace), 'wB', () => undefined, platform)
      const t = fakeTab('wB-tab')
      b.attach(t.tab)
      const arrive = (m: BusMessage) => bus?.onmessage?.({ data: { ...m, v: BUS_VERSION } } as MessageEvent)
      arrive({ k: 'owner', id: 'wA', state: { state: 'open', attempt: 0 }, acked: 1 })
      arrive({ k: 'acked', upTo: 1 })
      arrive({ k: 'renumbered', from: 5, delta: 1 })
      await b.ready
      // The join B posts once its storage is open makes the owner announce itself again: B follows it then.
      await until(() => t.lastState() === 'open', "B's tab hears the owner's state")
      await until(() => b.outbox.counters.acked === 1, 'B follows the owner’s ack')
      expect(t.seen.acked).toContain(1)
      expect(b.stats(WORKER).owner).toBe(false)
      await new Promise((r) => setTimeout(r, 20))
      expect(thrown).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a follower whose worker dies loses its subscriptions at the owner', async () => {
    const { namespace, shared, sa } = await openOwner()
    // C never takes its lifetime lock: the owner's watch is granted at once, as for a worker that just died.
    const platform = fakePlatform(shared)
    const c = new NamespaceHost(config(namespace), 'wC', () => undefined, platform)
    await c.ready
    const ct = fakeTab('wC-tab')
    c.attach(ct.tab)
    c.subscribe(ct.tab, 1, 'news', 0)
    await until(() => sa.sent('unsub').length === 1, 'the unsub after the follower died')
    expect(sa.sent('sub')).toEqual([{ t: 'sub', topic: 'news', after: 0 }])
    expect(sa.sent('unsub')).toEqual([{ t: 'unsub', topic: 'news' }])
  })
})

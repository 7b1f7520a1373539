/**
 * The worker makes one presence member of all its tabs (and the tabs of follower workers): one `pjoin` per topic
 * however many tabs join, `pleave` only when the last handle leaves (at once on `leave()`, after the linger when a
 * tab went away), every topic joined again after a reconnect, and the server's list passed to every handle.
 */
import type { Remote } from 'comlink'
import { beforeAll, describe, expect, it } from 'vitest'
import type { TabEvents } from '../../../src/protocol/port.ts'
import type { PresenceEvent } from '../../../src/protocol/presence-port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { presenceCode } from '../../../src/worker/features.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { PRESENCE_LINGER_MS } from '../../../src/worker/presence.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, freshNamespace, until, sessionConfig, fakeTabEvents } from './fakes.ts'

const config = (namespace: string) => sessionConfig(namespace, { url: 'ws://server.test/' })

function fakeTab(id: string) {
  const events: [number, PresenceEvent][] = []
  const calls = fakeTabEvents({
    presence: (pid: number, event: PresenceEvent) => void events.push([pid, event]),
  })
  return { tab: new Tab({ id, lock: `tab-lock:${id}`, dials: false }, calls as unknown as Remote<TabEvents>), events }
}

async function worker(name: string, namespace: string, shared: { locks: FakeLocks; hub: ChannelHub }) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
  await host.ready
  return { host, platform }
}

const alice = { user: 'alice', client: 'ca', state: 'a', since: 1 }
const bob = { user: 'bob', client: 'cb', state: 'b', since: 2 }

describe('worker presence', () => {
  // What the port call does before a tab's first join (port-api.ts): these tests call the host directly.
  // A join that waits for the code is test/unit/worker/lazy-code.test.ts's.
  beforeAll(() => presenceCode.load())

  it('three tabs joining one topic make one pjoin; each gets the list and the diffs; the last leave() sends pleave', async () => {
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const w = await worker('w1', freshNamespace(), shared)
    const tabs = ['t1', 't2', 't3'].map(fakeTab)
    for (const t of tabs) w.host.attach(t.tab)
    await until(() => w.platform.sockets.all.length === 1)
    const s = w.platform.sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => w.host.state.state === 'open')
    w.host.presenceJoin(tabs[0]!.tab, 1, 'room', 'a')
    w.host.presenceJoin(tabs[1]!.tab, 1, 'room', 'a')
    expect(s.sent('pjoin')).toEqual([{ t: 'pjoin', topic: 'room', state: 'a' }])
    const presenceStats = () => w.host.stats({ id: 'w1', version: 'test', kind: 'shared' }).presence
    expect(presenceStats()).toEqual({ room: { tabs: 2, members: 0 } })
    s.receive({ t: 'presence', topic: 'room', members: [alice] })
    // A tab joining after the list came gets it from the worker; its new state is the member's.
    w.host.presenceJoin(tabs[2]!.tab, 7, 'room', 'a2')
    expect(s.sent('pjoin').length).toBe(1)
    expect(s.sent('pstate')).toEqual([{ t: 'pstate', topic: 'room', state: 'a2' }])
    s.receive({ t: 'pdiff', topic: 'room', joined: [bob], left: [], updated: [] })
    expect(presenceStats()).toEqual({ room: { tabs: 3, members: 2 } })
    for (const [i, t] of tabs.entries())
      expect(t.events).toEqual([
        [i === 2 ? 7 : 1, { kind: 'sync', members: [alice] }],
        [i === 2 ? 7 : 1, { kind: 'diff', joined: [bob], left: [], updated: [] }],
      ])
    w.host.presenceLeave(tabs[0]!.tab, 1)
    w.host.detach(tabs[1]!.tab)
    expect(s.sent('pleave')).toEqual([])
    w.host.presenceLeave(tabs[2]!.tab, 7)
    expect(s.sent('pleave')).toEqual([{ t: 'pleave', topic: 'room' }])
    expect(presenceStats()).toEqual({})
  })

  it('a tab that goes away leaves the member lingering: a tab joining within the linger sends nothing; after it, pleave', async () => {
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const w = await worker('w1', freshNamespace(), shared)
    const keep = fakeTab('keep')
    const a = fakeTab('a')
    const b = fakeTab('b')
    for (const t of [keep, a, b]) w.host.attach(t.tab)
    await until(() => w.platform.sockets.all.length === 1)
    const s = w.platform.sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => w.host.state.state === 'open')
    w.host.presenceJoin(a.tab, 1, 'room', 's')
    s.receive({ t: 'presence', topic: 'room', members: [alice] })
    // a reloads: gone, then back as b, within the linger.
    w.host.detach(a.tab)
    w.platform.clock.advance(PRESENCE_LINGER_MS - 1)
    w.host.presenceJoin(b.tab, 1, 'room', 's')
    expect(b.events).toEqual([[1, { kind: 'sync', members: [alice] }]])
    w.platform.clock.advance(PRESENCE_LINGER_MS * 2)
    expect(s.frames.filter((f) => f.t.startsWith('p') && f.t !== 'ping')).toEqual([
      { t: 'pjoin', topic: 'room', state: 's' },
    ])
    w.host.detach(b.tab)
    w.platform.clock.advance(PRESENCE_LINGER_MS - 1)
    expect(s.sent('pleave')).toEqual([])
    w.platform.clock.advance(1)
    expect(s.sent('pleave')).toEqual([{ t: 'pleave', topic: 'room' }])
  })

  it('after a reconnect every topic is joined again with its last state and the new list replaces the old', async () => {
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const w = await worker('w1', freshNamespace(), shared)
    const t = fakeTab('t')
    w.host.attach(t.tab)
    await until(() => w.platform.sockets.all.length === 1)
    const s1 = w.platform.sockets.last
    // Joined before the socket is open: the pjoin waits for welcome.
    w.host.presenceJoin(t.tab, 1, 'room', 'v1')
    s1.open()
    expect(s1.sent('pjoin')).toEqual([])
    s1.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => s1.sent('pjoin').length === 1)
    s1.receive({ t: 'presence', topic: 'room', members: [alice, bob] })
    w.host.presenceUpdate(t.tab, 1, 'v2')
    s1.serverClose(1001)
    w.platform.clock.advance(1_000)
    await until(() => w.platform.sockets.all.length === 2, 'the next socket')
    const s2 = w.platform.sockets.last
    s2.open()
    s2.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => s2.sent('pjoin').length === 1)
    expect(s2.sent('pjoin')).toEqual([{ t: 'pjoin', topic: 'room', state: 'v2' }])
    // A diff before the new list has nothing to apply to: the list will say it all.
    s2.receive({ t: 'pdiff', topic: 'room', joined: [], left: [bob], updated: [] })
    s2.receive({ t: 'presence', topic: 'room', members: [alice] })
    expect(t.events).toEqual([
      [1, { kind: 'sync', members: [alice, bob] }],
      [1, { kind: 'sync', members: [alice] }],
    ])
  })

  it("a follower worker's tabs join through the owner: one member, the events relayed back", async () => {
    const namespace = freshNamespace()
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const a = await worker('wA', namespace, shared)
    const ta = fakeTab('ta')
    a.host.attach(ta.tab)
    await until(() => a.platform.sockets.all.length === 1)
    const s = a.platform.sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked: 0 })
    const b = await worker('wB', namespace, shared)
    const tb = fakeTab('tb')
    b.host.attach(tb.tab)
    a.host.presenceJoin(ta.tab, 1, 'room', 'x')
    b.host.presenceJoin(tb.tab, 4, 'room', 'x')
    s.receive({ t: 'presence', topic: 'room', members: [alice] })
    await until(() => tb.events.length === 1, "the list reaches B's tab")
    expect(tb.events).toEqual([[4, { kind: 'sync', members: [alice] }]])
    expect(s.sent('pjoin')).toEqual([{ t: 'pjoin', topic: 'room', state: 'x' }])
    a.host.presenceLeave(ta.tab, 1)
    b.host.presenceLeave(tb.tab, 4)
    await until(() => s.sent('pleave').length === 1, 'the pleave once both left')
  })
})

/**
 * `subscribe(topic, fn, { deliver: 'one-tab' })` in the worker, on a scripted socket: each message goes to exactly one
 * of the namespace's tabs subscribed so (a shown one first), one batch at a time until that tab handled it; a tab that
 * goes before it handled a batch hands it to another; followers' tabs (another worker) take part through the bus.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { MsgFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

const config = (namespace: string) => sessionConfig(namespace, { url: 'ws://server.test/' })
const msg = (seq: number): MsgFrame => ({ t: 'msg', topic: 'note', seq, epoch: 'e1', body: `b${seq}` })

/** A tab whose handler holds each batch until the test releases it (or answers at once, with `hold` false). */
function fakeTab(id: string) {
  const got: number[] = []
  const waiting: (() => void)[] = []
  let hold = false
  const events = fakeTabEvents({
    messages: (_sub: number, msgs: Delivery[]) => {
      got.push(...msgs.map((m) => m.seq))
      return hold ? new Promise<void>((r) => waiting.push(r)) : undefined
    },
  })
  const tab = new Tab({ id, lock: `tab-lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>)
  return {
    tab,
    got,
    hold: (on: boolean) => (hold = on),
    waiting: () => waiting.length,
    release: () => {
      for (const r of waiting.splice(0)) r()
    },
  }
}

async function worker(
  name: string,
  namespace: string,
  tabs: number,
  shared = { locks: new FakeLocks(), hub: new ChannelHub() },
) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
  await host.ready
  const made = Array.from({ length: tabs }, (_, i) => fakeTab(`${name}-t${i}`))
  for (const t of made) {
    host.attach(t.tab)
    host.signal(t.tab, 'hidden')
  }
  return { host, platform, tabs: made, shared }
}

async function open(w: Awaited<ReturnType<typeof worker>>) {
  await until(() => w.platform.sockets.all.length === 1, 'the socket')
  const s = w.platform.sockets.last
  s.open()
  s.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => w.host.state.state === 'open', 'open')
  return s
}

describe("deliver: 'one-tab'", () => {
  it('each message to exactly one tab, the shown one first; the topic is followed once', async () => {
    const w = await worker('w1', freshNamespace(), 3)
    const s = await open(w)
    const [a, b, c] = w.tabs
    if (!a || !b || !c) throw new Error('no tabs')
    for (const [i, t] of w.tabs.entries()) w.host.subscribe(t.tab, i + 1, 'note', 0, { oneTab: true })
    w.host.signal(b.tab, 'visible')
    for (let seq = 1; seq <= 30; seq++) s.receive(msg(seq))
    await until(() => a.got.length + b.got.length + c.got.length === 30, 'all 30')
    expect(b.got).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect([a.got, c.got]).toEqual([[], []])
    expect(s.sent('sub')).toEqual([{ t: 'sub', topic: 'note', after: 0 }])

    // None shown: still exactly one of them gets each.
    w.host.signal(b.tab, 'hidden')
    for (let seq = 31; seq <= 40; seq++) s.receive(msg(seq))
    await until(() => a.got.length + b.got.length + c.got.length === 40, 'all 40')
    expect([...a.got, ...b.got, ...c.got].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
  })

  it('a tab that goes before it handled a batch hands it to another; nothing twice at once, nothing lost', async () => {
    const w = await worker('w1', freshNamespace(), 2)
    const s = await open(w)
    const [a, b] = w.tabs
    if (!a || !b) throw new Error('no tabs')
    w.host.subscribe(a.tab, 1, 'note', 0, { oneTab: true })
    w.host.subscribe(b.tab, 1, 'note', 0, { oneTab: true })
    w.host.signal(a.tab, 'visible')
    a.hold(true)
    s.receive(msg(1))
    s.receive(msg(2))
    await until(() => a.waiting() === 1, 'a holds seq 1')
    // While a holds seq 1, nobody else gets it, nor what comes after it.
    await new Promise((r) => setTimeout(r, 20))
    expect([a.got, b.got]).toEqual([[1], []])
    w.host.detach(a.tab)
    await until(() => b.got.length === 2, 'b gets 1 and 2')
    expect(b.got).toEqual([1, 2])
    expect(a.got).toEqual([1])
  })

  it("a follower's tabs take part: the owner hands batches to them over the bus", async () => {
    const namespace = freshNamespace()
    const owner = await worker('wA', namespace, 1)
    const s = await open(owner)
    const follower = await worker('wB', namespace, 1, owner.shared)
    await until(() => follower.host.state.state === 'open', "the follower hears 'open'")
    const [a] = owner.tabs
    const [b] = follower.tabs
    if (!a || !b) throw new Error('no tabs')
    owner.host.subscribe(a.tab, 1, 'note', 0, { oneTab: true })
    follower.host.subscribe(b.tab, 1, 'note', 0, { oneTab: true })
    // Only the follower's tab is shown: the owner prefers it once the follower reported it.
    follower.host.signal(b.tab, 'visible')
    await new Promise((r) => setTimeout(r, 20))
    for (let seq = 1; seq <= 10; seq++) s.receive(msg(seq))
    await until(() => a.got.length + b.got.length === 10, 'all 10')
    expect(b.got).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(a.got).toEqual([])
    expect(s.sent('sub')).toEqual([{ t: 'sub', topic: 'note', after: 0 }])
  })
})

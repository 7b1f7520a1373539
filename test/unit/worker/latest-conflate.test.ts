/**
 * `latest` and `conflate` subscriptions through one NamespaceHost that owns a scripted socket: where the newest
 * message comes from (the server's `latest` reset, or the worker's own log when the topic is already followed), what
 * a conflating tab gets while its handler is busy or it is hidden, and what is asked of the server after a reconnect.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { MsgFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, ResetNotice, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { Conflator } from '../../../src/worker/conflator.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, freshNamespace, until, sessionConfig, fakeTabEvents } from './fakes.ts'

const config = (namespace: string) =>
  sessionConfig(namespace, {
    url: 'ws://server.test/',
    reconnect: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 },
  })

/** A tab whose `messages` answers at once, or, while `busy`, only when the test releases it. */
function fakeTab(id: string) {
  const got: number[][] = []
  const bodies: unknown[] = []
  const resets: ResetNotice[] = []
  let busy = false
  const waiting: (() => void)[] = []
  const events = fakeTabEvents({
    messages: (_sub: number, msgs: Delivery[]) => {
      got.push(msgs.map((m) => m.seq))
      bodies.push(...msgs.map((m) => m.body))
      return busy ? new Promise<void>((r) => waiting.push(r)) : Promise.resolve()
    },
    reset: (_sub: number, n: ResetNotice) => void resets.push(n),
  })
  return {
    tab: new Tab({ id, lock: `lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>),
    got,
    bodies,
    seqs: () => got.flat(),
    resets,
    busy: (on: boolean) => (busy = on),
    release: () => {
      for (const r of waiting.splice(0)) r()
    },
  }
}

const EPOCH = 'e1'
const msg = (topic: string, seq: number): MsgFrame => ({ t: 'msg', topic, seq, epoch: EPOCH, body: `b${seq}` })
const msgs = (topic: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => msg(topic, from + i))

async function openHost(tabs: number) {
  const platform = fakePlatform()
  const host = new NamespaceHost(config(freshNamespace()), 'w1', () => undefined, platform)
  await host.ready
  const made = Array.from({ length: tabs }, (_, i) => fakeTab(`t${i}`))
  for (const t of made) host.attach(t.tab)
  await until(() => platform.sockets.all.length === 1, 'the socket')
  const welcome = async () => {
    platform.sockets.last.open()
    platform.sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => host.state.state === 'open')
  }
  await welcome()
  return { host, platform, tabs: made, welcome, socket: () => platform.sockets.last }
}

describe('subscribe with latest', () => {
  it('when nobody follows the topic, asks the server (sub latest) and starts at its latest reset; the tab sees no reset', async () => {
    const { host, tabs, socket } = await openHost(1)
    const [a] = tabs
    if (!a) throw new Error('no tab')
    host.subscribe(a.tab, 1, 'cpu', 0, { latest: true })
    // A task's subscription frames leave at its end.
    await Promise.resolve()
    expect(socket().sent('sub')).toEqual([{ t: 'sub', topic: 'cpu', after: 0, latest: true }])
    socket().receive({ t: 'reset', topic: 'cpu', seq: 41, epoch: EPOCH, reason: 'latest' }, msg('cpu', 42))
    socket().receive(msg('cpu', 43))
    await until(() => a.seqs().length === 2, 'two messages')
    expect(a.got).toEqual([[42], [43]])
    expect(a.resets).toEqual([])
  })

  it('nothing before the latest reset reaches it, and an empty topic starts with the first message', async () => {
    const { host, tabs, socket } = await openHost(1)
    const [a] = tabs
    if (!a) throw new Error('no tab')
    host.subscribe(a.tab, 1, 'cpu', 0, { latest: true })
    // Still in flight from an older subscription of the topic: not the newest, and not shown.
    socket().receive(msg('cpu', 1))
    socket().receive({ t: 'reset', topic: 'cpu', seq: 0, epoch: 'e2', reason: 'latest' })
    socket().receive({ ...msg('cpu', 1), epoch: 'e2', body: 'new' })
    await until(() => a.seqs().length === 1, 'one message')
    await new Promise((r) => setTimeout(r, 10))
    expect(a.got).toEqual([[1]])
    expect(a.bodies).toEqual(['new'])
    expect(a.resets).toEqual([])
  })

  it('when another tab already follows the topic, the worker serves its own newest from the local log: no second sub', async () => {
    const { host, tabs, socket } = await openHost(2)
    const [a, b] = tabs
    if (!a || !b) throw new Error('no tabs')
    host.subscribe(a.tab, 1, 'cpu', 0)
    socket().receive(...msgs('cpu', 1, 5))
    await until(() => a.seqs().length === 5, 'tab a caught up')
    host.subscribe(b.tab, 1, 'cpu', 0, { latest: true })
    await until(() => b.seqs().length === 1, 'the newest for tab b')
    socket().receive(msg('cpu', 6))
    await until(() => b.seqs().length === 2 && a.seqs().length === 6, 'the live message')
    expect(b.got).toEqual([[5], [6]])
    expect(a.seqs()).toEqual([1, 2, 3, 4, 5, 6])
    expect(socket().sent('sub')).toEqual([{ t: 'sub', topic: 'cpu', after: 0 }])
    expect(socket().sent('fetch')).toEqual([])
  })

  it('a full-history tab that joins before the latest reset arrives still gets every seq (fetched), with no reset', async () => {
    const { host, tabs, socket } = await openHost(2)
    const [a, b] = tabs
    if (!a || !b) throw new Error('no tabs')
    host.subscribe(a.tab, 1, 'cpu', 0, { latest: true })
    host.subscribe(b.tab, 1, 'cpu', 0)
    socket().receive({ t: 'reset', topic: 'cpu', seq: 9, epoch: EPOCH, reason: 'latest' }, msg('cpu', 10))
    await until(() => socket().sent('fetch').length === 1, 'a fetch for the older messages')
    const [f] = socket().sent('fetch')
    expect(f).toMatchObject({ topic: 'cpu', after: 0, limit: 9 })
    socket().receive({
      t: 'range',
      req: f?.req ?? 0,
      topic: 'cpu',
      msgs: msgs('cpu', 1, 9).map(({ seq, epoch, body }) => ({ seq, epoch, body })),
      done: true,
    })
    await until(() => b.seqs().length === 10, 'tab b has all ten')
    expect(b.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(b.resets).toEqual([])
    expect(a.got).toEqual([[10]])
  })
})

describe('subscribe with conflate', () => {
  it('while the handler is busy, newer messages replace each other: the tab gets exactly the first and the newest', async () => {
    const { host, tabs, socket } = await openHost(1)
    const [a] = tabs
    if (!a) throw new Error('no tab')
    a.busy(true)
    host.subscribe(a.tab, 1, 'cpu', 0, { conflate: true })
    // A task's subscription frames leave at its end.
    await Promise.resolve()
    expect(socket().sent('sub')).toEqual([{ t: 'sub', topic: 'cpu', after: 0, latest: true }])
    socket().receive({ t: 'reset', topic: 'cpu', seq: 0, epoch: EPOCH, reason: 'latest' }, msg('cpu', 1))
    await until(() => a.seqs().length === 1, 'the first message')
    for (let seq = 2; seq <= 20; seq++) socket().receive(msg('cpu', seq))
    await until(() => host.stats({ id: 'w1', version: 'x', kind: 'shared' }).cursors.cpu === 20, 'the worker took 20')
    await new Promise((r) => setTimeout(r, 10))
    expect(a.got).toEqual([[1]])
    a.busy(false)
    a.release()
    await until(() => a.seqs().length === 2, 'the newest')
    socket().receive(msg('cpu', 21))
    await until(() => a.seqs().length === 3, 'the next live one')
    expect(a.got).toEqual([[1], [20], [21]])
    expect(a.resets).toEqual([])
  })

  it('a hidden tab gets nothing until it shows, then only the newest', async () => {
    const { host, tabs, socket } = await openHost(1)
    const [a] = tabs
    if (!a) throw new Error('no tab')
    host.subscribe(a.tab, 1, 'cpu', 0, { conflate: true })
    socket().receive({ t: 'reset', topic: 'cpu', seq: 0, epoch: EPOCH, reason: 'latest' }, msg('cpu', 1))
    await until(() => a.seqs().length === 1, 'the first message')
    host.signal(a.tab, 'hidden')
    socket().receive(...msgs('cpu', 2, 6))
    socket().receive(msg('cpu', 7))
    await until(() => host.stats({ id: 'w1', version: 'x', kind: 'shared' }).cursors.cpu === 7, 'the worker took 7')
    await new Promise((r) => setTimeout(r, 10))
    expect(a.got).toEqual([[1]])
    host.signal(a.tab, 'visible')
    await until(() => a.seqs().length === 2, 'the newest')
    expect(a.got).toEqual([[1], [7]])
  })

  it('after a reconnect, a topic only conflating tabs follow asks for the newest: the backlog is skipped', async () => {
    const { host, tabs, socket, platform, welcome } = await openHost(2)
    const [a, b] = tabs
    if (!a || !b) throw new Error('no tabs')
    host.subscribe(a.tab, 1, 'cpu', 0, { conflate: true })
    host.subscribe(b.tab, 1, 'log', 0)
    socket().receive({ t: 'reset', topic: 'cpu', seq: 2, epoch: EPOCH, reason: 'latest' }, msg('cpu', 3))
    await until(() => a.seqs().length === 1, 'the first message')
    socket().serverClose(1012)
    platform.clock.advance(1_000)
    await until(() => platform.sockets.all.length === 2, 'the second socket')
    await welcome()
    expect(socket().sent('hello')[0]?.subs).toEqual([
      { topic: 'cpu', after: 3, epoch: EPOCH, latest: true },
      { topic: 'log', after: 0 },
    ])
    socket().receive({ t: 'reset', topic: 'cpu', seq: 499, epoch: EPOCH, reason: 'latest' }, msg('cpu', 500))
    await until(() => a.seqs().length === 2, 'the newest after the reconnect')
    expect(a.got).toEqual([[3], [500]])
    expect(a.resets).toEqual([])
  })

  it.each([
    { mode: { latest: true }, why: 'a latest subscription', seqs: [4, 5] },
    // Both came in one message: a conflating tab is handed the newer.
    { mode: { conflate: true }, why: 'a conflating one', seqs: [5] },
  ])(
    '$why past the newest the server holds (a reset far ahead before): an ahead reset at the latest one, then it flows',
    async ({ mode, seqs }) => {
      const { host, tabs, socket, platform, welcome } = await openHost(1)
      const [a] = tabs
      if (!a) throw new Error('no tab')
      host.subscribe(a.tab, 1, 'cpu', 0, mode)
      // A server that put the topic a million seqs on, then went away.
      socket().receive({ t: 'reset', topic: 'cpu', seq: 1_000_000, epoch: EPOCH, reason: 'ahead' })
      await until(() => a.resets.length === 1, 'the first reset')
      socket().serverClose(1012)
      platform.clock.advance(1_000)
      await until(() => platform.sockets.all.length === 2, 'the second socket')
      await welcome()
      expect(socket().sent('hello')[0]?.subs).toEqual([{ topic: 'cpu', after: 1_000_000, epoch: EPOCH, latest: true }])
      socket().receive(
        { t: 'reset', topic: 'cpu', seq: 3, epoch: EPOCH, reason: 'latest' },
        msg('cpu', 4),
        msg('cpu', 5),
      )
      await until(() => a.seqs().at(-1) === 5, 'the messages after the reset')
      expect(a.resets).toEqual([
        { topic: 'cpu', seq: 1_000_000, reason: 'ahead' },
        { topic: 'cpu', seq: 3, reason: 'ahead' },
      ])
      expect(a.seqs()).toEqual(seqs)
    },
  )

  it('a conflating tab beside a full-history one: the server replays everything, the conflating tab skips', async () => {
    const { host, tabs, socket } = await openHost(2)
    const [a, b] = tabs
    if (!a || !b) throw new Error('no tabs')
    host.subscribe(b.tab, 1, 'cpu', 0)
    host.subscribe(a.tab, 1, 'cpu', 0, { conflate: true })
    a.busy(true)
    socket().receive(msg('cpu', 1))
    await until(() => a.seqs().length === 1 && b.seqs().length === 1, 'both have 1')
    socket().receive(...msgs('cpu', 2, 9))
    await until(() => b.seqs().length === 9, 'b has all')
    a.busy(false)
    a.release()
    await until(() => a.seqs().length === 2, 'a has the newest')
    expect(a.got).toEqual([[1], [9]])
    expect(b.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(socket().sent('sub')).toEqual([{ t: 'sub', topic: 'cpu', after: 0 }])
  })
})

describe('Conflator', () => {
  it('holds one message at most, sends the newest once the tab answers, and nothing while held', async () => {
    const sent: number[][] = []
    let answer: (() => void) | undefined
    const c = new Conflator((m) => {
      sent.push(m.map((x) => x.seq))
      return new Promise<void>((r) => (answer = r))
    }, true)
    const d = (seq: number): Delivery => ({ topic: 't', seq, body: seq })
    c.push([d(1), d(2)])
    expect(sent).toEqual([])
    c.hold(false)
    expect(sent).toEqual([[2]])
    c.push([d(3)])
    c.push([d(4), d(5)])
    expect(sent).toEqual([[2]])
    answer?.()
    await until(() => sent.length === 2)
    expect(sent).toEqual([[2], [5]])
    answer?.()
    await new Promise((r) => setTimeout(r, 5))
    expect(sent).toEqual([[2], [5]])
  })
})

describe('latest and conflate through a follower worker', () => {
  it('the follower relays the mode: the owner asks for the newest, the conflating tab is paced where it lives, and a new owner asks again', async () => {
    const namespace = freshNamespace()
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const start = async (name: string) => {
      const platform = fakePlatform(shared)
      void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
      const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
      await host.ready
      const t = fakeTab(`${name}-tab`)
      host.attach(t.tab)
      return { host, platform, t }
    }
    const a = await start('wA')
    await until(() => a.platform.sockets.all.length === 1, "A's socket")
    const sa = a.platform.sockets.last
    sa.open()
    sa.receive({ t: 'welcome', v: 1, acked: 0 })
    const b = await start('wB')
    await until(() => b.host.state.state === 'open', "B hears the owner's state")

    b.t.busy(true)
    b.host.subscribe(b.t.tab, 1, 'cpu', 0, { latest: true, conflate: true })
    await until(() => sa.sent('sub').length === 1, 'the sub on the owner socket')
    expect(sa.sent('sub')).toEqual([{ t: 'sub', topic: 'cpu', after: 0, latest: true }])
    sa.receive({ t: 'reset', topic: 'cpu', seq: 9, epoch: EPOCH, reason: 'latest' }, msg('cpu', 10))
    await until(() => b.t.seqs().length === 1, 'the newest, relayed')
    sa.receive(...msgs('cpu', 11, 15))
    await until(() => a.host.stats({ id: 'wA', version: 'x', kind: 'shared' }).cursors.cpu === 15, 'the owner took 15')
    await new Promise((r) => setTimeout(r, 20))
    expect(b.t.got).toEqual([[10]])
    b.t.busy(false)
    b.t.release()
    await until(() => b.t.seqs().length === 2, 'the newest after the busy handler')
    expect(b.t.got).toEqual([[10], [15]])

    a.host.detach(a.t.tab)
    await until(() => b.platform.sockets.all.length === 1, "B's socket")
    const sb = b.platform.sockets.last
    sb.open()
    expect(sb.sent('hello')[0]?.subs).toEqual([{ topic: 'cpu', after: 15, epoch: EPOCH, latest: true }])
    sb.receive(
      { t: 'welcome', v: 1, acked: 0 },
      { t: 'reset', topic: 'cpu', seq: 29, epoch: EPOCH, reason: 'latest' },
      msg('cpu', 30),
    )
    await until(() => b.t.seqs().length === 3, 'the newest from the new owner')
    expect(b.t.got).toEqual([[10], [15], [30]])
    expect(b.t.resets).toEqual([])
  })
})

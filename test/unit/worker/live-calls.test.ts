/**
 * Volatile sends and requests through the worker, owner and follower alike, on fake locks, a fake BroadcastChannel
 * and a scripted socket: what is written to the socket (counted per WebSocket message), and what each tab hears.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { RequestOutcome, StateInfo, TabEvents, VolatileDelivery } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { MAX_PENDING_REQUESTS } from '../../../src/worker/request-limit.ts'
import { Tab } from '../../../src/worker/tab.ts'
import {
  ChannelHub,
  FakeLocks,
  countMessages,
  fakePlatform,
  freshNamespace,
  until,
  sessionConfig,
  fakeTabEvents,
} from './fakes.ts'

const config = (namespace: string) => sessionConfig(namespace, { url: 'ws://server.test/' })

function fakeTab(id: string) {
  const seen = {
    states: [] as StateInfo[],
    volatile: [] as [number, VolatileDelivery[]][],
    replies: [] as [number, RequestOutcome][],
  }
  const events = fakeTabEvents({
    state: (info) => void seen.states.push(info),
    volatile: (sub, msgs) => void seen.volatile.push([sub, msgs]),
    replied: (req, outcome) => void seen.replies.push([req, outcome]),
  })
  const tab = new Tab({ id, lock: `tab-lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>)
  return { tab, seen, lastState: () => seen.states.at(-1)?.state }
}

async function worker(name: string, namespace: string, shared: { locks: FakeLocks; hub: ChannelHub }) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
  await host.ready
  const t = fakeTab(`${name}-tab`)
  host.attach(t.tab)
  return { host, platform, ...t }
}

async function ownerAndFollower() {
  const namespace = freshNamespace()
  const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
  const a = await worker('wA', namespace, shared)
  await until(() => a.platform.sockets.all.length === 1, "A's socket")
  const socket = a.platform.sockets.last
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => a.lastState() === 'open', 'open')
  const b = await worker('wB', namespace, shared)
  await until(() => b.lastState() === 'open', "the follower hears 'open'")
  return { a, b, socket, namespace, hub: shared.hub }
}

/** The volatile messages put on the namespace's bus, each post as one list, heard by a third channel. */
function busVmsgs(hub: ChannelHub, namespace: string): VolatileDelivery[][] {
  const posts: VolatileDelivery[][] = []
  hub.channel(`tabwire-bus:${namespace}`).onmessage = (ev) => {
    const m = ev.data as { k: string; msgs?: VolatileDelivery[] }
    if (m.k === 'vmsg' && m.msgs) posts.push(m.msgs)
  }
  return posts
}

/** Lets the bus (which delivers on a timer) carry anything posted so far. */
const busTurn = () => new Promise((r) => setTimeout(r, 20))

describe('volatile sends in the worker', () => {
  it('one task of volatile sends is one WebSocket message; a follower hands its own to the owner', async () => {
    const { a, b, socket } = await ownerAndFollower()
    const count = countMessages(socket)
    expect(a.host.sendVolatile([{ topic: 'cursor', body: '{"x":1}' }])).toBe(true)
    expect(
      a.host.sendVolatile([
        { topic: 'cursor', body: '{"x":2}' },
        { topic: 'cursor', body: '{"x":3}' },
      ]),
    ).toBe(true)
    await until(() => socket.sent('vpub').length === 3, 'three vpubs')
    expect(count.messages).toBe(1)
    expect(b.host.sendVolatile([{ topic: 'cursor', body: '"from b"' }])).toBe(true)
    await until(() => socket.sent('vpub').length === 4, "the follower's vpub")
    expect(socket.sent('vpub')).toEqual([
      { t: 'vpub', topic: 'cursor', body: { x: 1 } },
      { t: 'vpub', topic: 'cursor', body: { x: 2 } },
      { t: 'vpub', topic: 'cursor', body: { x: 3 } },
      { t: 'vpub', topic: 'cursor', body: 'from b' },
    ])
    expect(socket.sent('pub')).toEqual([])
    expect(a.host.pending()).toBe(0)
  })

  it('with the socket down a volatile send is dropped at once, and nothing of it is sent after the reconnect', async () => {
    const { a, b, socket } = await ownerAndFollower()
    socket.serverClose(1006)
    await until(() => b.lastState() === 'reconnecting', "the follower hears 'reconnecting'")
    expect(a.host.sendVolatile([{ topic: 't', body: '1' }])).toBe(false)
    expect(b.host.sendVolatile([{ topic: 't', body: '2' }])).toBe(false)
    a.platform.clock.advance(1_000)
    await until(() => a.platform.sockets.all.length === 2, 'a new socket')
    const again = a.platform.sockets.last
    again.open()
    again.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => a.lastState() === 'open', 'open again')
    again.receive({ t: 'pong', n: 0 })
    expect(again.sent('vpub')).toEqual([])
    expect(socket.sent('vpub')).toEqual([])
  })

  it('a vmsg reaches the volatile subscriptions of the topic in both workers, and no other', async () => {
    const { a, b, socket } = await ownerAndFollower()
    a.host.subscribe(a.tab, 1, 'cursor', 0, { volatile: true })
    a.host.subscribe(a.tab, 2, 'cursor', 0)
    b.host.subscribe(b.tab, 7, 'cursor', 0, { volatile: true })
    b.host.subscribe(b.tab, 8, 'other', 0, { volatile: true })
    // The follower's subscriptions reach the owner over the bus: only then does it pass the topic's volatile on.
    await busTurn()
    socket.receive({ t: 'vmsg', topic: 'cursor', body: { x: 5 } }, { t: 'vmsg', topic: 'cursor', body: { x: 6 } })
    await until(() => b.seen.volatile.length === 1, 'the follower tab')
    // One WebSocket message: one call into each tab's subscription, holding both, in order.
    const both = [
      { topic: 'cursor', body: { x: 5 } },
      { topic: 'cursor', body: { x: 6 } },
    ]
    expect(a.seen.volatile).toEqual([[1, both]])
    expect(b.seen.volatile).toEqual([[7, both]])
  })

  it('the owner puts a vmsg on the bus only for topics a follower tab follows with volatile: true', async () => {
    const { a, b, socket, namespace, hub } = await ownerAndFollower()
    const posted = busVmsgs(hub, namespace)
    a.host.subscribe(a.tab, 1, 'cursor', 0, { volatile: true })
    b.host.subscribe(b.tab, 7, 'other', 0)
    await until(() => socket.sent('sub').some((f) => f.topic === 'other'), "the follower's durable sub")
    socket.receive({ t: 'vmsg', topic: 'cursor', body: 1 }, { t: 'vmsg', topic: 'other', body: 2 })
    await until(() => a.seen.volatile.length === 1, "the owner's tab")
    await busTurn()
    expect(posted).toEqual([])

    b.host.subscribe(b.tab, 8, 'pointer', 0, { volatile: true })
    await until(() => socket.sent('sub').some((f) => f.topic === 'pointer'), "the follower's volatile sub")
    socket.receive(
      { t: 'vmsg', topic: 'cursor', body: 3 },
      { t: 'vmsg', topic: 'pointer', body: 4 },
      { t: 'vmsg', topic: 'other', body: 5 },
    )
    await until(() => b.seen.volatile.length === 1, 'the follower tab')
    expect(b.seen.volatile).toEqual([[8, [{ topic: 'pointer', body: 4 }]]])
    expect(posted).toEqual([[{ topic: 'pointer', body: 4 }]])

    b.host.unsubscribe(b.tab, 8)
    await until(() => socket.sent('unsub').some((f) => f.topic === 'pointer'), "the follower's unsub")
    socket.receive({ t: 'vmsg', topic: 'pointer', body: 6 }, { t: 'vmsg', topic: 'cursor', body: 7 })
    await until(() => a.seen.volatile.length === 3, "the owner's tab again")
    await busTurn()
    expect(posted).toHaveLength(1)
    expect(a.seen.volatile.map(([, msgs]) => msgs.map((m) => m.body))).toEqual([[1], [3], [7]])
  })
})

describe('requests in the worker', () => {
  it('requests from the owner and a follower each get their own reply, with wire ids of the owner', async () => {
    const { a, b, socket } = await ownerAndFollower()
    a.host.request(a.tab, 1, 'add', '[1,2]', 5_000)
    b.host.request(b.tab, 1, 'add', '[3,4]', 5_000)
    await until(() => socket.sent('request').length === 2, 'two requests')
    const [first, second] = socket.sent('request')
    expect(first).toEqual({ t: 'request', id: 1, topic: 'add', body: [1, 2] })
    expect(second).toEqual({ t: 'request', id: 2, topic: 'add', body: [3, 4] })
    socket.receive({ t: 'reply', id: 2, body: 7 }, { t: 'reply', id: 1, error: { code: 'remote', message: 'no' } })
    await until(() => b.seen.replies.length === 1, "the follower's reply")
    expect(a.seen.replies).toEqual([[1, { ok: false, code: 'remote', message: 'no' }]])
    expect(b.seen.replies).toEqual([[1, { ok: true, body: 7 }]])
  })

  it('made while the socket is down, a request waits for the connection, then goes once', async () => {
    const { a, socket } = await ownerAndFollower()
    socket.serverClose(1006)
    a.host.request(a.tab, 5, 'q', '"?"', 10_000)
    a.platform.clock.advance(1_000)
    await until(() => a.platform.sockets.all.length === 2, 'a new socket')
    const again = a.platform.sockets.last
    again.open()
    expect(again.sent('request')).toEqual([])
    again.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => again.sent('request').length === 1, 'the request after welcome')
    again.receive({ t: 'reply', id: 1, body: 'answer' })
    await until(() => a.seen.replies.length === 1, 'the reply')
    expect(a.seen.replies).toEqual([[5, { ok: true, body: 'answer' }]])
    expect(socket.sent('request')).toEqual([])
  })

  it('no connection within the timeout: timeout; a drop after sending: disconnected, never resent', async () => {
    const { a, socket } = await ownerAndFollower()
    a.host.request(a.tab, 1, 'q', '1', 3_000)
    await until(() => socket.sent('request').length === 1, 'sent')
    socket.serverClose(1006)
    await until(() => a.seen.replies.length === 1, 'disconnected')
    expect(a.seen.replies[0]).toEqual([
      1,
      { ok: false, code: 'disconnected', message: 'the connection dropped before q was answered' },
    ])
    a.host.request(a.tab, 2, 'q', '2', 3_000)
    a.platform.clock.advance(3_000)
    await until(() => a.seen.replies.length === 2, 'timeout')
    expect(a.seen.replies[1]).toEqual([2, { ok: false, code: 'timeout', message: 'no answer to q within 3000 ms' }])
  })

  it('a cancelled request gets no reply, even when the server answers it', async () => {
    const { a, socket } = await ownerAndFollower()
    a.host.request(a.tab, 1, 'q', '1', 5_000)
    await until(() => socket.sent('request').length === 1, 'sent')
    a.host.cancelRequest(a.tab, 1)
    socket.receive({ t: 'reply', id: 1, body: 'late' }, { t: 'pong', n: 1 })
    a.platform.clock.advance(6_000)
    expect(a.seen.replies).toEqual([])
  })

  it(`at most ${MAX_PENDING_REQUESTS} requests wait at once; one more is refused at once`, async () => {
    const { a, socket } = await ownerAndFollower()
    for (let req = 1; req <= MAX_PENDING_REQUESTS + 1; req++) a.host.request(a.tab, req, 'q', '0', 60_000)
    expect(a.seen.replies).toEqual([
      [
        MAX_PENDING_REQUESTS + 1,
        {
          ok: false,
          code: 'too-many-requests',
          message: `${MAX_PENDING_REQUESTS} requests are waiting for an answer already`,
        },
      ],
    ])
    expect(socket.sent('request').length).toBe(MAX_PENDING_REQUESTS)
  })
})

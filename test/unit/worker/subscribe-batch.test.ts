/**
 * Subscription changes a tab makes in one task arrive as one `subscriptions` call (the port's batch), are applied in
 * order with one outcome each, and leave the owner as one WebSocket message of `sub`/`unsub` frames; through a
 * follower they reach the owner over the bus and are served the same. Real PortApi and NamespaceHost on fake locks,
 * a fake BroadcastChannel and a scripted socket.
 */
import type { Remote } from 'comlink'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { SubFrame, UnsubFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, SessionConfig, TabEvents } from '../../../src/protocol/port.ts'
import { MAX_SUBSCRIPTION_CHANGES } from '../../../src/protocol/port.ts'
import { changeByChange } from '../../../src/client/subscribe-batcher.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { PortApi } from '../../../src/worker/port-api.ts'
import { SubFrames } from '../../../src/worker/sub-frames.ts'
import {
  ChannelHub,
  FakeLocks,
  countMessages,
  fakePlatform,
  fakeTabEvents,
  freshNamespace,
  sessionConfig,
  until,
} from './fakes.ts'

afterEach(() => {
  vi.unstubAllGlobals()
})

/** A worker of the namespace whose tab is attached through a real `PortApi`; `got` is what its subscriptions got. */
async function worker(name: string, config: SessionConfig, shared: { locks: FakeLocks; hub: ChannelHub }) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config, name, () => undefined, platform)
  await host.ready
  const got = new Map<number, number[]>()
  const events = fakeTabEvents({
    messages: (sub: number, msgs: Delivery[]) =>
      void got.set(sub, [...(got.get(sub) ?? []), ...msgs.map((m) => m.seq)]),
  })
  // The port watches the tab's lock; the fake one is never granted while the test runs.
  vi.stubGlobal('navigator', { locks: { request: () => new Promise(() => undefined) } })
  const port = new PortApi({ worker: { id: name, version: 'test', kind: 'shared' }, host: () => host })
  const attached = await port.attach(
    config,
    { id: `${name}-tab`, lock: `lock:${name}`, dials: false },
    events as Remote<TabEvents>,
  )
  return { host, platform, port, got, attached }
}

async function openOwner() {
  const namespace = freshNamespace()
  const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
  const config = sessionConfig(namespace, { url: 'ws://server.test/' })
  const a = await worker('wA', config, shared)
  await until(() => a.platform.sockets.all.length === 1, "A's socket")
  const socket = a.platform.sockets.last
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => a.host.state.state === 'open', 'open')
  return { a, socket, config, shared }
}

const topics = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`)

describe('WorkerPort.subscriptions', () => {
  it('1,000 subscribes in one call: one outcome each, one WebSocket message of 1,000 subs, messages routed to each', async () => {
    const { a, socket } = await openOwner()
    const count = countMessages(socket)
    const outcomes = await a.port.subscriptions(topics(1_000).map((topic, i) => ({ sub: i + 1, topic, after: 0 })))
    expect(outcomes).toEqual(Array(1_000).fill(null))
    await until(() => socket.sent('sub').length === 1_000, '1,000 subs')
    expect(count.messages).toBe(1)
    expect(socket.sent('sub').map((f) => f.topic)).toEqual(topics(1_000))
    socket.receive({ t: 'msg', topic: 't1', seq: 1, epoch: 'e', body: 1 })
    socket.receive({ t: 'msg', topic: 't1000', seq: 1, epoch: 'e', body: 2 })
    await until(() => a.got.size === 2, 'both delivered')
    expect([...a.got]).toEqual([
      [1, [1]],
      [1000, [1]],
    ])
  })

  it('a bad change fails alone, with the error a single subscribe gives; the changes apply in order', async () => {
    const { a, socket } = await openOwner()
    const single = (sub: number, topic: unknown, after: unknown, mode?: unknown) =>
      a.port.subscribe(sub, topic as string, after as number, mode as never).then(
        () => null,
        (e: unknown) => e,
      )
    const outcomes = await a.port.subscriptions([
      { sub: 1, topic: 'ok', after: 0 },
      { sub: 2, topic: '', after: 0 },
      { sub: 3, topic: 'neg', after: -1 },
      { sub: 4, topic: 'mode', after: 0, mode: { latest: 'yes' } as never },
      { sub: 1, topic: 'again', after: 0 },
      { sub: 5, topic: 'fleeting', after: 0 },
      { sub: 5, unsubscribe: true },
      { sub: 6, topic: 'kept', after: 3 },
      null as never,
    ])
    const refused = (message: string) => ({ code: 'invalid-argument', message })
    expect(outcomes).toEqual([
      null,
      refused('topic must be a non-empty string'),
      refused('after must be an integer ≥ 0'),
      refused('mode must be { latest?: boolean, conflate?: boolean, volatile?: boolean }'),
      refused('subscription 1 already exists'),
      null,
      null,
      null,
      refused('a change is { sub, topic, after, mode? } or { sub, unsubscribe }'),
    ])
    // The same errors as the single calls give (as records, which is how they cross to the tab).
    const record = (e: unknown) => {
      const { code, message } = e as { code: string; message: string }
      return { code, message }
    }
    expect(record(await single(7, '', 0))).toEqual(outcomes[1])
    expect(record(await single(7, 'neg', -1))).toEqual(outcomes[2])
    expect(record(await single(7, 'mode', 0, { latest: 'yes' }))).toEqual(outcomes[3])
    expect(record(await single(1, 'again', 0))).toEqual(outcomes[4])
    // Subscribed in order, the one unsubscribed in the same call included, in one message.
    await until(() => socket.sent('unsub').length === 1, 'the unsub')
    const subFrames = socket.frames.filter((f): f is SubFrame | UnsubFrame => f.t === 'sub' || f.t === 'unsub')
    expect(subFrames).toEqual([
      { t: 'sub', topic: 'ok', after: 0 },
      { t: 'sub', topic: 'fleeting', after: 0 },
      { t: 'unsub', topic: 'fleeting' },
      { t: 'sub', topic: 'kept', after: 3 },
    ])
    expect(a.host.subs.size).toBe(2)
  })

  it(`more than ${MAX_SUBSCRIPTION_CHANGES} changes, or no list, are refused as a whole; nothing is subscribed`, async () => {
    const { a } = await openOwner()
    const tooMany = Array.from({ length: MAX_SUBSCRIPTION_CHANGES + 1 }, (_, i) => ({
      sub: i + 1,
      topic: 't',
      after: 0,
    }))
    const message = `subscriptions() takes a list of at most ${MAX_SUBSCRIPTION_CHANGES} changes`
    await expect(a.port.subscriptions(tooMany)).rejects.toEqual({
      name: 'TabwireError',
      code: 'invalid-argument',
      message,
    })
    await expect(a.port.subscriptions('t' as never)).rejects.toEqual({
      name: 'TabwireError',
      code: 'invalid-argument',
      message,
    })
    expect(a.host.subs.size).toBe(0)
  })

  it('a detached tab gets closed for the whole call', async () => {
    const { a } = await openOwner()
    await a.port.detach()
    await expect(a.port.subscriptions([{ sub: 1, topic: 't', after: 0 }])).rejects.toMatchObject({ code: 'closed' })
  })

  it("through a follower: one bus post and one WebSocket message; the follower's tab gets its topics' messages, and a handoff resubscribes them all", async () => {
    const { a, socket, config, shared } = await openOwner()
    const b = await worker('wB', config, shared)
    await until(() => b.host.state.state === 'open', "the follower hears 'open'")
    const posts = busPosts(shared.hub, config.namespace)
    const count = countMessages(socket)
    const outcomes = await b.port.subscriptions(topics(50).map((topic, i) => ({ sub: i + 1, topic, after: 0 })))
    expect(outcomes).toEqual(Array(50).fill(null))
    await until(() => socket.sent('sub').length === 50, "the follower's 50 subs")
    expect(posts.map((m) => [m.k, m.subs?.length])).toEqual([['subs', 50]])
    expect(count.messages).toBe(1)
    // An unsubscribe in the same task as a subscribe reaches the owner after it.
    await b.port.subscriptions([
      { sub: 51, topic: 'fleeting', after: 0 },
      { sub: 51, unsubscribe: true },
    ])
    await until(() => socket.sent('unsub').length === 1, 'the unsub')
    expect(posts.slice(1).map((m) => m.k)).toEqual(['subs', 'unsub'])
    expect(socket.frames.slice(-2)).toEqual([
      { t: 'sub', topic: 'fleeting', after: 0 },
      { t: 'unsub', topic: 'fleeting' },
    ])
    socket.receive({ t: 'msg', topic: 't50', seq: 1, epoch: 'e', body: 1 })
    await until(() => b.got.get(50)?.length === 1, 'relayed to the follower')

    // The owner goes: the follower takes the socket and resubscribes its 50 topics in its hello.
    await a.port.detach()
    await until(() => b.platform.sockets.all.length === 1, "B's socket")
    const next = b.platform.sockets.last
    next.open()
    const hello = next.sent('hello')[0]
    // Topics with a stored cursor come first (the new owner loaded them), then the rest in subscribe order.
    expect(hello?.subs.map((c) => c.topic)).toEqual(['t50', ...topics(49)])
    expect(hello?.subs[0]).toEqual({ topic: 't50', after: 1, epoch: 'e' })
    next.receive({ t: 'welcome', v: 1, acked: 0 })
    next.receive({ t: 'msg', topic: 't50', seq: 2, epoch: 'e', body: 2 })
    await until(() => b.got.get(50)?.length === 2, 'served by the new owner')
    expect(b.got.get(50)).toEqual([1, 2])
  })

  it('an owner of a release before `subs` lists gets one `sub` post per subscription', async () => {
    const namespace = freshNamespace()
    const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
    const config = sessionConfig(namespace, { url: 'ws://server.test/' })
    // The old owner holds the owner lock, so this worker stays a follower; it announces itself without `subs`.
    void shared.locks.request(`tabwire-owner:${namespace}`, {}, () => new Promise(() => undefined))
    const old = shared.hub.channel(`tabwire-bus:${namespace}`)
    const b = await worker('wB', config, shared)
    const posts = busPosts(shared.hub, namespace)
    old.postMessage({ k: 'owner', id: 'old', state: { state: 'open', attempt: 0 }, acked: 0, v: 1 })
    await until(() => b.host.state.state === 'open', "the follower hears the old owner's 'open'")
    await b.port.subscriptions(topics(3).map((topic, i) => ({ sub: i + 1, topic, after: 0 })))
    await until(() => posts.length === 3, 'three posts')
    expect(posts.map((m) => [m.k, m.topic])).toEqual([
      ['sub', 't1'],
      ['sub', 't2'],
      ['sub', 't3'],
    ])
  })

  it('a tab on a worker without `subscriptions` (before b9ffe9b) makes one call per change: the same outcomes and frames', async () => {
    const { a, socket } = await openOwner()
    // This release's worker says it takes the batch; the tab falls back only where the attach does not say so.
    expect(a.attached.subscriptions).toBe(true)
    const calls: string[] = []
    const older = {
      subscribe: (...args: Parameters<typeof a.port.subscribe>) => {
        calls.push(`subscribe ${args[0]}`)
        return a.port.subscribe(...args)
      },
      unsubscribe: (sub: number) => {
        calls.push(`unsubscribe ${sub}`)
        return a.port.unsubscribe(sub)
      },
    }
    const outcomes = await changeByChange(older, [
      { sub: 1, topic: 'ok', after: 0 },
      { sub: 2, topic: '', after: 0 },
      { sub: 1, topic: 'again', after: 0 },
      { sub: 5, topic: 'fleeting', after: 0 },
      { sub: 5, unsubscribe: true },
      { sub: 6, topic: 'kept', after: 3 },
    ])
    expect(calls).toEqual(['subscribe 1', 'subscribe 2', 'subscribe 1', 'subscribe 5', 'unsubscribe 5', 'subscribe 6'])
    expect(outcomes).toEqual([
      null,
      { code: 'invalid-argument', message: 'topic must be a non-empty string' },
      { code: 'invalid-argument', message: 'subscription 1 already exists' },
      null,
      null,
      null,
    ])
    await until(() => socket.sent('unsub').length === 1, 'the unsub')
    expect(socket.frames.filter((f) => f.t === 'sub' || f.t === 'unsub')).toEqual([
      { t: 'sub', topic: 'ok', after: 0 },
      { t: 'sub', topic: 'fleeting', after: 0 },
      { t: 'unsub', topic: 'fleeting' },
      { t: 'sub', topic: 'kept', after: 3 },
    ])
    // What is not a refusal (the worker has no such method, say) fails the batch, as a failed `subscriptions` does.
    const broken = { subscribe: () => Promise.reject(new TypeError('no such method')), unsubscribe: older.unsubscribe }
    await expect(changeByChange(broken, [{ sub: 9, topic: 'x', after: 0 }])).rejects.toThrow('no such method')
  })
})

/** What workers post on the namespace's bus, heard by a channel of its own. */
function busPosts(hub: ChannelHub, namespace: string): { k: string; topic?: string; subs?: unknown[] }[] {
  const posts: { k: string; topic?: string; subs?: unknown[] }[] = []
  hub.channel(`tabwire-bus:${namespace}`).onmessage = (ev) => {
    const m = ev.data as { k: string; topic?: string; subs?: unknown[] }
    if (['sub', 'subs', 'unsub'].includes(m.k)) posts.push(m)
  }
  return posts
}

describe('SubFrames', () => {
  const socket = (open: { isOpen: boolean }, limit = 1 << 20) => {
    const sent: string[] = []
    return {
      sent,
      socket: {
        get isOpen() {
          return open.isOpen
        },
        messageLimit: limit,
        send: (m: string) => sent.push(m) > 0,
      },
    }
  }

  it('frames of one task leave at its end as one message, in order; under a small limit, as few as fit', async () => {
    const open = { isOpen: true }
    const s = socket(open)
    const frames = new SubFrames(s.socket)
    expect(frames.queue({ t: 'sub', topic: 'a', after: 0 })).toBe(true)
    expect(frames.queue({ t: 'unsub', topic: 'b' })).toBe(true)
    expect(s.sent).toEqual([])
    await Promise.resolve()
    expect(s.sent).toEqual(['[{"t":"sub","topic":"a","after":0},{"t":"unsub","topic":"b"}]'])

    const small = socket(open, 40)
    const few = new SubFrames(small.socket)
    for (const topic of ['a', 'b', 'c']) few.queue({ t: 'sub', topic, after: 0 })
    await Promise.resolve()
    expect(small.sent).toEqual([
      '{"t":"sub","topic":"a","after":0}',
      '{"t":"sub","topic":"b","after":0}',
      '{"t":"sub","topic":"c","after":0}',
    ])
  })

  it('while not open a frame is dropped; closed before the end of the task, nothing is sent', async () => {
    const open = { isOpen: false }
    const s = socket(open)
    const frames = new SubFrames(s.socket)
    expect(frames.queue({ t: 'sub', topic: 'a', after: 0 })).toBe(false)
    open.isOpen = true
    expect(frames.queue({ t: 'sub', topic: 'b', after: 0 })).toBe(true)
    open.isOpen = false
    await Promise.resolve()
    expect(s.sent).toEqual([])
    open.isOpen = true
    frames.queue({ t: 'sub', topic: 'c', after: 0 })
    await Promise.resolve()
    expect(s.sent).toEqual(['{"t":"sub","topic":"c","after":0}'])
  })
})

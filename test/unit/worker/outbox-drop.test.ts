/**
 * `outbox.cancel(id)` and send expiry (`ttl`/`expiresAt`) in the worker, on scripted sockets and fake-indexeddb: a
 * dropped message keeps its slot and goes out as `skip {id, why}`, so the server's counter follows with no gap and the
 * rest keeps its order; what was written to a socket (by this owner, an earlier one, or straight from its commit) can
 * no longer be dropped; a follower's cancel is decided on disk against the owner's mark; expiry runs while offline.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { ClientFrame } from '../../../src/protocol/frames.ts'
import type { DroppedMessage, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import {
  ChannelHub,
  FakeLocks,
  type FakeSocket,
  fakePlatform,
  fakeTabEvents,
  freshNamespace,
  sessionConfig,
  until,
} from './fakes.ts'

const config = (namespace: string) => sessionConfig(namespace, { url: 'ws://server.test/' })

/** A tab that records what the worker tells it about the outbox, in order: `x<id>:<code>`, `a<upTo>`, `d<id>`. */
function fakeTab(id: string) {
  const order: string[] = []
  const dropped: DroppedMessage[] = []
  const events = fakeTabEvents({
    acked: (upTo) => void order.push(`a${upTo}`),
    dead: (letters) => void order.push(...letters.map((l) => `d${l.id}`)),
    dropped: (messages) => {
      dropped.push(...messages)
      order.push(...messages.map((m) => `x${m.id}:${m.code}`))
    },
  })
  const tab = new Tab({ id, lock: `tab-lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>)
  return { tab, order, dropped }
}

async function worker(name: string, namespace: string, shared = { locks: new FakeLocks(), hub: new ChannelHub() }) {
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock(name), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config(namespace), name, () => undefined, platform)
  await host.ready
  const t = fakeTab(`${name}-tab`)
  host.attach(t.tab)
  return { host, platform, shared, ...t }
}

/** The worker's `n`th socket opens with `welcome {acked}` (after a drop, the backoff is waited out on its clock). */
async function opened(w: Awaited<ReturnType<typeof worker>>, acked: number, n = 1): Promise<FakeSocket> {
  await until(() => {
    if (w.platform.sockets.all.length < n) w.platform.clock.advance(1_000)
    return w.platform.sockets.all.length === n
  }, `socket ${n}`)
  const s = w.platform.sockets.last
  s.open()
  s.receive({ t: 'welcome', v: 1, acked })
  await until(() => w.host.state.state === 'open', 'open')
  return s
}

/** What a socket carried of the outbox: `pub <id>` or `skip <id> <why>`. */
function outboxFrames(s: FakeSocket): string[] {
  return s.frames.flatMap((f: ClientFrame) =>
    f.t === 'pub' ? [`pub ${f.id}`] : f.t === 'skip' ? [`skip ${f.id} ${f.why ?? ''}`.trim()] : [],
  )
}

const msg = (n: number, expiresAt?: number) => ({
  topic: 't',
  body: `"m${n}"`,
  ...(expiresAt === undefined ? {} : { expiresAt }),
})

describe('outbox.cancel', () => {
  it('drops a queued message: its slot goes out as skip {why: cancelled}, the rest in order, no dead letter', async () => {
    const w = await worker('w1', freshNamespace())
    expect(await w.host.send([msg(1), msg(2), msg(3)])).toEqual([1, 2, 3])
    await w.host.outboxCancel(2)
    await until(() => w.dropped.length === 1, 'the dropped event')
    expect(w.dropped).toEqual([{ id: 2, topic: 't', code: 'cancelled' }])
    expect((await w.host.outboxList(10)).map((e) => e.id)).toEqual([1, 3])
    expect(await w.host.outboxStatus(2)).toEqual({ id: 2, state: 'cancelled' })
    // Cancelling it again answers as the first time, and tells nobody twice.
    await w.host.outboxCancel(2)

    const s = await opened(w, 0)
    await until(() => outboxFrames(s).length === 3, 'the resend')
    expect(outboxFrames(s)).toEqual(['pub 1', 'skip 2 cancelled', 'pub 3'])
    // The reference server's answer: the skip refused with its reason, the counter moving past it.
    s.receive(
      { t: 'ack', id: 1 },
      { t: 'nack', id: 2, code: 'cancelled', message: 'pub 2 was cancelled' },
      { t: 'ack', id: 3 },
    )
    await until(() => w.order.includes('a3'), 'the ack of 3')
    // Told of the drop before any ack covers it (acks are cumulative: 2 is covered, its `acked` rejected already).
    expect(w.order).toEqual(['x2:cancelled', 'a1', 'a2', 'a3'])
    expect(await w.host.outboxDead(10)).toEqual([])
    expect(await w.host.outboxStatus(2)).toEqual({ id: 2, state: 'cancelled' })
  })

  it('refuses once written (already-sent), also after the connection dropped and in the next worker', async () => {
    const namespace = freshNamespace()
    const w = await worker('w1', namespace)
    await w.host.send([msg(1), msg(2)])
    const s = await opened(w, 0)
    await until(() => outboxFrames(s).length === 2, 'the resend')
    // Written by the resend: marked in the transaction that read it.
    await expect(w.host.outboxCancel(2)).rejects.toMatchObject({ code: 'already-sent' })
    // Written straight from its commit (the fast path), while open: marked in the commit itself.
    await w.host.send([msg(3)])
    await until(() => outboxFrames(s).length === 3, 'the fast path')
    await expect(w.host.outboxCancel(3)).rejects.toMatchObject({ code: 'already-sent' })
    s.serverClose(1006)
    await until(() => w.host.state.state !== 'open', 'the drop')
    await expect(w.host.outboxCancel(2)).rejects.toMatchObject({ code: 'already-sent' })
    await expect(w.host.outboxCancel(9)).rejects.toMatchObject({ code: 'invalid-argument' })

    // A worker restart: the next one reads the mark from disk.
    w.host.detach(w.tab)
    const next = await worker('w2', namespace)
    await expect(next.host.outboxCancel(2)).rejects.toMatchObject({ code: 'already-sent' })
    await next.host.send([msg(4)])
    await next.host.outboxCancel(4)
    const s2 = await opened(next, 1)
    await until(() => outboxFrames(s2).length === 3, 'the resend after the restart')
    expect(outboxFrames(s2)).toEqual(['pub 2', 'pub 3', 'skip 4 cancelled'])
  })

  it("a follower's cancel is decided against the owner's mark: never both written and cancelled", async () => {
    const namespace = freshNamespace()
    const a = await worker('wA', namespace)
    const s = await opened(a, 0)
    const b = await worker('wB', namespace, a.shared)
    await until(() => b.host.state.state === 'open', "the follower hears 'open'")
    // The follower commits: the owner hears it on the bus and writes it in a transaction that marks it. Racing
    // cancels land before that transaction (dropped: a skip goes out) or after it (already-sent: the pub went out).
    const ids = await b.host.send([msg(1), msg(2), msg(3), msg(4)])
    const outcomes = await Promise.all(
      ids.map((id) =>
        b.host.outboxCancel(id).then(
          () => `cancelled ${id}`,
          (e: { code: string }) => `${e.code} ${id}`,
        ),
      ),
    )
    await until(() => outboxFrames(s).length === 4, 'the four slots')
    const written = outboxFrames(s)
    for (const [i, id] of ids.entries())
      expect([written[i], outcomes[i]]).toEqual(
        written[i] === `pub ${id}` ? [`pub ${id}`, `already-sent ${id}`] : [`skip ${id} cancelled`, `cancelled ${id}`],
      )
    // Both workers' tabs hear of every cancel.
    const cancelled = outcomes.filter((o) => o.startsWith('cancelled')).length
    await until(() => a.dropped.length === cancelled && b.dropped.length === cancelled, 'both tabs told')

    // Cancelled while the owner is offline: certainly dropped, and a skip when it is back.
    s.serverClose(1006)
    await until(() => a.host.state.state !== 'open', 'the drop')
    const [late] = await b.host.send([msg(5)])
    await b.host.outboxCancel(late as number)
    const s2 = await opened(a, 4, 2)
    await until(() => outboxFrames(s2).length === 1, 'the skip')
    expect(outboxFrames(s2)).toEqual(['skip 5 cancelled'])
  })
})

describe('send expiry (ttl / expiresAt)', () => {
  it('expires while offline: dropped at its time, listed until then, then a skip {why: expired} in its slot', async () => {
    const w = await worker('w1', freshNamespace())
    const now = w.platform.clock.now()
    await w.host.send([msg(1), msg(2, now + 5_000), msg(3, now + 60_000)])
    const listed = await w.host.outboxList(10)
    expect(listed.map((e) => [e.id, e.expiresAt])).toEqual([
      [1, undefined],
      [2, now + 5_000],
      [3, now + 60_000],
    ])
    await until(() => w.platform.clock.pending().includes(5_000), 'the expiry timer')
    w.platform.clock.advance(4_999)
    expect(w.dropped).toEqual([])
    w.platform.clock.advance(1)
    await until(() => w.dropped.length === 1, 'the expiry')
    expect(w.dropped).toEqual([{ id: 2, topic: 't', code: 'expired', expiresAt: now + 5_000 }])
    expect((await w.host.outboxList(10)).map((e) => e.id)).toEqual([1, 3])
    expect(await w.host.outboxStatus(2)).toEqual({ id: 2, state: 'expired' })
    await expect(w.host.outboxCancel(2)).rejects.toMatchObject({ code: 'expired' })

    // The next expiry is waited for in turn; 3 is written before it comes, so it stays.
    await until(() => w.platform.clock.pending().includes(55_000), 'the next expiry timer')
    const s = await opened(w, 0)
    await until(() => outboxFrames(s).length === 3, 'the resend')
    expect(outboxFrames(s)).toEqual(['pub 1', 'skip 2 expired', 'pub 3'])
    w.platform.clock.advance(60_000)
    await new Promise((r) => setTimeout(r, 20))
    expect(w.dropped.map((m) => m.id)).toEqual([2])
  })

  it('expired at write time (no timer ran: the machine slept): dropped by the resend, told before its skip', async () => {
    const w = await worker('w1', freshNamespace())
    const now = w.platform.clock.now()
    await w.host.send([msg(1, now + 1_000), msg(2)])
    w.platform.clock.jump(2_000)
    const s = await opened(w, 0)
    await until(() => outboxFrames(s).length === 2, 'the resend')
    expect(outboxFrames(s)).toEqual(['skip 1 expired', 'pub 2'])
    expect(w.dropped.map((m) => [m.id, m.code])).toEqual([[1, 'expired']])
  })

  it('written at its commit, it never expires: offline past its expiry, it goes out again as a pub', async () => {
    const w = await worker('w1', freshNamespace())
    const s = await opened(w, 0)
    await w.host.send([msg(1)])
    await until(() => outboxFrames(s).length === 1, 'the first write')
    const now = w.platform.clock.now()
    await w.host.send([msg(2, now + 5_000)])
    await until(() => outboxFrames(s).length === 2, 'the write at its commit')
    s.serverClose(1006)
    await until(() => w.host.state.state !== 'open', 'the drop')
    // Past its expiry while offline (a timer would drop it), then back after the machine slept (the resend would).
    w.platform.clock.advance(6_000)
    w.platform.clock.jump(60_000)
    const s2 = await opened(w, 1, 2)
    await until(() => outboxFrames(s2).length === 1, 'the resend')
    expect(outboxFrames(s2)).toEqual(['pub 2'])
    expect(w.dropped).toEqual([])
    expect(await w.host.outboxStatus(2)).toMatchObject({ id: 2, state: 'sent' })
  })

  it('a new owner drops what expired while no worker ran', async () => {
    const namespace = freshNamespace()
    const w = await worker('w1', namespace)
    const now = w.platform.clock.now()
    await w.host.send([msg(1, now + 1_000), msg(2, now + 10 ** 9)])
    w.host.detach(w.tab)
    const next = await worker('w2', namespace)
    // Whether the fresh owner's sweep at start ran before the clock passed the expiry (then it set a timer) or after.
    next.platform.clock.advance(now + 1_000 - next.platform.clock.now())
    await until(() => next.dropped.length === 1, 'the sweep at start')
    expect(next.dropped.map((m) => m.id)).toEqual([1])
    expect((await next.host.outboxList(10)).map((e) => e.id)).toEqual([2])
  })
})

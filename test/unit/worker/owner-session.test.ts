/**
 * The owner's session on a scripted socket and fake-indexeddb: what it resends after each `welcome` (reconciling the
 * queue with the server's counter first, refusing one it cannot follow), that acks are checked against what was
 * written, and that subscriptions changed between `hello` and `welcome` reach the server.
 */
import { describe, expect, it } from 'vitest'
import type { PubFrame } from '../../../src/protocol/frames.ts'
import type { DeadLetter, Delivery, StateInfo } from '../../../src/protocol/port.ts'
import { DbHandle, type OutboxBatch } from '../../../src/worker/db.ts'
import { MAX_OUTBOX_ID } from '../../../src/worker/outbox-counters.ts'
import { OutboxStore, OutboxWriter } from '../../../src/worker/outbox-store.ts'
import { OwnerSession } from '../../../src/worker/owner-session.ts'
import { FakeClock, FakeSockets, freshNamespace, until, sessionConfig } from './fakes.ts'
import { dead, list } from '../../../src/worker/outbox-queries.ts'

async function setup(queued: number, ackedBefore = 0) {
  const namespace = freshNamespace()
  const db = new DbHandle(namespace)
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  let session: OwnerSession | undefined
  const outbox = await OutboxStore.load(db, clock)
  const writer = new OutboxWriter(outbox, (b: OutboxBatch) => session?.committed(b))
  for (let i = 1; i <= queued; i++) await writer.send([{ topic: 't', body: `"m${i}"` }])
  outbox.ackFromServer(ackedBefore)
  const events = {
    acked: [] as number[],
    sent: [] as number[],
    renumbered: [] as [number, number][],
    logs: [] as string[],
    /** Every event to the tabs in order: `a<upTo>` acked, `d<id>` dead. */
    order: [] as string[],
    dead: [] as DeadLetter[],
  }
  const states: StateInfo[] = []
  session = new OwnerSession(
    sessionConfig(namespace),
    db,
    outbox,
    {
      dial: () => Promise.resolve({ url: 'ws://server.test/' }),
      state: (s) => states.push(s),
      acked: (upTo) => events.acked.push(upTo) && events.order.push(`a${upTo}`),
      sent: (upTo) => events.sent.push(upTo),
      renumbered: (from, delta) => events.renumbered.push([from, delta]),
      refused: (letters) => {
        events.dead.push(...letters)
        events.order.push(...letters.map((l) => `d${l.id}`))
      },
      dropped: (messages) => events.order.push(...messages.map((m) => `x${m.id}`)),
      log: (m) => events.logs.push(m),
    },
    { clock, socket: sockets.open },
  )
  await session.ready
  await until(() => sockets.all.length === 1, 'the first socket')
  const welcome = async (acked: number) => {
    const s = sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked })
    await until(() => states.some((x) => x.state === 'open'), 'open')
  }
  const pubs = () => sockets.last.sent('pub').map((p: PubFrame) => [p.id, p.body])
  return { session, outbox, writer, sockets, events, states, welcome, pubs, clock, db, namespace }
}

describe('OwnerSession: welcome reconciliation', () => {
  it.each([
    { why: 'server has everything', queued: 3, server: 3, resent: [], acked: [3], renumbered: [], next: 4 },
    {
      why: 'server is behind',
      queued: 3,
      server: 1,
      resent: [
        [2, 'm2'],
        [3, 'm3'],
      ],
      acked: [1],
      renumbered: [],
      next: 4,
    },
    {
      why: 'server has nothing yet',
      queued: 2,
      server: 0,
      resent: [
        [1, 'm1'],
        [2, 'm2'],
      ],
      acked: [],
      renumbered: [],
      next: 3,
    },
    // The server claims more than this client ever stored (another installation reused the id): skip past it.
    { why: 'server is ahead', queued: 2, server: 7, resent: [], acked: [7], renumbered: [], next: 8 },
  ])('$why (stored $queued, welcome.acked $server)', async ({ queued, server, resent, acked, renumbered, next }) => {
    const t = await setup(queued)
    await t.welcome(server)
    await until(() => t.pubs().length === resent.length && t.events.acked.length === acked.length, 'the resend')
    expect(t.pubs()).toEqual(resent)
    expect(t.events.acked).toEqual(acked)
    expect(t.events.renumbered).toEqual(renumbered)
    expect(await t.writer.send([{ topic: 't', body: '"new"' }])).toEqual([next])
    await until(() => t.pubs().length === resent.length + 1, 'the new send')
    expect(t.pubs().at(-1)).toEqual([next, 'new'])
  })

  it('a server ahead of everything stored: sends another worker commits while the owner catches up move above its counter and are sent', async () => {
    const t = await setup(2)
    // Another worker of the namespace (a second tab's dedicated worker, an older release) commits right after the
    // owner read the stored counter; its commit notice has not reached the owner yet.
    const other = new OutboxWriter(await OutboxStore.load(new DbHandle(t.namespace), t.clock), () => undefined)
    const syncLast = t.outbox.syncLast.bind(t.outbox)
    let late: number[] = []
    t.outbox.syncLast = async () => {
      const last = await syncLast()
      late = await other.send([
        { topic: 't', body: '"late1"' },
        { topic: 't', body: '"late2"' },
        { topic: 't', body: '"late3"' },
      ])
      return last
    }
    await t.welcome(7)
    await until(() => t.pubs().length === 3, 'the late sends')
    // Committed as 3..5, all ≤ 7: pruned as acked without ever being sent, before the counter moved in one step.
    expect(late).toEqual([3, 4, 5])
    expect(t.pubs()).toEqual([
      [8, 'late1'],
      [9, 'late2'],
      [10, 'late3'],
    ])
    expect(t.events.renumbered).toEqual([[3, -5]])
    expect(t.events.acked).toEqual([7])
    expect(t.events.logs.filter((l) => l.startsWith('resync:'))).toEqual([
      'resync: server acked 7 but this client only ever stored 2',
      "resync: sends committed meanwhile move above the server's counter, from 8",
    ])
    expect(await t.writer.send([{ topic: 't', body: '"next"' }])).toEqual([11])
  })

  it('a server that lost its counter gets the queue renumbered to follow on from it, in order', async () => {
    // 1..5 stored, 1..3 acked by a server that then restarted empty.
    const t = await setup(5, 3)
    await t.welcome(0)
    await until(() => t.pubs().length === 2, 'the resend')
    expect(t.pubs()).toEqual([
      [1, 'm4'],
      [2, 'm5'],
    ])
    expect(t.events.renumbered).toEqual([[4, 3]])
    expect(t.events.logs.some((l) => l.includes("server's counter (0) is behind our queue"))).toBe(true)
    expect(t.events.sent.at(-1)).toBe(2)
  })

  it('writes nothing twice on one connection, and everything again on the next', async () => {
    const t = await setup(3)
    await t.welcome(0)
    await until(() => t.pubs().length === 3)
    t.sockets.last.receive({ t: 'ack', id: 1 })
    expect(t.events.acked).toEqual([1])
    t.sockets.last.serverClose(1012)
    t.clock.advance(1_000)
    await until(() => t.sockets.all.length === 2, 'the second socket')
    t.states.length = 0
    await t.welcome(1)
    await until(() => t.pubs().length === 2)
    expect(t.sockets.all[0]?.sent('pub').map((p) => p.id)).toEqual([1, 2, 3])
    expect(t.pubs().map(([id]) => id)).toEqual([2, 3])
  })
})

describe('OwnerSession: acks are checked against what was written', () => {
  it.each([
    { why: 'beyond what was written', written: 2, ack: 3 },
    { why: 'beyond what was ever stored', written: 2, ack: 99 },
  ])('an ack $why is a protocol error (4400) and leaves the outbox as it was', async ({ written, ack }) => {
    const t = await setup(written)
    await t.welcome(0)
    await until(() => t.pubs().length === written)
    t.sockets.last.receive({ t: 'ack', id: ack }, { t: 'ack', id: 1 })
    expect(t.sockets.all[0]?.closedWith).toEqual({
      code: 4400,
      reason: `ack ${ack} is beyond the last id sent (${written})`,
    })
    expect(t.states.at(-1)).toMatchObject({ state: 'reconnecting', error: { code: 'protocol', closeCode: 4400 } })
    // Nothing after the bad frame was read, and nothing counts as delivered.
    expect(t.events.acked).toEqual([])
    expect(t.outbox.counters.acked).toBe(0)
    expect(t.outbox.counters.pending()).toBe(written)
  })

  it('an ack of what was written settles it', async () => {
    const t = await setup(2)
    await t.welcome(0)
    await until(() => t.pubs().length === 2)
    t.sockets.last.receive({ t: 'ack', id: 2 })
    expect(t.events.acked).toEqual([2])
    expect(t.outbox.counters.pending()).toBe(0)
    expect(t.sockets.last.closedWith).toBeUndefined()
  })
})

describe('OwnerSession: a welcome.acked with no room for new ids', () => {
  it('above MAX_OUTBOX_ID is a protocol error (4400): the counter stays, nothing is written, the rest of its message is not read', async () => {
    const t = await setup(1)
    const got: Delivery[] = []
    t.session.subscribe('w/1/1', 'room', 0, { messages: (m) => got.push(...m), reset: () => undefined })
    const s = t.sockets.last
    s.open()
    const acked = MAX_OUTBOX_ID + 1
    s.receive({ t: 'welcome', v: 1, acked }, { t: 'msg', topic: 'room', seq: 1, epoch: 'e1', body: 'read' })
    const reason = `welcome.acked ${acked} leaves no room for new ids`
    expect(s.closedWith).toEqual({ code: 4400, reason })
    expect(t.states.at(-1)).toMatchObject({
      state: 'reconnecting',
      error: { code: 'protocol', message: reason, closeCode: 4400 },
    })
    // Let any resend or reconciliation that wrongly started run its course.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0))
    expect(s.frames.map((f) => f.t)).toEqual(['hello'])
    expect(got).toEqual([])
    expect(t.events.acked).toEqual([])
    expect(t.outbox.counters.last).toBe(1)
    expect(t.outbox.counters.pending()).toBe(1)
    expect(await (await t.db.get()).get('meta', 'lastId')).toBe(1)
  })

  it('MAX_OUTBOX_ID itself is followed: the counter skips to it and the next send takes the id after', async () => {
    const t = await setup(1)
    await t.welcome(MAX_OUTBOX_ID)
    await until(() => t.events.acked.length === 1, 'the skip')
    expect(t.events.acked).toEqual([MAX_OUTBOX_ID])
    expect(t.sockets.last.closedWith).toBeUndefined()
    expect(await t.writer.send([{ topic: 't', body: '"next"' }])).toEqual([MAX_OUTBOX_ID + 1])
    await until(() => t.pubs().length === 1, 'the new send')
    expect(t.pubs()).toEqual([[MAX_OUTBOX_ID + 1, 'next']])
  })
})

describe('OwnerSession: answers to fetches are bounded', () => {
  it('a range holding more messages than its fetch asked for is a protocol error (4400): nothing of it is delivered, and the fetch is asked again on the next connection', async () => {
    const t = await setup(0)
    const follower = (seqs: number[]) => ({
      messages: (m: Delivery[]) => seqs.push(...m.map((d) => d.seq)),
      reset: () => undefined,
    })
    const first: number[] = []
    const late: number[] = []
    const msg = (seq: number) => ({ seq, epoch: 'e1', body: `m${seq}` })
    t.session.subscribe('w/1/1', 'room', 2, follower(first))
    await t.welcome(0)
    t.sockets.last.receive({ t: 'msg', topic: 'room', ...msg(3) })
    await until(() => first.length === 1, 'm3')
    // The worker's log starts at 3: what a tab following from 0 misses is fetched.
    t.session.subscribe('w/1/2', 'room', 0, follower(late))
    const s1 = t.sockets.last
    await until(() => s1.sent('fetch').length === 1, 'the fetch')
    const [fetch] = s1.sent('fetch')
    expect(fetch).toMatchObject({ topic: 'room', after: 0, limit: 2 })
    const req = fetch?.req ?? -1
    s1.receive({ t: 'range', req, topic: 'room', msgs: [msg(1)], done: false })
    expect(s1.closedWith).toBeUndefined()
    // A server could grow a fetch without end this way, one `range` after another.
    s1.receive({ t: 'range', req, topic: 'room', msgs: [msg(2), msg(3)], done: false })
    expect(s1.closedWith).toEqual({ code: 4400, reason: `range ${req} holds more messages than its fetch asked for` })
    t.clock.advance(1_000)
    await until(() => t.sockets.all.length === 2, 'the next socket')
    const s2 = t.sockets.last
    s2.open()
    s2.receive({ t: 'welcome', v: 1, acked: 0 })
    await until(() => s2.sent('fetch').length === 1, 'the fetch again')
    const [again] = s2.sent('fetch')
    expect(again).toMatchObject({ topic: 'room', after: 0, limit: 2 })
    s2.receive({ t: 'range', req: again?.req ?? -1, topic: 'room', msgs: [msg(1), msg(2)], done: true })
    await until(() => late.length === 3, 'the catch-up')
    expect(late).toEqual([1, 2, 3])
    expect(first).toEqual([3])
  })
})

describe('OwnerSession: records another worker committed', () => {
  it('a resend that reads past what this worker heard of notes the stored counter, so their ack is not refused', async () => {
    const t = await setup(0)
    await t.welcome(0)
    // Another worker of the namespace (a second version, a dedicated worker) writes the same queue.
    const other = new OutboxWriter(await OutboxStore.load(t.db, t.clock), () => undefined)
    expect(await other.send([{ topic: 't', body: '"m1"' }])).toEqual([1])
    expect(await other.send([{ topic: 't', body: '"m2"' }])).toEqual([2])
    // Its bus notice of id 1 arrives; the one of id 2 has not yet. The resend reads both from disk.
    t.outbox.counters.committed(1)
    t.session.committed()
    await until(() => t.pubs().length === 2, 'the resend')
    expect(t.pubs()).toEqual([
      [1, 'm1'],
      [2, 'm2'],
    ])
    t.sockets.last.receive({ t: 'ack', id: 2 })
    expect(t.events.acked).toEqual([2])
    expect(t.outbox.counters.acked).toBe(2)
    expect(t.outbox.counters.pending()).toBe(0)
    expect(t.sockets.last.closedWith).toBeUndefined()
  })
})

describe('OwnerSession: subscriptions between hello and welcome', () => {
  const target = { messages: () => undefined, reset: () => undefined }

  it('on welcome, subscribes what was followed after the hello and unsubscribes what was dropped', async () => {
    const t = await setup(0)
    t.session.subscribe('w/1/1', 'kept', 0, target)
    t.session.subscribe('w/1/2', 'dropped', 0, target)
    const s = t.sockets.last
    s.open()
    expect(s.sent('hello')[0]?.subs.map((c) => c.topic)).toEqual(['kept', 'dropped'])
    // The hello is written; the socket is not open for sub frames until the welcome.
    t.session.subscribe('w/1/3', 'added', 0, target)
    t.session.unsubscribe('w/1/2')
    // Followed and dropped again before the welcome: neither frame is owed.
    t.session.subscribe('w/1/4', 'fleeting', 0, target)
    t.session.unsubscribe('w/1/4')
    expect(s.frames.map((f) => f.t)).toEqual(['hello'])
    s.receive({ t: 'welcome', v: 1, acked: 0 })
    expect(s.frames.slice(1)).toEqual([
      { t: 'unsub', topic: 'dropped' },
      { t: 'sub', topic: 'added', after: 0 },
    ])
  })

  it('a welcome after no change sends no sub or unsub, and the next connection starts from its own hello', async () => {
    const t = await setup(0)
    t.session.subscribe('w/1/1', 'kept', 0, target)
    await t.welcome(0)
    expect(t.sockets.last.frames.map((f) => f.t)).toEqual(['hello'])
    t.sockets.last.serverClose(1012)
    t.clock.advance(1_000)
    await until(() => t.sockets.all.length === 2, 'the second socket')
    t.states.length = 0
    await t.welcome(0)
    expect(t.sockets.last.frames).toEqual([
      { t: 'hello', v: 1, client: t.outbox.clientId, subs: [{ topic: 'kept', after: 0 }] },
    ])
  })
})

describe('OwnerSession: refusals (dead letters)', () => {
  const refusal = (id: number, code = 'forbidden') => ({ id, code, message: `no ${id}` })

  it('a nack moves the message to the dead letters before any ack covers it; the queue behind goes on', async () => {
    const t = await setup(5)
    await t.welcome(0)
    await until(() => t.pubs().length === 5, 'the resend')
    t.sockets.last.receive({ t: 'ack', id: 2 }, { t: 'nack', ...refusal(3) }, { t: 'ack', id: 5 })
    await until(() => t.events.acked.at(-1) === 5, 'the last ack')
    expect(t.events.order).toEqual(['a2', 'd3', 'a3', 'a5'])
    expect(t.events.dead).toEqual([
      { topic: 't', bytes: 4, queuedAt: expect.any(Number), deadAt: expect.any(Number), ...refusal(3) },
    ])
    expect(await dead(t.outbox, 10)).toEqual(t.events.dead)
    expect(await list(t.outbox, 10)).toEqual([])
    expect(t.states.at(-1)?.state).toBe('open')
    // A nack of an id never written is a protocol error, like such an ack.
    t.sockets.last.receive({ t: 'nack', ...refusal(9) })
    expect(t.sockets.last.closedWith).toEqual({ code: 4400, reason: 'nack 9 is beyond the last id sent (5)' })
  })

  it('welcome.refused names a refusal whose nack was lost: dead letter, not delivered', async () => {
    const t = await setup(3)
    const s = t.sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked: 3, refused: [refusal(2, 'invalid'), refusal(40)] })
    await until(() => t.events.acked.at(-1) === 3, 'the ack')
    expect(t.events.order).toEqual(['d2', 'a3'])
    expect((await dead(t.outbox, 10)).map((d) => [d.id, d.code])).toEqual([[2, 'invalid']])
    expect(t.pubs()).toEqual([])
  })

  it('an ack arriving while welcome.refused is being buried waits behind it: no acked covers a refused id first', async () => {
    const t = await setup(3)
    const s = t.sockets.last
    s.open()
    // A server may ack again what welcome.acked already said, in the same message: it is read during the burial.
    s.receive({ t: 'welcome', v: 1, acked: 3, refused: [refusal(2)] }, { t: 'ack', id: 3 })
    await until(() => t.events.acked.at(-1) === 3, 'the ack')
    expect(t.events.order).toEqual(['d2', 'a3'])
  })

  it('skips a message alone larger than welcome.maxBytes: the server counts it refused, the rest is sent', async () => {
    const t = await setup(0)
    const big = `"${'é'.repeat(150)}"` // 302 bytes of UTF-8, 152 characters
    await t.writer.send([
      { topic: 't', body: '"a"' },
      { topic: 't', body: big },
      { topic: 't', body: '"c"' },
    ])
    const s = t.sockets.last
    s.open()
    s.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: 300 })
    await until(() => s.frames.length >= 4, 'the resend')
    expect(s.frames.slice(1).map((f) => [f.t, 'id' in f ? f.id : undefined])).toEqual([
      ['pub', 1],
      ['skip', 2],
      ['pub', 3],
    ])
    expect(Math.max(...s.sizes)).toBeLessThanOrEqual(300)
    s.receive({ t: 'ack', id: 1 }, { t: 'nack', ...refusal(2, 'too-large') }, { t: 'ack', id: 3 })
    await until(() => t.events.acked.at(-1) === 3, 'the last ack')
    expect(t.events.order).toEqual(['a1', 'd2', 'a2', 'a3'])
    expect(t.events.dead.map((d) => [d.id, d.bytes, d.code])).toEqual([[2, 302, 'too-large']])
  })

  it('a 4413 before any welcome was about the hello: pubs keep their size, and a later honest server gets them as pubs', async () => {
    const t = await setup(0)
    const body = `"${'x'.repeat(200)}"`
    await t.writer.send([{ topic: 't', body }])
    const s1 = t.sockets.last
    s1.open()
    const hello = s1.sizes[0] ?? 0
    expect(hello).toBeLessThan(200)
    s1.serverClose(4413, 'Max payload size exceeded')
    t.clock.advance(1_000)
    await until(() => t.sockets.all.length === 2, 'the next socket')
    const s2 = t.sockets.last
    s2.open()
    s2.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576 })
    await until(() => s2.frames.length === 2, 'the resend')
    expect(s2.frames.slice(1)).toEqual([{ t: 'pub', id: 1, topic: 't', body: 'x'.repeat(200) }])
    expect(t.events.logs.filter((l) => l.includes('refused a message as too large'))).toEqual([])
  })

  it('a welcome.maxBytes below the hello it answers is a protocol error (4400): nothing queued is skipped', async () => {
    const t = await setup(2)
    const s1 = t.sockets.last
    s1.open()
    const hello = s1.sizes[0] ?? 0
    s1.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: hello - 1 })
    expect(s1.closedWith).toEqual({ code: 4400, reason: `welcome.maxBytes ${hello - 1} is below the hello it answers` })
    expect(s1.frames.map((f) => f.t)).toEqual(['hello'])
    t.clock.advance(1_000)
    await until(() => t.sockets.all.length === 2, 'the next socket')
    await t.welcome(0)
    await until(() => t.pubs().length === 2, 'the resend')
    expect(t.sockets.last.frames.slice(1).map((f) => f.t)).toEqual(['pub', 'pub'])
    expect(t.pubs()).toEqual([
      [1, 'm1'],
      [2, 'm2'],
    ])
  })

  it('learns the limit from 4413s of a server that does not say it, and skips only what is alone too large', async () => {
    const t = await setup(0)
    const LIMIT = 1_000
    const bodies = ['"a"', `"${'x'.repeat(3_000)}"`, '"c"', `"${'y'.repeat(600)}"`, `"${'z'.repeat(600)}"`]
    await t.writer.send(bodies.map((body) => ({ topic: 't', body })))
    // A server that refuses any message over LIMIT with 4413 and acks the rest, as ws's maxPayload does.
    for (let round = 1; ; round++) {
      expect(round).toBeLessThan(10)
      const s = t.sockets.last
      t.states.length = 0
      s.open()
      s.receive({ t: 'welcome', v: 1, acked: 0 })
      await until(() => (s.frames.at(-1) as { id?: number } | undefined)?.id === 5, 'the resend')
      if (s.sizes.some((n) => n > LIMIT)) {
        const count = t.sockets.all.length
        s.serverClose(4413, 'Max payload size exceeded')
        t.clock.advance(1_000)
        await until(() => t.sockets.all.length === count + 1, 'the next socket')
        continue
      }
      expect(s.frames.slice(1).map((f) => [f.t, 'id' in f ? f.id : undefined])).toEqual([
        ['pub', 1],
        ['skip', 2],
        ['pub', 3],
        ['pub', 4],
        ['pub', 5],
      ])
      break
    }
    expect(t.events.logs.filter((l) => l.includes('refused a message as too large')).length).toBeGreaterThan(0)
  })
})

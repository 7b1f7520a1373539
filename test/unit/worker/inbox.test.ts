/**
 * The inbound side on fake-indexeddb with a recording socket: every seq once and in order per subscription, gaps and
 * stray epochs answered with a resubscribe, resets, and a new subscription's catch-up from the local log or the
 * server (with the range checked against the topic's epoch).
 */
import { describe, expect, it } from 'vitest'
import type { FetchFrame, MsgFrame, SubFrame, UnsubFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, ResetNotice } from '../../../src/protocol/port.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import { Inbox, type SubTarget } from '../../../src/worker/inbox.ts'
import { freshNamespace, until } from './fakes.ts'

type Sent = SubFrame | UnsubFrame | FetchFrame

const msg = (seq: number, epoch = 'e1', topic = 't'): MsgFrame => ({ t: 'msg', topic, seq, epoch, body: `b${seq}` })

async function setup(opts: { retention?: number; fetchTimeout?: number; namespace?: string } = {}) {
  const namespace = opts.namespace ?? freshNamespace()
  const sent: Sent[] = []
  const logs: string[] = []
  const inbox = await Inbox.load(
    new DbHandle(namespace),
    {
      sendFrame: (f) => {
        sent.push(f)
        return true
      },
      sendFrames: (frames) => void sent.push(...frames),
      whenOpen: () => Promise.resolve(),
      log: (m) => logs.push(m),
    },
    opts.retention ?? 100,
    opts.fetchTimeout ?? 60_000,
  )
  return { inbox, sent, logs, namespace }
}

/** A subscriber that records what it got. */
function recorder() {
  const got: number[] = []
  const resets: ResetNotice[] = []
  const target: SubTarget = {
    messages: (msgs: Delivery[]) => got.push(...msgs.map((m) => m.seq)),
    reset: (n) => resets.push(n),
  }
  return { got, resets, target }
}

describe('Inbox: live messages', () => {
  it.each([
    { why: 'in order', batches: [[1, 2], [3]], got: [1, 2, 3], resubscribes: [] },
    {
      why: 'a repeat (replay overlap)',
      batches: [
        [1, 2],
        [2, 3],
      ],
      got: [1, 2, 3],
      resubscribes: [],
    },
    {
      why: 'a gap',
      batches: [
        [1, 2],
        [4, 5],
      ],
      got: [1, 2],
      resubscribes: [2],
    },
    { why: 'a gap, then the replay', batches: [[1], [3], [2, 3, 4]], got: [1, 2, 3, 4], resubscribes: [1] },
    // The resubscribe goes out while the batch is read, from the cursor before it: 1 comes again and is dropped.
    { why: 'a gap inside one batch', batches: [[1, 3]], got: [1], resubscribes: [0] },
  ])('$why: delivers $got, resubscribes after $resubscribes', async ({ batches, got: want, resubscribes }) => {
    const t = await setup()
    const r = recorder()
    t.inbox.subscribe('t', 0, r.target)
    for (const b of batches)
      t.inbox.receive(
        't',
        b.map((s) => msg(s)),
      )
    await until(() => r.got.length === want.length)
    expect(r.got).toEqual(want)
    const subs = t.sent.filter((f): f is SubFrame => f.t === 'sub')
    expect(subs[0]).toEqual({ t: 'sub', topic: 't', after: 0 })
    expect(subs.slice(1).map((f) => f.after)).toEqual(resubscribes)
  })

  it('a message under another epoch without a reset is dropped and the topic resubscribed under the known one', async () => {
    const t = await setup()
    const r = recorder()
    t.inbox.subscribe('t', 0, r.target)
    t.inbox.receive('t', [msg(1), msg(2)])
    t.inbox.receive('t', [msg(3, 'e2')])
    await until(() => t.sent.length === 2)
    expect(t.sent[1]).toEqual({ t: 'sub', topic: 't', after: 2, epoch: 'e1' })
    expect(t.logs).toContain('resync t: epoch e2 without a reset')
    expect(r.got).toEqual([1, 2])
  })

  it('a reset under a new epoch tells every subscriber and takes the new history from there', async () => {
    const t = await setup()
    const r = recorder()
    t.inbox.subscribe('t', 0, r.target)
    t.inbox.receive('t', [msg(1), msg(2)])
    t.inbox.reset({ t: 'reset', topic: 't', seq: 0, epoch: 'e2', reason: 'epoch' })
    t.inbox.receive('t', [msg(1, 'e2')])
    await until(() => r.got.length === 3)
    expect(r.resets).toEqual([{ topic: 't', seq: 0, reason: 'epoch' }])
    expect(r.got).toEqual([1, 2, 1])
    expect(t.inbox.activeCursors()).toEqual([{ topic: 't', after: 1, epoch: 'e2' }])
  })

  it('one server subscription per topic however many subscribers; unsub when the last leaves', async () => {
    const t = await setup()
    const a = t.inbox.subscribe('t', 0, recorder().target)
    const b = t.inbox.subscribe('t', 0, recorder().target)
    t.inbox.unsubscribe(a)
    expect(t.sent).toEqual([{ t: 'sub', topic: 't', after: 0 }])
    t.inbox.unsubscribe(b)
    expect(t.sent.at(-1)).toEqual({ t: 'unsub', topic: 't' })
  })

  it('the cursor survives a restart of the worker: hello resumes from it', async () => {
    const first = await setup()
    first.inbox.subscribe('t', 0, recorder().target)
    first.inbox.receive('t', [msg(1), msg(2), msg(3)])
    const stored = async () => (await new DbHandle(first.namespace).get()).getAll('cursors')
    await expect.poll(stored).toEqual([{ topic: 't', seq: 3, epoch: 'e1' }])
    const again = await setup({ namespace: first.namespace })
    again.inbox.subscribe('t', 0, recorder().target)
    expect(again.sent[0]).toEqual({ t: 'sub', topic: 't', after: 3, epoch: 'e1' })
  })
})

describe('Inbox: a new subscription catches up', () => {
  it('from the local log alone, asking the server nothing', async () => {
    const t = await setup()
    const first = recorder()
    t.inbox.subscribe('t', 0, first.target)
    t.inbox.receive('t', [msg(1), msg(2), msg(3)])
    await until(() => first.got.length === 3)
    const late = recorder()
    t.inbox.subscribe('t', 1, late.target)
    t.inbox.receive('t', [msg(4)])
    await until(() => late.got.length === 3)
    expect(late.got).toEqual([2, 3, 4])
    expect(t.sent.filter((f) => f.t === 'fetch')).toEqual([])
  })

  it('from the server for what the log trimmed, then from the log', async () => {
    const t = await setup({ retention: 2 })
    const first = recorder()
    t.inbox.subscribe('t', 0, first.target)
    for (const s of [1, 2, 3]) t.inbox.receive('t', [msg(s)])
    await until(() => first.got.length === 3)
    const late = recorder()
    t.inbox.subscribe('t', 0, late.target)
    await until(() => t.sent.some((f) => f.t === 'fetch'), 'the fetch')
    const fetch = t.sent.find((f): f is FetchFrame => f.t === 'fetch')
    expect(fetch).toMatchObject({ topic: 't', after: 0, limit: 1 })
    t.inbox.range({
      t: 'range',
      req: fetch?.req ?? 0,
      topic: 't',
      msgs: [{ seq: 1, epoch: 'e1', body: 'b1' }],
      done: true,
    })
    await until(() => late.got.length === 3)
    expect(late.got).toEqual([1, 2, 3])
    expect(late.resets).toEqual([])
  })

  it.each([
    { why: 'the server trimmed it too', answer: [], reset: { seq: 1, reason: 'retention' } },
    {
      why: 'the server holds another epoch there',
      answer: [{ seq: 1, epoch: 'e9', body: 'x' }],
      reset: { seq: 1, reason: 'epoch' },
    },
    {
      why: 'the answer is out of range',
      answer: [{ seq: 5, epoch: 'e1', body: 'x' }],
      reset: { seq: 1, reason: 'retention' },
    },
  ])('$why: the subscriber gets a reset, never the other history', async ({ answer, reset }) => {
    const t = await setup({ retention: 1 })
    const first = recorder()
    t.inbox.subscribe('t', 0, first.target)
    for (const s of [1, 2]) t.inbox.receive('t', [msg(s)])
    await until(() => first.got.length === 2)
    const late = recorder()
    t.inbox.subscribe('t', 0, late.target)
    await until(() => t.sent.some((f) => f.t === 'fetch'), 'the fetch')
    const req = t.sent.find((f): f is FetchFrame => f.t === 'fetch')?.req ?? 0
    t.inbox.range({ t: 'range', req, topic: 't', msgs: answer, done: true })
    await until(() => late.got.length === 1)
    expect(late.resets).toEqual([{ topic: 't', ...reset }])
    expect(late.got).toEqual([2])
  })

  it('a range for another topic or an unknown request is ignored', async () => {
    const t = await setup({ retention: 1, fetchTimeout: 30 })
    const first = recorder()
    t.inbox.subscribe('t', 0, first.target)
    for (const s of [1, 2]) t.inbox.receive('t', [msg(s)])
    await until(() => first.got.length === 2)
    const late = recorder()
    t.inbox.subscribe('t', 0, late.target)
    await until(() => t.sent.some((f) => f.t === 'fetch'), 'the fetch')
    const req = t.sent.find((f): f is FetchFrame => f.t === 'fetch')?.req ?? 0
    t.inbox.range({ t: 'range', req, topic: 'other', msgs: [{ seq: 1, epoch: 'e1', body: 'forged' }], done: true })
    t.inbox.range({ t: 'range', req: req + 7, topic: 't', msgs: [{ seq: 1, epoch: 'e1', body: 'forged' }], done: true })
    // Unanswered, the fetch is given up after fetchTimeout: the subscriber hears where its history resumes.
    await until(() => late.got.length === 1, 'the catch-up without the fetch')
    expect(late.resets).toEqual([{ topic: 't', seq: 1, reason: 'retention' }])
    expect(t.logs).toContain('1 fetch(es) unanswered for 30 ms: catching up without them')
  })

  it('a fetch cut off by a dropped socket is asked again on the next one', async () => {
    const t = await setup({ retention: 1 })
    const first = recorder()
    t.inbox.subscribe('t', 0, first.target)
    for (const s of [1, 2]) t.inbox.receive('t', [msg(s)])
    await until(() => first.got.length === 2)
    const late = recorder()
    t.inbox.subscribe('t', 0, late.target)
    await until(() => t.sent.filter((f) => f.t === 'fetch').length === 1)
    t.inbox.dropped()
    await until(() => t.sent.filter((f) => f.t === 'fetch').length === 2, 'the second fetch')
    const [a, b] = t.sent.filter((f): f is FetchFrame => f.t === 'fetch')
    expect(b?.req).not.toBe(a?.req)
    t.inbox.range({ t: 'range', req: b?.req ?? 0, topic: 't', msgs: [{ seq: 1, epoch: 'e1', body: 'b1' }], done: true })
    await until(() => late.got.length === 2)
    expect(late.got).toEqual([1, 2])
  })
})

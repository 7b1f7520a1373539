/**
 * `wire.messages()`'s stream over a scripted subscription: it subscribes when the loop starts, pauses at `buffer`
 * and resumes after the last message it kept (nothing lost, nothing twice), holds one message at a time with
 * `conflate`, keeps resets in order, and ends on break, abort and the wire's close.
 */
import { describe, expect, it } from 'vitest'
import type { ResetNotice } from '../../src/protocol/port.ts'
import { MessageStream, type StreamOptions } from '../../src/client/message-stream.ts'

interface M {
  seq: number
}

/** A subscription the test drives: each `open` is recorded with its handlers; `stop` marks it stopped. */
function scripted() {
  const subs: {
    after: number | 'latest'
    onMessage: (m: M) => Promise<void> | undefined
    onReset: (n: ResetNotice) => void
    stopped: boolean
  }[] = []
  let closeWire: (() => void) | undefined
  const open = async (
    after: number | 'latest',
    onMessage: (m: M) => Promise<void> | undefined,
    onReset: (n: ResetNotice) => void,
  ) => {
    const sub = { after, onMessage, onReset, stopped: false }
    subs.push(sub)
    return async () => void (sub.stopped = true)
  }
  const onClose = (end: () => void) => {
    closeWire = end
    return () => (closeWire = undefined)
  }
  const last = () => {
    const s = subs.at(-1)
    if (!s) throw new Error('not subscribed')
    return s
  }
  return { subs, open, onClose, last, closeWire: () => closeWire?.() }
}

const options = (o: Partial<StreamOptions> = {}): StreamOptions => ({
  after: 0,
  conflate: false,
  buffer: 1_000,
  onReset: undefined,
  signal: undefined,
  ...o,
})

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('MessageStream', () => {
  it('subscribes on the first next(), not before, and yields messages in order', async () => {
    const s = scripted()
    const stream = new MessageStream<M>(s.open, options({ after: 4 }), s.onClose)
    expect(s.subs).toEqual([])
    const first = stream.next()
    await tick()
    expect(s.subs.map((x) => x.after)).toEqual([4])
    s.last().onMessage({ seq: 5 })
    s.last().onMessage({ seq: 6 })
    expect(await first).toEqual({ value: { seq: 5 }, done: false })
    expect(await stream.next()).toEqual({ value: { seq: 6 }, done: false })
  })

  it('a slow loop: at `buffer` messages the subscription stops; once drained, it resumes after the last one kept', async () => {
    const s = scripted()
    const stream = new MessageStream<M>(s.open, options({ buffer: 3 }), s.onClose)
    const first = stream.next()
    await tick()
    for (let seq = 1; seq <= 6; seq++) s.subs[0]?.onMessage({ seq })
    // 1 went to the waiting loop; 2, 3, 4 filled the buffer; 5 and 6 arrived after the pause and were dropped.
    expect(s.subs[0]?.stopped).toBe(true)
    const seen = [(await first).value?.seq]
    for (let i = 0; i < 3; i++) seen.push((await stream.next()).value?.seq)
    await tick()
    expect(s.subs.map((x) => x.after)).toEqual([0, 4])
    const next = stream.next()
    s.last().onMessage({ seq: 5 })
    seen.push((await next).value?.seq)
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(s.subs.length).toBe(2)
  })

  it('conflate: the worker is answered only when the loop asks for the next message', async () => {
    const s = scripted()
    const stream = new MessageStream<M>(s.open, options({ conflate: true }), s.onClose)
    const first = stream.next()
    await tick()
    let answered = false
    void s
      .last()
      .onMessage({ seq: 1 })
      ?.then(() => (answered = true))
    expect((await first).value).toEqual({ seq: 1 })
    await tick()
    expect(answered).toBe(false)
    const second = stream.next()
    await tick()
    expect(answered).toBe(true)
    s.last().onMessage({ seq: 9 })
    expect((await second).value).toEqual({ seq: 9 })
  })

  it('a reset reaches onReset in its place among the messages', async () => {
    const s = scripted()
    const order: string[] = []
    const stream = new MessageStream<M>(s.open, options({ onReset: (n) => order.push(`reset ${n.seq}`) }), s.onClose)
    const first = stream.next()
    await tick()
    s.last().onMessage({ seq: 1 })
    s.last().onReset({ topic: 't', seq: 7, reason: 'retention' })
    s.last().onMessage({ seq: 8 })
    order.push(`msg ${(await first).value?.seq}`)
    expect(order).toEqual(['msg 1'])
    order.push(`msg ${(await stream.next()).value?.seq}`)
    expect(order).toEqual(['msg 1', 'reset 7', 'msg 8'])
  })

  it('ends with done on break (return), on abort and when the wire closes, and stops its subscription', async () => {
    for (const how of ['return', 'abort', 'close'] as const) {
      const s = scripted()
      const ac = new AbortController()
      const stream = new MessageStream<M>(s.open, options({ signal: ac.signal }), s.onClose)
      const waiting = stream.next()
      await tick()
      if (how === 'return') await stream.return()
      if (how === 'abort') ac.abort()
      if (how === 'close') s.closeWire()
      expect(await waiting).toEqual({ value: undefined, done: true })
      await tick()
      expect(s.last().stopped).toBe(true)
      expect(await stream.next()).toEqual({ value: undefined, done: true })
    }
  })

  it('an already aborted signal never subscribes; a failed subscribe rejects next() and ends the stream', async () => {
    const s = scripted()
    const ac = new AbortController()
    ac.abort()
    const stream = new MessageStream<M>(s.open, options({ signal: ac.signal }), s.onClose)
    expect(await stream.next()).toEqual({ value: undefined, done: true })
    expect(s.subs).toEqual([])
    const failing = new MessageStream<M>(() => Promise.reject(new Error('closed')), options(), s.onClose)
    await expect(failing.next()).rejects.toThrow('closed')
    expect(await failing.next()).toEqual({ value: undefined, done: true })
  })
})

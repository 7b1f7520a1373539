/**
 * Admission control with real ws clients: the close code and reason a connection over the rate gets, the slots the
 * rejected ones are told, and the bucket refilling. The bucket's clock is `performance.now()`, faked here (and only
 * it: timers and sockets stay real) so every `retry-after` is an exact value rather than a timing-dependent one.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Admission } from '../../src/server/admission.ts'
import { createServer } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'
import type { TestClient } from '../support/ws-client.ts'

const h = serverHarness()

/** Opens a socket and returns how the server closed it without a hello: only a rejected one closes by itself. */
async function rejected(url: string): Promise<{ code: number; reason: string; frames: number }> {
  const c = await h.open(url)
  const closed = await c.closed
  return { ...closed, frames: c.frames.length }
}

describe('admission control (server)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('lets in a burst, then closes each new connection with 4429 and a retry-after one slot later than the last', async () => {
    const { server, url } = await h.serve({ admission: { ratePerSecond: 10, burst: 3 } })
    for (const id of ['a', 'b', 'c']) await h.hello(url, id)
    expect(server.connections()).toBe(3)

    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=100', frames: 0 })
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=200', frames: 0 })
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=300', frames: 0 })
    // A rejected socket never became a connection: the admitted three are untouched.
    expect(server.connections()).toBe(3)
  })

  it('refills at the rate: one token per interval, the next rejection booked after the slots already told', async () => {
    const { server, url } = await h.serve({ admission: { ratePerSecond: 10, burst: 2 } })
    await h.hello(url, 'a')
    await h.hello(url, 'b')
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=100', frames: 0 })
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=200', frames: 0 })

    vi.advanceTimersByTime(100)
    const c = await h.hello(url, 'c')
    expect(c.frames[0]).toEqual({ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 })
    // The slots at 100 and 200 were handed out already: the next one is 300 (200 ms from now).
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=200', frames: 0 })
    expect(server.connections()).toBe(3)
  })

  it('refills up to the burst and no further, and a later rejection waits only for the next token', async () => {
    const { server, url } = await h.serve({ admission: { ratePerSecond: 10, burst: 2 } })
    await h.hello(url, 'a')
    await h.hello(url, 'b')
    expect((await rejected(url)).reason).toBe('retry-after=100')

    vi.advanceTimersByTime(60_000)
    await h.hello(url, 'c')
    await h.hello(url, 'd')
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=100', frames: 0 })
    expect(server.connections()).toBe(4)
  })

  it('an admitted connection is served as usual (pubs acked), a rejected client id is admitted once there is a token', async () => {
    const { url } = await h.serve({ admission: { ratePerSecond: 1, burst: 1 } })
    const a = await h.hello(url, 'a', { subs: [{ topic: 't', after: 0 }] })
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=1000', frames: 0 })
    vi.advanceTimersByTime(1_000)
    const b = await h.hello(url, 'b', { subs: [{ topic: 't', after: 0 }] })
    b.send({ t: 'pub', id: 1, topic: 't', body: 'from b' })
    await a.untilSeq('t', 1)
    await b.waitFor((frames) => frames.some((f) => f.t === 'ack' && f.id === 1))
    expect(a.msgs('t').map((m) => [m.seq, m.body])).toEqual([[1, 'from b']])
  })

  it('maxHellos: while that many hellos wait on authenticate, a new connection gets 4429; once one is answered, the next is let in', async () => {
    const waiting: (() => void)[] = []
    const { server, url } = await h.serve({
      admission: { ratePerSecond: 1_000, burst: 100, maxHellos: 2 },
      authenticate: (token) => new Promise((resolve) => waiting.push(() => resolve({ user: token ?? 'u' }))),
    })
    const a = await h.open(url)
    const b = await h.open(url)
    // A socket that has not said hello holds no place: a third one is admitted.
    const idle = await h.open(url)
    a.send({ t: 'hello', v: 1, client: 'a', subs: [] })
    b.send({ t: 'hello', v: 1, client: 'b', subs: [] })
    await vi.waitFor(() => expect(waiting).toHaveLength(2))
    // Two hellos under way: the gate takes no token and books a slot one interval (1 ms) on.
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=1', frames: 0 })
    expect(await rejected(url)).toEqual({ code: 4429, reason: 'retry-after=2', frames: 0 })
    waiting[0]?.()
    await a.waitFor((frames) => frames.some((f) => f.t === 'welcome'))
    // One answered: one place free.
    const c = await h.open(url)
    c.send({ t: 'hello', v: 1, client: 'c', subs: [] })
    await vi.waitFor(() => expect(waiting).toHaveLength(3))
    expect((await rejected(url)).code).toBe(4429)
    waiting[1]?.()
    waiting[2]?.()
    await b.waitFor((frames) => frames.some((f) => f.t === 'welcome'))
    await c.waitFor((frames) => frames.some((f) => f.t === 'welcome'))
    expect(server.connections()).toBe(4)
    await idle.close()
  })

  it('maxHellos: a hello refused by authenticate frees its place too', async () => {
    const { url } = await h.serve({
      admission: { ratePerSecond: 1_000, burst: 100, maxHellos: 1 },
      authenticate: () => Promise.reject(new Error('no')),
    })
    for (const client of ['a', 'b', 'c']) {
      const s = await h.open(url)
      s.send({ t: 'hello', v: 1, client, subs: [] })
      expect((await s.closed).code).toBe(4403)
    }
  })

  it('without the option every connection is admitted', async () => {
    const { server, url } = await h.serve()
    const clients: TestClient[] = []
    for (let i = 0; i < 30; i++) clients.push(await h.hello(url, `c${i}`))
    expect(server.connections()).toBe(30)
  })

  it('rejects a bucket that could never admit anyone', async () => {
    await expect(createServer({ port: 0, admission: { ratePerSecond: 0, burst: 5 } })).rejects.toThrow(RangeError)
    await expect(createServer({ port: 0, admission: { ratePerSecond: 5, burst: 0 } })).rejects.toThrow(RangeError)
    await expect(createServer({ port: 0, admission: { ratePerSecond: Number.NaN, burst: 5 } })).rejects.toThrow(
      /ratePerSecond/,
    )
    await expect(createServer({ port: 0, admission: { ratePerSecond: 5, burst: 5, maxHellos: 0 } })).rejects.toThrow(
      'admission.maxHellos must be an integer ≥ 1, got 0',
    )
  })
})

describe('Admission (the bucket on a virtual clock)', () => {
  it('hands out the burst, then slots one interval apart that follow the refill', () => {
    let now = 1_000
    const gate = new Admission({ ratePerSecond: 4, burst: 2 }, () => now)
    expect([gate.take(), gate.take()]).toEqual([{ admit: true }, { admit: true }])
    expect([gate.take(), gate.take(), gate.take()]).toEqual([
      { admit: false, retryAfterMs: 250 },
      { admit: false, retryAfterMs: 500 },
      { admit: false, retryAfterMs: 750 },
    ])
    // Half an interval later: half a token, so the first free token is 125 ms away, but slots up to 750 are told.
    now += 125
    expect(gate.take()).toEqual({ admit: false, retryAfterMs: 875 })
    now += 125
    expect(gate.take()).toEqual({ admit: true })
  })

  it('with maxHellos under way it admits nobody and takes no token; each hello that ends frees one place', () => {
    let now = 0
    const gate = new Admission({ ratePerSecond: 4, burst: 3, maxHellos: 2 }, () => now)
    expect(gate.take()).toEqual({ admit: true })
    const first = gate.helloStarted()
    expect(gate.take()).toEqual({ admit: true })
    const second = gate.helloStarted()
    expect([gate.take(), gate.take()]).toEqual([
      { admit: false, retryAfterMs: 250 },
      { admit: false, retryAfterMs: 500 },
    ])
    first()
    first()
    // The one token left in the bucket is still there, and only one place is free.
    expect(gate.take()).toEqual({ admit: true })
    gate.helloStarted()
    expect(gate.take().admit).toBe(false)
    second()
    now += 1_000
    expect(gate.take()).toEqual({ admit: true })
  })

  it('admits exactly ratePerSecond per second in steady state', () => {
    let now = 0
    // 62.5/s: a 16 ms interval, a power of two, so the refill adds up exactly in floating point.
    const gate = new Admission({ ratePerSecond: 62.5, burst: 1 }, () => now)
    let admitted = 0
    // One arrival per ms for 10 s: admitted at 0, 16, 32, … 9984.
    for (now = 0; now < 10_000; now++) if (gate.take().admit) admitted++
    expect(admitted).toBe(10_000 / 16)
  })
})

/**
 * Inputs that used to crash the server or grow its memory without bound, over real sockets: bodies nested thousands
 * of levels deep, frames that cannot be encoded, floods of fetches and re-subscriptions, and clients that send but
 * never read. Each test counts what went over the wire (WebSocket messages, their largest size, pongs) and reads the
 * server's own gauge of bytes waiting per connection (`server.outputBytes()`).
 */
import { describe, expect, it, vi } from 'vitest'
import { MAX_BODY_DEPTH } from '../../src/protocol/depth.ts'
import type { ClientFrame, Json, ServerFrame } from '../../src/protocol/frames.ts'
import { Connection } from '../../src/server/connection.ts'
import { HIGH_WATER_BYTES, MESSAGE_BYTES, PAUSE_BYTES } from '../../src/server/outbox.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import { serverHarness } from '../support/server-harness.ts'
import { until } from '../support/wait.ts'
import { WireCounter } from '../support/wire-counter.ts'

const { serve, hello, open } = serverHarness()

const nested = (depth: number): Json => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as Json
const text = (...frames: ClientFrame[]) => JSON.stringify(frames.length === 1 ? frames[0] : frames)

describe('nesting', () => {
  it.each(['memory', 'sqlite'] as const)(
    'a pub nested 5,000 levels deep gets error depth and 4400 (not 1011 and a resend forever), on %s; nothing is stored; the server and other clients go on',
    async (kind) => {
      const store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: ':memory:' })
      const { server, url } = await serve({ store })
      const watcher = await hello(url, 'w', { subs: [{ topic: 'room', after: 0 }] })
      const c = await hello(url, 'c')
      // 10 kB of text: JSON.parse takes it, JSON.stringify overflows the stack on it.
      c.send(`{"t":"pub","id":1,"topic":"room","body":${'['.repeat(5_000)}${']'.repeat(5_000)}}`)
      expect(await c.closed).toEqual({ code: 4400, reason: 'depth' })
      expect(c.frames.at(-1)).toEqual({ t: 'error', code: 'depth', message: 'pub.body nests deeper than 100 levels' })
      expect(await server.store.acked('anonymous', 'c')).toBe(0)
      expect((await server.store.head('room')).last).toBe(0)

      // The limit itself passes, as text and in a binary message; the next level does not.
      const again = await hello(url, 'c')
      again.send({ t: 'pub', id: 1, topic: 'room', body: nested(MAX_BODY_DEPTH) })
      again.sendBinary({ t: 'pub', id: 2, topic: 'room', body: nested(MAX_BODY_DEPTH) })
      await again.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 2))
      again.sendBinary({ t: 'pub', id: 3, topic: 'room', body: { a: nested(MAX_BODY_DEPTH) } })
      expect(await again.closed).toEqual({ code: 4400, reason: 'depth' })
      await watcher.untilSeq('room', 2)
      expect(watcher.msgs('room').map((m) => JSON.stringify(m.body))).toEqual([
        JSON.stringify(nested(MAX_BODY_DEPTH)),
        JSON.stringify(nested(MAX_BODY_DEPTH)),
      ])
      watcher.send({ t: 'ping', n: 1 })
      await watcher.waitFor((f) => f.some((x) => x.t === 'pong'))
      expect(server.connections()).toBe(1)
    },
  )

  it('server.publish refuses a body no client could send', async () => {
    const { server } = await serve()
    await expect(server.publish('room', nested(MAX_BODY_DEPTH + 1))).rejects.toThrow(
      'publish("room"): the body nests deeper than 100 levels',
    )
    expect((await server.store.head('room')).last).toBe(0)
  })

  it('a stored frame that cannot be encoded ends that connection with 1011, never the process', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const store = createMemoryStore()
      const { server, url } = await serve({ store })
      // Straight into the store, as another server (or a bug) could have put it: sending it overflows the stack.
      await store.append('poison', nested(5_000))
      const live = await hello(url, 'live', {
        subs: [
          { topic: 'poison', after: 1 },
          { topic: 'room', after: 0 },
        ],
      })
      const late = await hello(url, 'late', { subs: [{ topic: 'poison', after: 0 }] })
      expect(await late.closed).toEqual({ code: 1011, reason: 'internal error' })
      expect(errors).toHaveBeenCalledWith(
        'tabwire: closing a connection after an internal error',
        expect.any(RangeError),
      )
      await server.publish('room', 'still here')
      await live.untilSeq('room', 1)
      expect(server.connections()).toBe(1)
    } finally {
      errors.mockRestore()
    }
  })
})

describe('amplification', () => {
  it('700 fetch frames (one message) for a 900 kB message: all answered in order, one message each, never more than the bound waiting', {
    timeout: 300_000,
  }, async () => {
    // 630 MB go over the wire; the client sends nothing meanwhile.
    const { server, url } = await serve({ idleTimeout: 600_000 })
    const big = 'x'.repeat(900_000)
    await server.publish('big', big)
    const answers: number[] = []
    let wrongBodies = 0
    const c = await WireCounter.open(url, (f) => {
      if (f.t !== 'range') return
      answers.push(f.req)
      if (f.msgs.length !== 1 || f.msgs[0]?.body !== big || !f.done) wrongBodies++
    })
    await c.send(text({ t: 'hello', v: 1, client: 'c', subs: [] }))
    await c.until(() => c.frames === 1, 'welcome')
    // The client stops reading first: the server must stop producing, not buffer 630 MB.
    c.pause()
    const fetches = Array.from(
      { length: 700 },
      (_, req): ClientFrame => ({ t: 'fetch', req, topic: 'big', after: 0, limit: 10 }),
    )
    expect(text(...fetches).length).toBeLessThan(45_000)
    await c.send(text(...fetches))
    await until(
      'the server to feel the non-reading client',
      () => server.outputBytes().now,
      (n) => n > HIGH_WATER_BYTES,
    )
    c.resume()
    await c.until(() => answers.length === 700, '700 ranges', 280_000)
    expect(answers).toEqual(Array.from({ length: 700 }, (_, i) => i))
    expect(wrongBodies).toBe(0)
    // Each 900 kB range travels alone; no message ever holds two of them.
    expect(c.maxMessageBytes).toBeLessThan(2 * 900_000)
    expect(c.messages).toBeGreaterThanOrEqual(701)
    // What waited for the client at any time: under the high-water mark plus about one such range.
    expect(server.outputBytes().peak).toBeLessThan(HIGH_WATER_BYTES + 2 * 900_000)
  })

  it('400 re-subscriptions of a topic holding 500 × 100 kB do not stack replays: one feed, the bytes waiting stay bounded', async () => {
    const { server, url } = await serve()
    const body = 'y'.repeat(100_000)
    // 50 MB: more than the loopback socket's buffers can hold on any kernel (tcp_rmem's ceiling is 32 MB on some), so
    // the paused client is felt by the server however large the kernel lets those buffers grow.
    const stored = 500
    for (let i = 0; i < stored; i++) await server.publish('t', body)
    const seqs: number[] = []
    const c = await WireCounter.open(url, (f) => {
      if (f.t === 'msg') seqs.push(f.seq)
    })
    await c.send(text({ t: 'hello', v: 1, client: 'c', subs: [] }))
    await c.until(() => c.frames === 1, 'welcome')
    c.pause()
    const subs = Array.from({ length: 400 }, (): ClientFrame => ({ t: 'sub', topic: 't', after: 0 }))
    expect(text(...subs).length).toBeLessThan(14_000)
    await c.send(text(...subs))
    // Felt once more than the high-water mark waited for it: replays that were replaced before their first read read
    // nothing, so the queue may have drained into the socket's buffers again by the time it is looked at.
    await until(
      'the server to feel the non-reading client',
      () => server.outputBytes().peak,
      (n) => n > HIGH_WATER_BYTES,
      { timeout: 120_000 },
    )
    expect(server.subscribers('t')).toBe(1)
    c.resume()
    // The last sub's replay runs to the end.
    await c.until(() => seqs.at(-1) === stored, `a replay to seq ${stored}`, 120_000)
    // Replays were restarted, never run side by side: the seqs come as ascending runs from 1, each a prefix of 1..500.
    const runs: number[][] = []
    for (const s of seqs) {
      if (s === 1) runs.push([])
      runs.at(-1)?.push(s)
    }
    for (const run of runs) expect(run).toEqual(Array.from({ length: run.length }, (_, i) => i + 1))
    expect(runs.at(-1)).toHaveLength(stored)
    // 400 replays of 50 MB would have been 20 GB; the client got what the socket buffers held and one full replay.
    expect(seqs.length).toBeLessThan(2 * stored)
    expect(server.outputBytes().peak).toBeLessThan(HIGH_WATER_BYTES + 2 * MESSAGE_BYTES)
  }, 300_000)
})

describe('a client that never reads', () => {
  it('flooding 20 MB of pings: pongs coalesce while it does not read, so the bytes waiting for it stay under a message or two; the last pong answers the last ping', async () => {
    const { server, url } = await serve()
    let pongs = 0
    let lastPong = -1
    const c = await WireCounter.open(url, (f) => {
      if (f.t === 'pong') pongs++, (lastPong = f.n)
    })
    await c.send(text({ t: 'hello', v: 1, client: 'c', subs: [] }))
    await c.until(() => c.frames === 1, 'welcome')
    c.pause()
    let n = 0
    let sent = 0
    while (sent < 20_000_000) {
      const batch = Array.from({ length: 4_000 }, (): ClientFrame => ({ t: 'ping', n: n++ }))
      const data = text(...batch)
      sent += data.length
      await c.send(data)
    }
    const last = n - 1
    c.resume()
    await c.until(() => lastPong === last, `the pong of ping ${last}`, 120_000)
    // Every ping was read and answered, but while the client did not read, newer pongs replaced queued ones: the
    // pongs it got are those the kernel's socket buffers held (a few MB) and a few more.
    expect(pongs).toBeLessThan(n / 2)
    expect(c.maxMessageBytes).toBeLessThanOrEqual(MESSAGE_BYTES)
    expect(server.outputBytes().peak).toBeLessThan(2 * MESSAGE_BYTES)
    expect(server.connections()).toBe(1)
  })

  it('flooding denied subs (an error frame each): the server stops reading it once 1 MiB waits, holds no more, and the idle timeout closes it', async () => {
    const closes = vi.spyOn(Connection.prototype, 'close')
    try {
      const { server, url } = await serve({ authorize: () => false, idleTimeout: 1_500 })
      let errors = 0
      const c = await WireCounter.open(url, (f) => {
        if (f.t === 'error') errors++
      })
      await c.send(text({ t: 'hello', v: 1, client: 'c', subs: [] }))
      await c.until(() => c.frames === 1, 'welcome')
      c.pause()
      const subs = Array.from({ length: 5_000 }, (_, i): ClientFrame => ({ t: 'sub', topic: `secret:${i}`, after: 0 }))
      // 100 messages of 5,000 denied subs would be 500,000 error frames (about 40 MB) if the server read them all.
      const flood = (async () => {
        for (let i = 0; i < 100; i++) await c.send(text(...subs)).catch(() => {})
      })()
      await until('the idle timeout', () => closes.mock.calls.some(([code]) => code === 4408), Boolean)
      // The server stopped reading: only then did the client go quiet for an idle timeout.
      c.resume()
      expect(await c.closed).toEqual({ code: 4408, reason: 'idle timeout' })
      await flood
      expect(server.outputBytes().peak).toBeLessThan(HIGH_WATER_BYTES + PAUSE_BYTES)
      expect(errors).toBeLessThan(150_000)
      await until(
        'the connection to end',
        () => server.connections(),
        (n) => n === 0,
      )
    } finally {
      closes.mockRestore()
    }
  })
})

describe('void answers', () => {
  it('20,000 voids in one message, each answered with 64 calls, from a client that never reads: answered only while there is room', async () => {
    const closes = vi.spyOn(Connection.prototype, 'close')
    try {
      const { server, url } = await serve({ idleTimeout: 1_500 })
      let voided = 0
      const c = await WireCounter.open(url, (f) => {
        if (f.t === 'voided') voided++
      })
      await c.send(text({ t: 'hello', v: 1, client: 'c', subs: [] }))
      await c.until(() => c.frames === 1, 'welcome')
      // 64 kept calls with the longest tab ids: each `voided` answering them is about 6 kB.
      const tab = 'x'.repeat(64)
      const pubs = Array.from({ length: 64 }, (_, i): ClientFrame => {
        const id = i + 1
        return { t: 'pub', id, topic: 'room', body: id, call: [tab, id, 1, 0] }
      })
      await c.send(text(...pubs))
      await c.until(() => c.frames === 2, 'the ack')
      c.pause()
      // About 120 MB of answers if the server wrote them all at once.
      await c.send(text(...Array.from({ length: 20_000 }, (): ClientFrame => ({ t: 'void', from: 1, to: 64 }))))
      await until('the idle timeout', () => closes.mock.calls.some(([code]) => code === 4408), Boolean)
      c.resume()
      expect(await c.closed).toEqual({ code: 4408, reason: 'idle timeout' })
      expect(server.outputBytes().peak).toBeLessThan(HIGH_WATER_BYTES + 2 * MESSAGE_BYTES)
      expect(voided).toBeGreaterThan(0)
      expect(voided).toBeLessThan(20_000)
      expect(c.invalid).toEqual([])
    } finally {
      closes.mockRestore()
    }
  })
})

describe('fetch is always answered', () => {
  it('a denied fetch: error forbidden, then an empty range with its req and done', async () => {
    const { url } = await serve({ authorize: (_user, topic) => topic !== 'secret' })
    const c = await hello(url, 'c')
    c.send({ t: 'fetch', req: 41, topic: 'secret', after: 0, limit: 10 })
    await c.waitFor((f) => f.some((x) => x.t === 'range'))
    expect(c.frames.slice(1)).toEqual<ServerFrame[]>([
      { t: 'error', code: 'forbidden', message: 'not allowed to read secret' },
      { t: 'range', req: 41, topic: 'secret', msgs: [], done: true },
    ])
    const other = await open(url)
    other.send({ t: 'ping', n: 1 })
    expect(await other.closed).toMatchObject({ code: 4400 })
  })
})

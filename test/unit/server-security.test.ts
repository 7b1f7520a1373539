/**
 * The server's security options with real ws clients: `authorize` (pub and sub), the per-connection `rateLimit`,
 * `maxSubscriptions` and `allowedOrigins`. (The frame-size cap is in server-bad-input.test.ts; dedup and acks bound to
 * the authenticated user in server-publish.test.ts.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { createServer, type ServerOptions } from '../../src/server/index.ts'
import type { TopicAction } from '../../src/server/guard.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello, open } = serverHarness()

/** user = the token. */
const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })

/** Topics `secret:*` belong to `root`; every call is recorded. */
function authorizer() {
  const calls: [string, string, TopicAction][] = []
  const authorize = async (user: string, topic: string, action: TopicAction) => {
    calls.push([user, topic, action])
    await new Promise((r) => setTimeout(r, 1)) // an async lookup
    return !topic.startsWith('secret') || user === 'root'
  }
  return { calls, authorize }
}

const pub = (id: number, topic: string, body: unknown) => ({ t: 'pub' as const, id, topic, body: body as never })

describe('authorize', () => {
  it('a denied pub is refused for good: nack forbidden, the counter moves past it, the pubs after it go on', async () => {
    const { calls, authorize } = authorizer()
    const { server, url } = await serve({ authenticate, authorize })
    const watcher = await hello(url, 'w', { token: 'bob', subs: [{ topic: 'room', after: 0 }] })
    const alice = await hello(url, 'a', { token: 'alice' })
    alice.send(pub(1, 'room', 'a1'), pub(2, 'secret:plans', 'leak'), pub(3, 'room', 'a3'), pub(4, 'secret:plans', 'x'))
    await alice.waitFor((f) => f.some((x) => x.t === 'nack' && x.id === 4))
    expect(alice.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 1 },
      { t: 'nack', id: 2, code: 'forbidden', message: 'not allowed to publish to secret:plans' },
      { t: 'ack', id: 3 },
      { t: 'nack', id: 4, code: 'forbidden', message: 'not allowed to publish to secret:plans' },
    ])
    // Asked once per distinct topic of the message.
    expect(calls.filter(([user]) => user === 'alice')).toEqual([
      ['alice', 'room', 'pub'],
      ['alice', 'secret:plans', 'pub'],
    ])
    expect((await server.store.head('secret:plans')).last).toBe(0)
    expect(await server.store.acked('alice', 'a')).toBe(4)
    await watcher.untilSeq('room', 2)
    await watcher.quiet()
    expect(watcher.msgs('room').map((m) => m.body)).toEqual(['a1', 'a3'])
    expect(server.connections()).toBe(2)

    // A reconnecting client is told the refusals again (its nacks may have been lost with the connection); a
    // refused id resent is refused again, never acked as if delivered.
    const again = await hello(url, 'a', { token: 'alice' })
    const refused = [
      { id: 2, code: 'forbidden', message: 'not allowed to publish to secret:plans' },
      { id: 4, code: 'forbidden', message: 'not allowed to publish to secret:plans' },
    ]
    expect(again.frames).toEqual([{ t: 'welcome', v: 1, acked: 4, maxBytes: 1048576, refused, early: 64 }])
    again.send(pub(2, 'secret:plans', 'leak'), pub(5, 'room', 'a5'))
    await again.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 5))
    expect(again.frames.slice(1)).toEqual([
      { t: 'nack', ...refused[0] },
      { t: 'ack', id: 5 },
    ])
    await watcher.untilSeq('room', 3)
    expect(watcher.msgs('room').map((m) => m.body)).toEqual(['a1', 'a3', 'a5'])

    // The owner of the topic may publish to it.
    const root = await hello(url, 'r', { token: 'root' })
    root.send(pub(1, 'secret:plans', 'ok'))
    await root.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 1))
    expect((await server.store.read('secret:plans', 0, 10)).msgs.map((m) => m.body)).toEqual(['ok'])
  })

  it('validate refuses one body for good with its reason (or a default one); the rest of the message goes on', async () => {
    const seen: [string, string, unknown][] = []
    const { server, url } = await serve({
      authenticate,
      validate: async (user, topic, body) => {
        seen.push([user, topic, body])
        if (body === 'spam') return 'looks like spam'
        return body !== 'bad'
      },
    })
    const c = await hello(url, 'c', { token: 'ann', subs: [{ topic: 'room', after: 0 }] })
    c.send(pub(1, 'room', 'ok1'), pub(2, 'room', 'spam'), pub(3, 'room', 'bad'), pub(4, 'room', 'ok4'))
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 4))
    expect(c.frames.filter((f) => f.t !== 'msg')).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 1 },
      { t: 'nack', id: 2, code: 'invalid', message: 'looks like spam' },
      { t: 'nack', id: 3, code: 'invalid', message: 'refused by validation' },
      { t: 'ack', id: 4 },
    ])
    expect(seen.map(([, , body]) => body)).toEqual(['ok1', 'spam', 'bad', 'ok4'])
    expect(seen.every(([user, topic]) => user === 'ann' && topic === 'room')).toBe(true)
    expect((await server.store.read('room', 0, 10)).msgs.map((m) => m.body)).toEqual(['ok1', 'ok4'])
    expect(await server.store.refusals('ann', 'c')).toEqual([
      { id: 2, code: 'invalid', message: 'looks like spam' },
      { id: 3, code: 'invalid', message: 'refused by validation' },
    ])
  })

  it('a skip stands for a pub too large to send: refused too-large, in its place in the id sequence', async () => {
    const { server, url } = await serve({ authenticate, maxFrameBytes: 4096 })
    const c = await hello(url, 'c', { token: 'ann' })
    expect(c.frames[0]).toEqual({ t: 'welcome', v: 1, acked: 0, maxBytes: 4096, early: 64 })
    c.send(pub(1, 'room', 'a'), { t: 'skip', id: 2 }, pub(3, 'room', 'c'))
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
    expect(c.frames.slice(1)).toEqual([
      { t: 'ack', id: 1 },
      { t: 'nack', id: 2, code: 'too-large', message: 'pub 2 is larger than the server takes (4096 bytes)' },
      { t: 'ack', id: 3 },
    ])
    // A skip out of order is the same protocol error as such a pub.
    c.send({ t: 'skip', id: 9 })
    expect(await c.closed).toEqual({ code: 4400, reason: 'out-of-order' })
    expect((await server.store.read('room', 0, 10)).msgs.map((m) => m.body)).toEqual(['a', 'c'])
  })

  it('a skip with why (cancelled, expired) is refused with that code: the counter moves past it, nothing published', async () => {
    const { server, url } = await serve({ authenticate })
    const c = await hello(url, 'c', { token: 'ann' })
    c.send(pub(1, 'room', 'a'), { t: 'skip', id: 2, why: 'cancelled' }, { t: 'skip', id: 3, why: 'expired' })
    c.send(pub(4, 'room', 'd'))
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 4))
    expect(c.frames.slice(1)).toEqual([
      { t: 'ack', id: 1 },
      { t: 'nack', id: 2, code: 'cancelled', message: 'pub 2 was cancelled before it was sent' },
      { t: 'nack', id: 3, code: 'expired', message: 'pub 3 expired before it was sent' },
      { t: 'ack', id: 4 },
    ])
    expect((await server.store.read('room', 0, 10)).msgs.map((m) => m.body)).toEqual(['a', 'd'])
    // Any other reason is malformed.
    c.send({ t: 'skip', id: 5, why: 'bored' } as never)
    expect(await c.closed).toMatchObject({ code: 4400 })
  })

  it('a denied sub (in hello or later) and fetch get error forbidden and no messages; the connection stays', async () => {
    const { authorize } = authorizer()
    const { server, url } = await serve({ authenticate, authorize })
    await server.publish('secret:a', 'hidden-1')
    const c = await hello(url, 'c', {
      token: 'eve',
      subs: [
        { topic: 'secret:a', after: 0 },
        { topic: 'room', after: 0 },
      ],
    })
    c.send({ t: 'sub', topic: 'secret:b', after: 0 }, { t: 'fetch', req: 7, topic: 'secret:a', after: 0, limit: 10 })
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    await server.publish('secret:a', 'hidden-2')
    await server.publish('secret:b', 'hidden-3')
    await server.publish('room', 'public')
    await c.untilSeq('room', 1)
    await c.quiet()
    // Fetches run beside the frame chain: their answer may come anywhere after the frame that asked. A denied one is
    // still answered, with an empty range marked done, so the client never waits for it.
    const fetchError = { t: 'error', code: 'forbidden', message: 'not allowed to read secret:a' }
    const fetchAnswer = { t: 'range', req: 7, topic: 'secret:a', msgs: [], done: true }
    const isFetchReply = (f: unknown) => [fetchError, fetchAnswer].some((x) => JSON.stringify(x) === JSON.stringify(f))
    expect(c.frames.filter(isFetchReply)).toEqual([fetchError, fetchAnswer])
    expect(c.frames.filter((f) => !isFetchReply(f))).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'error', code: 'forbidden', message: 'not allowed to subscribe to secret:a' },
      { t: 'error', code: 'forbidden', message: 'not allowed to subscribe to secret:b' },
      { t: 'pong', n: 1 },
      { t: 'msg', topic: 'room', seq: 1, epoch: expect.any(String), body: 'public' },
    ])
    expect(server.subscribers('secret:a')).toBe(0)
    expect(server.connections()).toBe(1)
  })

  it('the subs of a hello or a message are authorized 32 ahead, not one after another; verdicts and errors stay in order', async () => {
    let inFlight = 0
    let most = 0
    const asked: string[] = []
    const authorize = async (_user: string, topic: string) => {
      asked.push(topic)
      most = Math.max(most, ++inFlight)
      await new Promise((r) => setTimeout(r, 1)) // an async lookup
      inFlight--
      return !topic.startsWith('secret')
    }
    const { server, url } = await serve({ authenticate, authorize })
    const topics = (from: number) =>
      Array.from({ length: 100 }, (_, i) => (i === 50 ? `secret:${from}` : `t${from + i}`))
    const c = await hello(url, 'c', { token: 'eve', subs: topics(0).map((topic) => ({ topic, after: 0 })) })
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(most).toBe(32)
    most = 0
    c.send(...topics(100).map((topic) => ({ t: 'sub' as const, topic, after: 0 })), { t: 'ping', n: 2 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 2))
    expect(most).toBe(32)
    expect(asked).toEqual([...topics(0), ...topics(100)])
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'error', code: 'forbidden', message: 'not allowed to subscribe to secret:0' },
      { t: 'pong', n: 1 },
      { t: 'error', code: 'forbidden', message: 'not allowed to subscribe to secret:100' },
      { t: 'pong', n: 2 },
    ])
    expect([server.subscribers('t0'), server.subscribers('t199'), server.subscribers('secret:0')]).toEqual([1, 1, 0])
  })

  it('a throwing authorize or validate on a pub is no verdict: 1011, nothing of that message applied, no refusal', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const { server, url } = await serve({
        authorize: (_user, topic) => {
          if (topic === 'boom') throw new Error('db down')
          return topic !== 'no'
        },
        validate: (_user, _topic, body) => {
          if (body === 'crash') throw new Error('validator down')
          return true
        },
      })
      const c = await hello(url, 'c')
      c.send(pub(1, 'ok', 1))
      await c.waitFor((f) => f.some((x) => x.t === 'ack'))
      c.send(pub(2, 'ok', 2), pub(3, 'boom', 3))
      expect(await c.closed).toEqual({ code: 1011, reason: 'internal error' })
      const d = await hello(url, 'c')
      expect(d.frames).toEqual([{ t: 'welcome', v: 1, acked: 1, maxBytes: 1048576, early: 64 }])
      d.send(pub(2, 'ok', 'crash'))
      expect(await d.closed).toEqual({ code: 1011, reason: 'internal error' })
      // A sync boolean works too.
      const e = await hello(url, 'c')
      e.send(pub(2, 'no', 2), pub(3, 'ok', 3))
      await e.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
      expect(e.frames.slice(1)).toEqual([
        { t: 'nack', id: 2, code: 'forbidden', message: 'not allowed to publish to no' },
        { t: 'ack', id: 3 },
      ])
      expect(await server.store.refusals('anonymous', 'c')).toEqual([
        { id: 2, code: 'forbidden', message: 'not allowed to publish to no' },
      ])
      expect(errors).toHaveBeenCalledTimes(2)
    } finally {
      errors.mockRestore()
    }
  })
})

describe('rateLimit', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('counts every frame of a batch: a batch passes while the bucket holds a token, then the next message waits until its frames are paid for; others are unharmed', async () => {
    // Only the bucket's clock is faked: every retry-after is then an exact value.
    vi.useFakeTimers({ toFake: ['performance'] })
    const { server, url } = await serve({ rateLimit: { messagesPerSecond: 10, burst: 3 } })
    const other = await hello(url, 'other') // hello: 1 of its own 3
    const c = await hello(url, 'c') // hello: 1 of 3, 2 left
    c.send(pub(1, 'room', 1), pub(2, 'room', 2), pub(3, 'room', 3), { t: 'ping', n: 1 }) // 4 frames: 2 - 4 = -2
    await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 1))
    c.send({ t: 'ping', n: 2 }) // over: 3 tokens short, 100 ms each
    expect(await c.closed).toEqual({ code: 4429, reason: 'retry-after=300' })
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'ack', id: 3 },
      { t: 'pong', n: 1 },
    ])
    // The message over the limit was not processed: no pong 2.
    expect((await server.store.read('room', 0, 10)).msgs.map((m) => m.body)).toEqual([1, 2, 3])
    other.send({ t: 'ping', n: 9 })
    await other.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 9))
  })

  it('40,000 frames in one message cost 40,000 tokens, and reconnecting the same (user, client) does not refill the bucket', async () => {
    vi.useFakeTimers({ toFake: ['performance'] })
    const { url } = await serve({ authenticate, rateLimit: { messagesPerSecond: 100, burst: 50 } })
    const c = await hello(url, 'c', { token: 'mallory' }) // 49 left
    const flood = Array.from({ length: 40_000 }, (_, n) => ({ t: 'ping' as const, n }))
    c.send(...flood) // passes (the bucket held tokens), leaving it 39,951 short of 1
    await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 39_999), 20_000)
    c.send({ t: 'ping', n: 1 })
    expect(await c.closed).toEqual({ code: 4429, reason: 'retry-after=399520' })

    // A new connection of the same user and client id finds the bucket as it was left: its hello is refused.
    const again = await open(url)
    again.send({ t: 'hello', v: 1, client: 'c', token: 'mallory', subs: [] })
    expect(await again.closed).toEqual({ code: 4429, reason: 'retry-after=399520' })
    expect(again.frames).toEqual([])
    // Another client id (or user) has a bucket of its own.
    const fresh = await hello(url, 'd', { token: 'mallory' })
    fresh.send({ t: 'ping', n: 5 })
    await fresh.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 5))
  })

  it('refills at messagesPerSecond: after 250 ms two more pass and the next is told to wait 50 ms', async () => {
    vi.useFakeTimers({ toFake: ['performance'] })
    const { url } = await serve({ rateLimit: { messagesPerSecond: 10, burst: 3 } })
    const c = await hello(url, 'c')
    for (const n of [1, 2]) c.send({ t: 'ping', n })
    await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === 2))
    vi.advanceTimersByTime(250) // 2.5 tokens
    for (const n of [3, 4, 5]) c.send({ t: 'ping', n })
    expect(await c.closed).toEqual({ code: 4429, reason: 'retry-after=50' })
    expect(c.frames.filter((f) => f.t === 'pong').map((f) => (f.t === 'pong' ? f.n : 0))).toEqual([1, 2, 3, 4])
  })

  it('refuses a bucket that could never pass a message', async () => {
    await expect(createServer({ port: 0, rateLimit: { messagesPerSecond: 0, burst: 1 } })).rejects.toThrow(
      'rateLimit.messagesPerSecond must be a finite number > 0, got 0',
    )
    await expect(createServer({ port: 0, rateLimit: { messagesPerSecond: 5, burst: 0 } })).rejects.toThrow(
      'rateLimit.burst must be a finite number ≥ 1, got 0',
    )
  })
})

describe('maxSubscriptions', () => {
  it('one topic over the cap: error too-many-subscriptions, close 4400; re-subscribing and unsub/sub do not count twice', async () => {
    const { server, url } = await serve({ maxSubscriptions: 2 })
    const good = await hello(url, 'good', { subs: [{ topic: 'x', after: 0 }] })
    const c = await hello(url, 'c', {
      subs: [
        { topic: 'a', after: 0 },
        { topic: 'b', after: 0 },
      ],
    })
    c.send(
      { t: 'sub', topic: 'a', after: 0 },
      { t: 'unsub', topic: 'b' },
      { t: 'sub', topic: 'c', after: 0 },
      { t: 'ping', n: 1 },
    )
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(server.subscribers('c')).toBe(1)
    c.send({ t: 'sub', topic: 'd', after: 0 })
    expect(await c.closed).toEqual({ code: 4400, reason: 'too-many-subscriptions' })
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'pong', n: 1 },
      { t: 'error', code: 'too-many-subscriptions', message: 'at most 2 subscriptions per connection' },
    ])
    await server.publish('x', 1)
    await good.untilSeq('x', 1)
  })

  it('a hello with more subs than the cap is refused after welcome', async () => {
    const { url } = await serve({ maxSubscriptions: 1 })
    const c = await hello(url, 'c', {
      subs: [
        { topic: 'a', after: 0 },
        { topic: 'b', after: 0 },
      ],
    })
    expect(await c.closed).toEqual({ code: 4400, reason: 'too-many-subscriptions' })
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'error', code: 'too-many-subscriptions', message: 'at most 1 subscriptions per connection' },
    ])
  })

  it('refuses a cap below 1', async () => {
    await expect(createServer({ port: 0, maxSubscriptions: 0 })).rejects.toThrow(
      'maxSubscriptions must be an integer ≥ 1, got 0',
    )
  })
})

describe('allowedOrigins', () => {
  /** Opens a raw socket with the given Origin header: resolves 'open' or the HTTP status of a refused upgrade. */
  function tryOrigin(url: string, origin: string | undefined): Promise<{ status: number | 'open'; body: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, origin === undefined ? {} : { origin })
      ws.on('open', () => {
        ws.close()
        resolve({ status: 'open', body: '' })
      })
      ws.on('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      ws.on('error', reject)
    })
  }

  it('lets in only the listed origins: any other, or none, gets HTTP 403 before a WebSocket exists', async () => {
    const { server, url } = await serve({ allowedOrigins: ['https://app.example', 'http://localhost:5173'] })
    expect(await tryOrigin(url, 'https://app.example')).toEqual({ status: 'open', body: '' })
    expect(await tryOrigin(url, 'http://localhost:5173')).toEqual({ status: 'open', body: '' })
    expect(await tryOrigin(url, 'https://evil.example')).toEqual({ status: 403, body: 'tabwire: origin not allowed\n' })
    expect(await tryOrigin(url, 'https://app.example.evil.example')).toEqual({
      status: 403,
      body: 'tabwire: origin not allowed\n',
    })
    expect(await tryOrigin(url, undefined)).toEqual({ status: 403, body: 'tabwire: origin not allowed\n' })
    // An allowed origin is then served as usual.
    const ws = new WebSocket(url, { origin: 'https://app.example' })
    await new Promise<void>((resolve) => ws.once('open', () => resolve()))
    ws.send(JSON.stringify({ t: 'hello', v: 1, client: 'o', subs: [] }))
    const first = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())))
    expect(JSON.parse(first)).toEqual({ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 })
    expect(server.connections()).toBe(1)
    ws.close()
  })

  it('without the option every origin is let in', async () => {
    const { url } = await serve()
    expect((await tryOrigin(url, 'https://anything.example')).status).toBe('open')
    expect((await tryOrigin(url, undefined)).status).toBe('open')
  })
})

/**
 * Requests (`request` → `reply`) against the real server with raw ws clients: handlers by topic or `onRequest`,
 * errors by code, `authorize`, and the per-connection bounds (concurrent handlers, reply size, handler timeout).
 */
import { describe, expect, it, vi } from 'vitest'
import type { ClientFrame, Json, ReplyFrame, ServerFrame } from '../../src/protocol/frames.ts'
import type { RequestContext } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'
import { until } from '../support/wait.ts'

const { serve, hello } = serverHarness()

const request = (id: number, topic: string, body: Json): ClientFrame => ({ t: 'request', id, topic, body })
const replies = (frames: ServerFrame[]) => frames.filter((f): f is ReplyFrame => f.t === 'reply')

describe('requests', () => {
  it('server.handle answers its topic, onRequest every other one, each reply carrying its request id', async () => {
    const seen: Omit<RequestContext, 'signal'>[] = []
    const { server, url } = await serve({
      authenticate: (token) => ({ user: token ?? 'nobody' }),
      onRequest: ({ topic, body }) => ({ fallback: topic, body: body as Json }),
    })
    server.handle('add', ({ user, client, topic, body }) => {
      seen.push({ user, client, topic, body })
      const [a, b] = body as [number, number]
      return a + b
    })
    const c = await hello(url, 'c1', { token: 'ann' })
    c.send(request(7, 'add', [2, 3]), request(8, 'echo', 'hi'))
    await c.waitFor((f) => replies(f).length === 2)
    expect(replies(c.frames).sort((x, y) => x.id - y.id)).toEqual([
      { t: 'reply', id: 7, body: 5 },
      { t: 'reply', id: 8, body: { fallback: 'echo', body: 'hi' } },
    ])
    expect(seen).toEqual([{ user: 'ann', client: 'c1', topic: 'add', body: [2, 3] }])
  })

  it('no handler: not-found; a handler that throws: remote with its message; the connection stays', async () => {
    const { server, url } = await serve()
    server.handle('boom', () => {
      throw new Error('db is down')
    })
    server.handle('reject', async () => Promise.reject(new Error('nope')))
    const c = await hello(url, 'c')
    c.send(request(1, 'missing', null), request(2, 'boom', null), request(3, 'reject', null))
    await c.waitFor((f) => replies(f).length === 3)
    expect(replies(c.frames).sort((x, y) => x.id - y.id)).toEqual([
      { t: 'reply', id: 1, error: { code: 'not-found', message: 'no handler for missing' } },
      { t: 'reply', id: 2, error: { code: 'remote', message: 'db is down' } },
      { t: 'reply', id: 3, error: { code: 'remote', message: 'nope' } },
    ])
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
  })

  it('a handler that throws what String() cannot name (no toString): remote, and the server lives on', async () => {
    const { server, url } = await serve({
      // A plausible handler: it throws back a body it does not like.
      onRequest: ({ body }) => {
        throw body
      },
    })
    server.handle('null-proto', () => {
      throw Object.create(null)
    })
    server.handle('odd-message', () => {
      const e = new Error('x')
      Object.defineProperty(e, 'message', { value: { not: 'a string' } })
      throw e
    })
    const c = await hello(url, 'c')
    c.send(
      request(1, 'anything', { toString: 1 }),
      request(2, 'null-proto', null),
      request(3, 'odd-message', null),
      request(4, 'anything', 'plain'),
    )
    await c.waitFor((f) => replies(f).length === 4)
    const nameless = 'the handler threw a value with no message'
    expect(replies(c.frames).sort((x, y) => x.id - y.id)).toEqual([
      { t: 'reply', id: 1, error: { code: 'remote', message: nameless } },
      { t: 'reply', id: 2, error: { code: 'remote', message: nameless } },
      { t: 'reply', id: 3, error: { code: 'remote', message: nameless } },
      { t: 'reply', id: 4, error: { code: 'remote', message: 'plain' } },
    ])
    const d = await hello(url, 'd')
    d.send({ t: 'ping', n: 1 })
    await d.waitFor((f) => f.some((x) => x.t === 'pong'))
  })

  it('a topic the user may not request: forbidden, and the handler never runs', async () => {
    let ran = 0
    const { server, url } = await serve({
      authorize: (_u, topic, action) => !(topic === 'admin' && action === 'request'),
    })
    server.handle('admin', () => ++ran)
    const c = await hello(url, 'c')
    c.send(request(1, 'admin', {}))
    await c.waitFor((f) => replies(f).length === 1)
    expect(replies(c.frames)).toEqual([
      { t: 'reply', id: 1, error: { code: 'forbidden', message: 'not allowed to request admin' } },
    ])
    expect(ran).toBe(0)
  })

  it('answers with bytes in a binary message', async () => {
    const { server, url } = await serve()
    server.handle('bytes', () => new Uint8Array([9, 8, 7]))
    const c = await hello(url, 'c')
    c.send(request(1, 'bytes', null))
    await c.waitFor((f) => replies(f).length === 1)
    expect(replies(c.frames)).toEqual([{ t: 'reply', id: 1, body: new Uint8Array([9, 8, 7]) }])
    expect(c.via.at(-1)?.kind).toBe('binary')
  })

  it('a reply over maxReplyBytes is not sent: too-large; an answer that is no JSON: invalid-body', async () => {
    const { server, url } = await serve({ maxReplyBytes: 1000 })
    server.handle('big', () => 'x'.repeat(1000))
    server.handle('fits', () => 'x'.repeat(998))
    server.handle('fn', () => (() => 1) as unknown as Json)
    const c = await hello(url, 'c')
    c.send(request(1, 'big', null), request(2, 'fits', null), request(3, 'fn', null))
    await c.waitFor((f) => replies(f).length === 3)
    expect(replies(c.frames).sort((x, y) => x.id - y.id)).toEqual([
      { t: 'reply', id: 1, error: { code: 'too-large', message: 'the answer is 1002 bytes; at most 1000 are sent' } },
      { t: 'reply', id: 2, body: 'x'.repeat(998) },
      {
        t: 'reply',
        id: 3,
        error: { code: 'invalid-body', message: 'the handler answered with no JSON value nor bytes' },
      },
    ])
  })

  it('a handler that does not answer within requestTimeout: timeout, and its signal aborts', async () => {
    let aborted = false
    const { server, url } = await serve({ requestTimeout: 200 })
    server.handle('hang', ({ signal }) => {
      signal.addEventListener('abort', () => (aborted = true))
      return new Promise(() => {})
    })
    const c = await hello(url, 'c')
    c.send(request(1, 'hang', null))
    await c.waitFor((f) => replies(f).length === 1)
    expect(replies(c.frames)).toEqual([
      { t: 'reply', id: 1, error: { code: 'timeout', message: 'the handler of hang did not answer within 200 ms' } },
    ])
    expect(aborted).toBe(true)
  })

  it('a request flood: at most maxConcurrentRequests handlers run at once, every request gets its own reply', async () => {
    let running = 0
    let most = 0
    const gates: (() => void)[] = []
    const { server, url } = await serve({ maxConcurrentRequests: 4 })
    server.handle('slow', ({ body }) => {
      running++
      most = Math.max(most, running)
      return new Promise<Json>((resolve) =>
        gates.push(() => {
          running--
          resolve(body as Json)
        }),
      )
    })
    const c = await hello(url, 'c')
    c.send(...Array.from({ length: 300 }, (_, i) => request(i, 'slow', i)))
    c.send({ t: 'ping', n: 1 })
    for (let answered = 0; answered < 300; ) {
      await until(
        'handlers waiting',
        () => gates.length,
        (n) => n > 0 || answered === 300,
      )
      const open = gates.splice(0)
      answered += open.length
      expect(running).toBeLessThanOrEqual(4)
      for (const go of open) go()
    }
    await c.waitFor((f) => replies(f).length === 300 && f.some((x) => x.t === 'pong'))
    expect(most).toBe(4)
    expect(replies(c.frames).map((r) => ('body' in r ? r.body : r.error.code))).toEqual(
      Array.from({ length: 300 }, (_, i) => i),
    )
    // The ping sent after the flood waited behind it: the connection stopped reading while handlers were busy.
    const pong = c.frames.findIndex((f) => f.t === 'pong')
    expect(replies(c.frames.slice(0, pong)).length).toBeGreaterThanOrEqual(296)
  })

  it('a closed connection aborts its running handlers, and the requests waiting for a slot never run', async () => {
    const signals: AbortSignal[] = []
    const { server, url } = await serve({ maxConcurrentRequests: 2 })
    server.handle('wait', ({ signal }) => {
      signals.push(signal)
      return new Promise(() => {})
    })
    const c = await hello(url, 'c')
    c.send(request(1, 'wait', null), request(2, 'wait', null), request(3, 'wait', null), request(4, 'wait', null))
    await until(
      'two handlers running',
      () => signals.length,
      (n) => n === 2,
    )
    await c.close()
    await until(
      'their signals to abort',
      () => signals.filter((s) => s.aborted).length,
      (n) => n === 2,
    )
    // Let the freed slots be taken, if anything would take them.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(signals.length).toBe(2)
  })

  it('a signal first read after its request timed out or its connection closed is born aborted; after an answer it never aborts', async () => {
    const late: Record<string, AbortSignal> = {}
    const { server, url } = await serve({ requestTimeout: 100 })
    const readLater = (name: string, ctx: RequestContext, ms: number) =>
      setTimeout(() => {
        late[name] = ctx.signal
      }, ms)
    server.handle('slow', (ctx) => {
      readLater(String(ctx.body), ctx, 200)
      return new Promise(() => {})
    })
    server.handle('quick', (ctx) => {
      readLater('answered', ctx, 0)
      return 'done'
    })
    const c = await hello(url, 'c')
    c.send(request(1, 'slow', 'timed-out'), request(2, 'quick', null))
    await c.waitFor((f) => replies(f).length === 2)
    const d = await hello(url, 'd')
    d.send(request(1, 'slow', 'closed'))
    await until(
      'the handler to run',
      () => server.connections(),
      (n) => n === 2,
    )
    await new Promise((resolve) => setTimeout(resolve, 20))
    await d.close()
    await until(
      'every signal read',
      () => Object.keys(late).length,
      (n) => n === 3,
    )
    const state = (signal: AbortSignal) => (signal.aborted ? (signal.reason as Error).message : 'not aborted')
    expect(Object.fromEntries(Object.entries(late).map(([name, signal]) => [name, state(signal)]))).toEqual({
      'timed-out': 'request timeout',
      closed: 'the connection closed',
      answered: 'not aborted',
    })
    await c.close()
  })

  it('a handler that answers at once arms no timeout timer; one that returns a promise arms one', async () => {
    const { server, url } = await serve({ requestTimeout: 4_321 })
    server.handle('now', ({ body }) => body as Json)
    server.handle('later', async ({ body }) => body as Json)
    const armed = vi.spyOn(globalThis, 'setTimeout')
    try {
      const c = await hello(url, 'c')
      c.send(...Array.from({ length: 20 }, (_, i) => request(i, 'now', i)))
      await c.waitFor((f) => replies(f).length === 20)
      const timeouts = () => armed.mock.calls.filter(([, ms]) => ms === 4_321).length
      expect(timeouts()).toBe(0)
      c.send(request(20, 'later', 20))
      await c.waitFor((f) => replies(f).length === 21)
      expect(timeouts()).toBe(1)
      expect(replies(c.frames).map((r) => ('body' in r ? r.body : r.error.code))).toEqual(
        Array.from({ length: 21 }, (_, i) => i),
      )
    } finally {
      armed.mockRestore()
    }
  })
})

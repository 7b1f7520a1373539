/**
 * The HTTP outbox (`httpOutbox`, docs/PROTOCOL.md §17) from raw HTTP requests against a real server: dedup with
 * what the same batch or a WebSocket already delivered, order, auth (bearer and cookie), refusals, bounds on what a
 * request may carry, and a live WebSocket session of the same client beside it.
 */
import { connect } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { AuthError, type ServerOptions } from '../../src/server/index.ts'
import { encodeOutboxRequest, MAX_OUTBOX_BATCH } from '../../src/protocol/outbox-http.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

type Pub = { id: number; topic: string; body: unknown }
const pubs = (from: number, to: number, topic = 'room'): Pub[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, topic, body: { n: from + i } }))

async function post(
  port: number,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/outbox',
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers }
}

async function bodies(
  server: { store: { read: (t: string, a: number, l: number) => Promise<{ msgs: { body: unknown }[] }> } },
  topic = 'room',
) {
  return (await server.store.read(topic, 0, 10_000)).msgs.map((m) => m.body)
}

/** One raw HTTP exchange over a socket: what the server answers to bytes no fetch would send. */
function raw(
  port: number,
  request: string | Buffer,
  then?: (socket: import('node:net').Socket) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(request)
      then?.(socket)
    })
    let data = ''
    socket.on('data', (d) => (data += d.toString()))
    socket.on('close', () => resolve(data))
    socket.on('error', (e) => (data ? resolve(data) : reject(e)))
  })
}

describe('HTTP outbox', () => {
  it('is off unless asked for: POST /outbox gets the 426 every other request gets', async () => {
    const { server } = await serve()
    const r = await fetch(`http://127.0.0.1:${server.port}/outbox`, { method: 'POST', body: '{}' })
    expect(r.status).toBe(426)
    expect(await server.store.acked('anonymous', 'c')).toBe(0)
  })

  it('the same batch twice appends once; the second answer acks it again', async () => {
    const { server } = await serve({ httpOutbox: true })
    const batch = { client: 'c', pubs: pubs(1, 3) }
    expect(await post(server.port, batch)).toMatchObject({ status: 200, json: { acked: 3, refused: [] } })
    expect(await post(server.port, batch)).toMatchObject({ status: 200, json: { acked: 3, refused: [] } })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(await server.store.acked('anonymous', 'c')).toBe(3)
  })

  it('a batch overlapping what the WebSocket already delivered appends only the new ids, in order', async () => {
    const { server, url } = await serve({ httpOutbox: true })
    const ws = await hello(url, 'c')
    ws.send(...pubs(1, 3).map((p) => ({ t: 'pub' as const, ...p, body: p.body as never })))
    await ws.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
    expect(await post(server.port, { client: 'c', pubs: pubs(2, 6) })).toMatchObject({
      status: 200,
      json: { acked: 6, refused: [] },
    })
    expect(await bodies(server)).toEqual([1, 2, 3, 4, 5, 6].map((n) => ({ n })))
    // The socket goes on after the HTTP batch: its next id is 7, and a resend of 5 is a duplicate.
    ws.send({ t: 'pub', id: 5, topic: 'room', body: 'dup' }, { t: 'pub', id: 7, topic: 'room', body: { n: 7 } })
    await ws.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 7))
    expect(await bodies(server)).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => ({ n })))
  })

  it('out of order: a clear 409 naming the expected id, nothing appended from it on, what came before kept', async () => {
    const { server } = await serve({ httpOutbox: true })
    expect(await post(server.port, { client: 'c', pubs: pubs(3, 4) })).toMatchObject({
      status: 409,
      json: {
        acked: 0,
        refused: [],
        expected: 1,
        error: { code: 'out-of-order', message: 'pub.id 3 is out of order: expected 1' },
      },
    })
    expect(await bodies(server)).toEqual([])
    const gap = [...pubs(1, 2), ...pubs(4, 5)]
    expect(await post(server.port, { client: 'c', pubs: gap })).toMatchObject({
      status: 409,
      json: { acked: 2, expected: 3, error: { code: 'out-of-order' } },
    })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 2 }])
    expect(await server.store.acked('anonymous', 'c')).toBe(2)
  })

  it('authenticates through the same hook: a bearer token, or a cookie the hook reads; 401 when expired, 403 else', async () => {
    const authenticate: ServerOptions['authenticate'] = (token, req) => {
      const cookie = /session=(\w+)/.exec(req.headers.cookie ?? '')?.[1]
      const who = token ?? cookie
      if (who === 'old') throw new AuthError('token expired', { expired: true })
      if (who !== 'alice' && who !== 'bob') throw new AuthError('who are you?')
      return { user: who }
    }
    const { server } = await serve({ httpOutbox: true, authenticate })
    const batch = { client: 'c', pubs: pubs(1, 1) }
    expect(await post(server.port, batch)).toMatchObject({
      status: 403,
      json: { acked: 0, error: { code: 'forbidden', message: 'who are you?' } },
    })
    expect(await post(server.port, batch, { authorization: 'Bearer old' })).toMatchObject({
      status: 401,
      json: { error: { code: 'unauthorized', message: 'token expired' } },
    })
    expect(await post(server.port, batch, { authorization: 'Bearer alice' })).toMatchObject({
      status: 200,
      json: { acked: 1 },
    })
    expect(await post(server.port, batch, { cookie: 'theme=dark; session=bob' })).toMatchObject({
      status: 200,
      json: { acked: 1 },
    })
    // Dedup is per user: alice's and bob's client "c" are two clients.
    expect(await server.store.acked('alice', 'c')).toBe(1)
    expect(await server.store.acked('bob', 'c')).toBe(1)
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 1 }])
  })

  it('authorize and validate refuse single pubs for good (recorded like nacks); a throwing hook applies nothing', async () => {
    let broken = false
    const { server, url } = await serve({
      httpOutbox: true,
      authorize: (_user, topic) => topic !== 'secret',
      validate: (_user, _topic, body) => {
        if (broken) throw new Error('db down')
        return (body as { n?: number }).n !== 3 || 'no threes'
      },
    })
    const batch = { client: 'c', pubs: [...pubs(1, 3), { id: 4, topic: 'secret', body: 'x' }, ...pubs(5, 5)] }
    const refused = [
      { id: 3, code: 'invalid', message: 'no threes' },
      { id: 4, code: 'forbidden', message: 'not allowed to publish to secret' },
    ]
    expect(await post(server.port, batch)).toMatchObject({ status: 200, json: { acked: 5, refused } })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 2 }, { n: 5 }])
    // Repeated, the refusals are answered again, and nothing is appended twice.
    expect(await post(server.port, batch)).toMatchObject({ status: 200, json: { acked: 5, refused } })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 2 }, { n: 5 }])
    // A socket of the same client hears of them in its welcome, as of any refusal.
    const ws = await hello(url, 'c')
    expect(ws.frames[0]).toMatchObject({ t: 'welcome', acked: 5, refused })
    broken = true
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    expect(await post(server.port, { client: 'c', pubs: pubs(6, 7) })).toMatchObject({
      status: 500,
      json: { acked: 0, error: { code: 'internal' } },
    })
    expect(await server.store.acked('anonymous', 'c')).toBe(5)
    expect(logged.mock.calls.map((c) => String(c[1]))).toEqual(['Error: db down'])
    logged.mockRestore()
  })

  it('binary bodies travel in the envelope and are stored byte for byte', async () => {
    const { server } = await serve({ httpOutbox: true })
    const bytes = new Uint8Array([0, 255, 1, 254])
    const { type, data } = encodeOutboxRequest('c', [
      { id: 1, topic: 'room', body: '{"n":1}' },
      { id: 2, topic: 'room', body: bytes },
    ])
    expect(type).toBe('application/octet-stream')
    expect(await post(server.port, data, { 'content-type': type })).toMatchObject({ status: 200, json: { acked: 2 } })
    expect(await bodies(server)).toEqual([{ n: 1 }, bytes])
  })

  it('malformed requests get a clear 4xx and apply nothing; the server keeps answering', async () => {
    const { server } = await serve({ httpOutbox: true, maxFrameBytes: 4096 })
    const p = server.port
    const cases: [unknown, Record<string, string>, number, string][] = [
      ['{"client":"c","pubs":[{"id":1,"topic":"room","body":1}]}', { 'content-type': 'text/plain' }, 415, 'media-type'],
      ['{not json', {}, 400, 'json'],
      ['[1,2]', {}, 400, 'shape'],
      [{ client: '', pubs: pubs(1, 1) }, {}, 400, 'field'],
      [{ client: 'c', pubs: [] }, {}, 400, 'field'],
      [{ client: 'c', pubs: [{ id: 0, topic: 'room', body: 1 }] }, {}, 400, 'field'],
      [{ client: 'c', pubs: [{ id: 1, topic: 'room' }] }, {}, 400, 'field'],
      [`{"client":"c","pubs":[{"id":1,"topic":"room","body":${'['.repeat(101)}${']'.repeat(101)}}]}`, {}, 400, 'depth'],
      [new Uint8Array([0, 0, 0, 9, 1]), { 'content-type': 'application/octet-stream' }, 400, 'binary'],
      [{ client: 'c', pubs: pubs(1, 200).map((x) => ({ ...x, body: 'x'.repeat(30) })) }, {}, 413, 'too-large'],
    ]
    for (const [body, headers, status, code] of cases)
      expect(await post(p, body, headers), code).toMatchObject({ status, json: { acked: 0, error: { code } } })
    const many = { client: 'c', pubs: pubs(1, MAX_OUTBOX_BATCH + 1).map((x) => ({ ...x, body: 1 })) }
    const big = await serve({ httpOutbox: true })
    expect(await post(big.server.port, many)).toMatchObject({
      status: 400,
      json: { error: { code: 'shape', message: `at most ${MAX_OUTBOX_BATCH} pubs per request` } },
    })
    const get = await fetch(`http://127.0.0.1:${p}/outbox`)
    expect(get.status).toBe(405)

    // A Content-Length over the limit is refused before a byte of the body is read, and the socket is closed.
    const lying = await raw(
      p,
      'POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{',
    )
    expect(lying).toMatch(/^HTTP\/1\.1 413 /)
    expect(lying).toContain('"code":"too-large"')
    // A chunked body that grows past it is cut as it arrives.
    const chunk = 'x'.repeat(1000)
    const streamed = await raw(
      p,
      'POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      (socket) => {
        for (let i = 0; i < 10; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
      },
    )
    expect(streamed).toMatch(/^HTTP\/1\.1 413 /)
    expect(await server.store.acked('anonymous', 'c')).toBe(0)
    expect(await post(p, { client: 'c', pubs: pubs(1, 2) })).toMatchObject({ status: 200, json: { acked: 2 } })
  })

  it('skips: a dropped slot is refused with its why (as a socket’s skip frame), answered in refused, the counter moves past it', async () => {
    const { server, url } = await serve({ httpOutbox: true })
    const batch = {
      client: 'c',
      pubs: [...pubs(1, 1), { id: 2, skip: 'cancelled' }, ...pubs(3, 3), { id: 4, skip: 'expired' }, ...pubs(5, 5)],
    }
    const refused = [
      { id: 2, code: 'cancelled', message: 'pub 2 was cancelled before it was sent' },
      { id: 4, code: 'expired', message: 'pub 4 expired before it was sent' },
    ]
    expect(await post(server.port, batch)).toEqual({
      status: 200,
      json: { acked: 5, refused },
      headers: expect.anything(),
    })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 3 }, { n: 5 }])
    expect(await server.store.acked('anonymous', 'c')).toBe(5)
    expect(await server.store.refusals('anonymous', 'c')).toEqual(refused)
    // Again: answered as the first time, nothing appended twice.
    expect(await post(server.port, batch)).toMatchObject({ status: 200, json: { acked: 5, refused } })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 3 }, { n: 5 }])
    // A socket of the same client hears of them in its welcome.
    const ws = await hello(url, 'c')
    expect(ws.frames[0]).toMatchObject({ t: 'welcome', acked: 5, refused })

    // In the binary envelope too, beside a binary body.
    const bytes = new Uint8Array([7, 0, 7])
    const { type, data } = encodeOutboxRequest('c', [
      { id: 6, skip: 'cancelled' },
      { id: 7, topic: 'room', body: bytes },
    ])
    expect(type).toBe('application/octet-stream')
    expect(await post(server.port, data, { 'content-type': type })).toMatchObject({
      status: 200,
      json: { acked: 7, refused: [{ id: 6, code: 'cancelled' }] },
    })
    expect(await bodies(server)).toEqual([{ n: 1 }, { n: 3 }, { n: 5 }, bytes])
  })

  it('a bad skip (unknown why, or carrying a topic or body) is a clear 400 and applies nothing of the batch', async () => {
    const { server } = await serve({ httpOutbox: true })
    const cases: [unknown, string][] = [
      [{ id: 2, skip: 'bored' }, 'pubs[1].skip must be one of cancelled, expired'],
      [{ id: 2, skip: null }, 'pubs[1].skip must be one of cancelled, expired'],
      [{ id: 2, skip: 'cancelled', body: { n: 2 } }, 'pubs[1] is a skip: it carries no topic or body'],
      [{ id: 2, skip: 'expired', topic: 'room' }, 'pubs[1] is a skip: it carries no topic or body'],
    ]
    for (const [skip, message] of cases)
      expect(await post(server.port, { client: 'c', pubs: [...pubs(1, 1), skip, ...pubs(3, 3)] })).toMatchObject({
        status: 400,
        json: { acked: 0, refused: [], error: { code: 'field', message } },
      })
    expect(await bodies(server)).toEqual([])
    expect(await server.store.acked('anonymous', 'c')).toBe(0)
    expect(await server.store.refusals('anonymous', 'c')).toEqual([])
  })

  it('rateLimit: the batch draws one token per pub from the bucket of (user, client); over it, 429 with Retry-After', async () => {
    const { server } = await serve({ httpOutbox: true, rateLimit: { messagesPerSecond: 0.001, burst: 5 } })
    expect(await post(server.port, { client: 'c', pubs: pubs(1, 6) })).toMatchObject({
      status: 200,
      json: { acked: 6 },
    })
    const limited = await post(server.port, { client: 'c', pubs: pubs(7, 7) })
    expect(limited).toMatchObject({ status: 429, json: { acked: 0, error: { code: 'rate-limited' } } })
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    // Another client has its own bucket.
    expect(await post(server.port, { client: 'd', pubs: pubs(1, 1) })).toMatchObject({ status: 200 })
    expect(await server.store.acked('anonymous', 'c')).toBe(6)
  })

  it('cross-origin: a preflight is answered for allowed origins; another origin gets 403 and applies nothing', async () => {
    const { server } = await serve({ httpOutbox: '/api/outbox', allowedOrigins: ['https://app.example'] })
    const url = `http://127.0.0.1:${server.port}/api/outbox`
    const pre = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://app.example' } })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true')
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
    const batch = { client: 'c', pubs: pubs(1, 1) }
    expect(await post(server.port, batch, { origin: 'https://evil.example' }, '/api/outbox')).toMatchObject({
      status: 403,
      json: { error: { code: 'forbidden', message: 'origin not allowed' } },
    })
    expect(await server.store.acked('anonymous', 'c')).toBe(0)
    const ok = await post(server.port, batch, { origin: 'https://app.example' }, '/api/outbox')
    expect(ok).toMatchObject({ status: 200, json: { acked: 1 } })
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
  })

  it('beside a live WebSocket of the same client, both sending the same ids: each id appended once, in order', async () => {
    const { server, url } = await serve({ httpOutbox: true })
    const reader = await hello(url, 'reader', { subs: [{ topic: 'room', after: 0 }] })
    const ws = await hello(url, 'c')
    // Each batch goes both ways at once: whichever path the store serves first appends it, the other is answered as
    // a duplicate. (Each POST waits for the one before, as a drainer does; the socket's message races it.)
    const answers: { status: number }[] = []
    for (let from = 1; from <= 200; from += 20) {
      const batch = pubs(from, from + 19)
      ws.send(...batch.map((p) => ({ t: 'pub' as const, ...p, body: p.body as never })))
      answers.push(await post(server.port, { client: 'c', pubs: batch }))
    }
    await ws.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 200))
    await reader.untilSeq('room', 200)
    // Both paths went through: the socket was never closed (no out-of-order) and every POST was answered.
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))
    expect(ws.frames.some((f) => f.t === 'error')).toBe(false)
    expect(await bodies(server)).toEqual(Array.from({ length: 200 }, (_, i) => ({ n: i + 1 })))
    expect(reader.msgs('room').map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
  })
})

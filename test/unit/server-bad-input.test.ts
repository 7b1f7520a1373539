import { describe, expect, it, vi } from 'vitest'
import { serverHarness } from '../support/server-harness.ts'
import type { TestClient } from '../support/ws-client.ts'

const { serve, open, hello } = serverHarness()

/** A healthy client's round trip: pub acked and delivered to itself. */
async function stillWorks(c: TestClient, id: number): Promise<void> {
  c.send({ t: 'pub', id, topic: 'ok', body: id }, { t: 'ping', n: id })
  await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === id) && f.some((x) => x.t === 'pong' && x.n === id))
}

describe('server bad input', () => {
  it.each([
    ['invalid JSON', '{"t":"pub",', 'json'],
    ['an empty batch', '[]', 'shape'],
    ['a frame that is not an object', '"hello"', 'shape'],
    ['an unknown frame type', '{"t":"shout"}', 'type'],
    ['a pub missing its body', '{"t":"pub","id":1,"topic":"a"}', 'field'],
    ['a server frame', '{"t":"ack","id":1}', 'type'],
    ['a sub whose latest is not a boolean', '{"t":"sub","topic":"a","after":0,"latest":1}', 'field'],
  ])(
    'answers %s after hello with an error frame and 4400, while another client keeps working',
    async (_n, raw, code) => {
      const { server, url } = await serve()
      const good = await hello(url, 'good')
      const bad = await hello(url, 'bad')
      bad.send(raw)
      expect(await bad.closed).toEqual({ code: 4400, reason: code })
      expect(bad.frames).toEqual([
        { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
        { t: 'error', code, message: expect.any(String) },
      ])
      await stillWorks(good, 1)
      await vi.waitFor(() => expect(server.connections()).toBe(1))
    },
  )

  it('closes 4400 on garbage before hello', async () => {
    const { url } = await serve()
    const c = await open(url)
    c.send('garbage')
    expect(await c.closed).toEqual({ code: 4400, reason: 'json' })
    expect(c.frames).toEqual([{ t: 'error', code: 'json', message: 'message is not valid JSON' }])
  })

  it('closes 4400 on a binary message that is not an envelope (JSON text sent as bytes)', async () => {
    const { url } = await serve()
    const good = await hello(url, 'good')
    const c = await hello(url, 'bin')
    c.send(Buffer.from(JSON.stringify({ t: 'ping', n: 1 })))
    expect(await c.closed).toEqual({ code: 4400, reason: 'binary' })
    expect(c.frames[1]).toEqual({
      t: 'error',
      code: 'binary',
      message: expect.stringMatching(/^malformed binary message/),
    })
    await stillWorks(good, 1)
  })

  it('accepts a well-formed binary message, even one whose bodies are all JSON', async () => {
    const { url } = await serve()
    const c = await hello(url, 'bin')
    c.sendBinary({ t: 'pub', id: 1, topic: 'ok', body: { json: true } }, { t: 'ping', n: 7 })
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 1) && f.some((x) => x.t === 'pong' && x.n === 7))
    await stillWorks(c, 2)
  })

  it('closes 4413 when a message exceeds maxFrameBytes (ws says 1009; we map it), and accepts one at the limit', async () => {
    const maxFrameBytes = 1024
    const { server, url } = await serve({ maxFrameBytes })
    const good = await hello(url, 'good')
    const big = await hello(url, 'big')
    const frame = (body: string) => JSON.stringify({ t: 'pub', id: 1, topic: 'ok', body })
    const overhead = frame('').length
    big.send(frame('x'.repeat(maxFrameBytes - overhead)))
    await big.waitFor((f) => f.some((x) => x.t === 'ack'))
    big.send(frame('x'.repeat(maxFrameBytes - overhead + 1)))
    expect((await big.closed).code).toBe(4413)
    await stillWorks(good, 1)
    expect((await server.store.head('ok')).last).toBe(2)
  })

  it('survives a flood of bad connections and a client dropping mid-handshake', async () => {
    const { server, url } = await serve()
    const good = await hello(url, 'good')
    const bad = await Promise.all(Array.from({ length: 20 }, () => open(url)))
    bad.forEach((c, i) => {
      if (i % 2) c.send('{')
      else c.ws.terminate()
    })
    await Promise.all(bad.map((c) => c.closed))
    await stillWorks(good, 1)
    await vi.waitFor(() => expect(server.connections()).toBe(1))
  })
})

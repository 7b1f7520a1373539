import { describe, expect, it } from 'vitest'
import { AuthError, type ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'
import { TestClient } from '../support/ws-client.ts'

const { serve, open, hello } = serverHarness()

/** user = the token; tokens `expired`, `denied` and `crash` fail the three ways an authenticator can. */
const authenticate: ServerOptions['authenticate'] = (token) => {
  if (token === 'expired') throw new AuthError('token expired', { expired: true })
  if (token === 'denied') throw new AuthError('not a member')
  if (token === 'crash') throw new Error('db password is hunter2')
  return { user: token ?? 'nobody' }
}

describe('server session', () => {
  it('answers hello with exactly one welcome carrying acked 0 for a new client', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    await c.quiet()
    expect(c.frames).toEqual([{ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 }])
  })

  it('closes 4400 when the first frame is not hello', async () => {
    const { url } = await serve()
    const c = await open(url)
    c.send({ t: 'ping', n: 1 })
    expect(await c.closed).toEqual({ code: 4400, reason: 'hello-expected' })
    expect(c.frames).toEqual([{ t: 'error', code: 'hello-expected', message: 'the first frame must be hello' }])
  })

  it('closes 4400 on a hello of another protocol version', async () => {
    const { url } = await serve()
    const c = await open(url)
    c.send(JSON.stringify({ t: 'hello', v: 2, client: 'c', subs: [] }))
    expect((await c.closed).code).toBe(4400)
    expect(c.frames).toEqual([{ t: 'error', code: 'version', message: 'hello.v must be 1, got 2' }])
  })

  it('closes 4400 on a second hello', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    c.send({ t: 'hello', v: 1, client: 'c1', subs: [] })
    expect(await c.closed).toEqual({ code: 4400, reason: 'hello-repeated' })
  })

  it('answers ping with pong of the same n, in order', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    c.send({ t: 'ping', n: 7 })
    c.send({ t: 'ping', n: 8 }, { t: 'ping', n: 9 })
    await c.waitFor((f) => f.length === 4)
    expect(c.frames.slice(1)).toEqual([
      { t: 'pong', n: 7 },
      { t: 'pong', n: 8 },
      { t: 'pong', n: 9 },
    ])
  })

  it('processes frames that follow hello in the same message', async () => {
    const { url } = await serve()
    const c = await open(url)
    c.send({ t: 'hello', v: 1, client: 'c1', subs: [] }, { t: 'ping', n: 1 })
    await c.waitFor((f) => f.length === 2)
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 },
      { t: 'pong', n: 1 },
    ])
  })

  it('supersedes an older connection of the same (user, client) with 4409', async () => {
    const { server, url } = await serve({ authenticate })
    const older = await hello(url, 'c1', { token: 'alice' })
    const otherUser = await hello(url, 'c1', { token: 'bob' })
    const newer = await hello(url, 'c1', { token: 'alice' })
    expect(await older.closed).toEqual({ code: 4409, reason: 'superseded by a newer connection' })
    newer.send({ t: 'ping', n: 1 })
    otherUser.send({ t: 'ping', n: 2 })
    await newer.waitFor((f) => f.some((x) => x.t === 'pong'))
    await otherUser.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(server.connections()).toBe(2)
  })

  it('closes 4401 when authenticate throws an expired AuthError', async () => {
    const { url } = await serve({ authenticate })
    const c = await open(url)
    c.send({ t: 'hello', v: 1, client: 'c1', token: 'expired', subs: [] })
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
    expect(c.frames).toEqual([])
  })

  it('closes 4403 when authenticate throws an AuthError, and hides other errors', async () => {
    const { url } = await serve({ authenticate })
    const denied = await open(url)
    denied.send({ t: 'hello', v: 1, client: 'c1', token: 'denied', subs: [] })
    expect(await denied.closed).toEqual({ code: 4403, reason: 'not a member' })
    const crashed = await open(url)
    crashed.send({ t: 'hello', v: 1, client: 'c1', token: 'crash', subs: [] })
    expect(await crashed.closed).toEqual({ code: 4403, reason: 'forbidden' })
    expect([...denied.frames, ...crashed.frames]).toEqual([])
  })

  it('hands authenticate the token and the upgrade request', async () => {
    let seen: { token: string | undefined; url: string | undefined } | undefined
    const { url } = await serve({
      authenticate: (token, req) => {
        seen = { token, url: req.url }
        return { user: 'u' }
      },
    })
    await hello(`${url}/socket?x=1`, 'c1', { token: 't0k' })
    expect(seen).toEqual({ token: 't0k', url: '/socket?x=1' })
  })

  it('closes 4408 after idleTimeout without any frame, but not while pings come', async () => {
    const { url } = await serve({ idleTimeout: 300 })
    const silent = await hello(url, 'silent')
    const chatty = await hello(url, 'chatty')
    const timer = setInterval(() => chatty.send({ t: 'ping', n: 0 }), 50)
    try {
      expect(await silent.closed).toEqual({ code: 4408, reason: 'idle timeout' })
      await chatty.quiet(350)
      expect(chatty.ws.readyState).toBe(chatty.ws.OPEN)
    } finally {
      clearInterval(timer)
    }
  })

  it('stop() closes every connection with 1012 and stops listening; start() listens again with the store kept', async () => {
    const { server, url } = await serve()
    const a = await hello(url, 'a')
    const b = await hello(url, 'b')
    a.send({ t: 'pub', id: 1, topic: 't', body: 'kept' })
    await a.waitFor((f) => f.some((x) => x.t === 'ack'))
    const port = server.port
    await server.stop()
    expect(await a.closed).toEqual({ code: 1012, reason: 'server restart' })
    expect((await b.closed).code).toBe(1012)
    expect(server.connections()).toBe(0)
    await expect(TestClient.open(url)).rejects.toThrow(/ECONNREFUSED/)
    await server.start()
    expect(server.port).toBe(port)
    const again = await hello(url, 'a', { subs: [{ topic: 't', after: 0 }] })
    await again.untilSeq('t', 1)
    expect(again.frames[0]).toEqual({ t: 'welcome', v: 1, acked: 1, maxBytes: 1048576, early: 64 })
    expect(again.msgs('t').map((m) => m.body)).toEqual(['kept'])
    expect(server.connections()).toBe(1)
  })

  it('counts open connections and forgets closed ones', async () => {
    const { server, url } = await serve()
    const a = await hello(url, 'a')
    await hello(url, 'b')
    expect(server.connections()).toBe(2)
    await a.close()
    await a.quiet(20)
    expect(server.connections()).toBe(1)
  })
})

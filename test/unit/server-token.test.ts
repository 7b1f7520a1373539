/**
 * The token's whole life on the server, from raw frames: `authenticate`'s `expiresAt` (and a JWT's `exp`) becomes
 * `welcome.expiresIn` and a 4401 close at that moment; `auth {token}` renews it on the open connection (`authed`),
 * with frames before and after it going on; a token of another user ends the session (4403); bad `auth` input gets a
 * clear error; `server.disconnect(user)` ends that user's sessions with the code the backend chose.
 */
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import type { ServerFrame } from '../../src/protocol/frames.ts'
import { AuthError, type ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, open, hello } = serverHarness()

/**
 * Token `user:ms` is `user`, expiring `ms` from now (no `:ms`: never). `expired:*` throws an expired AuthError,
 * `crash` a plain Error (whose text must not reach the client), `nan:user` returns an expiresAt that is no number.
 */
const authenticate: ServerOptions['authenticate'] = (token) => {
  const [user = 'nobody', ms] = (token ?? 'nobody').split(':')
  if (user === 'expired') throw new AuthError('token expired', { expired: true })
  if (user === 'crash') throw new Error('db password is hunter2')
  if (user === 'nan') return { user: ms ?? '', expiresAt: Number.NaN }
  return ms === undefined ? { user } : { user, expiresAt: Date.now() + Number(ms) }
}

const welcomeOf = (frames: ServerFrame[]) => frames.find((f) => f.t === 'welcome')
const tail = (frames: ServerFrame[]) => frames.filter((f) => f.t !== 'welcome')

describe('token expiry', () => {
  it('tells the time left in welcome.expiresIn and closes with 4401 when it has passed, not before', async () => {
    const { url } = await serve({ authenticate })
    const before = Date.now()
    const c = await hello(url, 'c1', { token: 'alice:400' })
    const welcome = welcomeOf(c.frames)
    expect(welcome?.t === 'welcome' && welcome.expiresIn).toBeGreaterThan(0)
    expect(welcome?.t === 'welcome' && welcome.expiresIn).toBeLessThanOrEqual(400)
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
    expect(Date.now() - before).toBeGreaterThanOrEqual(400)
  })

  it('sends no expiresIn and never expires a connection whose identity has no expiresAt', async () => {
    const { url } = await serve({ authenticate })
    const c = await hello(url, 'c1', { token: 'alice' })
    expect(c.frames).toEqual([{ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 }])
  })

  it('closes 4401 at hello when expiresAt has already passed', async () => {
    const { url } = await serve({ authenticate })
    const c = await open(url)
    c.send({ t: 'hello', v: 1, client: 'c1', token: 'alice:-5', subs: [] })
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
    expect(c.frames).toEqual([])
  })

  it('refuses (4403) an identity whose expiresAt is no finite number: a bug in the hook fails closed', async () => {
    const { url } = await serve({ authenticate })
    const c = await open(url)
    c.send({ t: 'hello', v: 1, client: 'c1', token: 'nan:alice', subs: [] })
    expect(await c.closed).toEqual({ code: 4403, reason: 'forbidden' })
  })

  it("takes a JWT's exp as the expiry", async () => {
    const secret = 'a-test-secret-of-at-least-32-bytes!!'
    const { url } = await serve({ jwt: { secret } })
    const exp = Math.floor(Date.now() / 1000) + 2
    const jwt = await new SignJWT({ sub: 'alice', exp })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret))
    const c = await hello(url, 'c1', { token: jwt })
    const welcome = welcomeOf(c.frames)
    const expiresIn = welcome?.t === 'welcome' ? welcome.expiresIn : undefined
    expect(expiresIn).toBeGreaterThan(0)
    expect(expiresIn).toBeLessThanOrEqual(2000)
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000)
  })
})

describe('auth on the open connection', () => {
  it('renews the token: authed with the new expiresIn, the old deadline passes, pubs before and after are acked in order', async () => {
    const { url, server } = await serve({ authenticate })
    const c = await hello(url, 'c1', { token: 'alice:600' })
    const oldDeadline = Date.now() + 600
    c.send({ t: 'pub', id: 1, topic: 'x', body: 1 })
    c.send({ t: 'auth', token: 'alice:60000' })
    c.send({ t: 'pub', id: 2, topic: 'x', body: 2 }, { t: 'pub', id: 3, topic: 'x', body: 3 })
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
    const frames = tail(c.frames)
    const authed = frames.find((f) => f.t === 'authed')
    expect(authed?.t === 'authed' && authed.expiresIn).toBeGreaterThan(59_000)
    expect(authed?.t === 'authed' && authed.expiresIn).toBeLessThanOrEqual(60_000)
    // The answers in the order of what they answer (one cumulative ack per message of pubs).
    expect(frames.map((f) => (f.t === 'ack' ? `ack ${f.id}` : f.t))).toEqual(['ack 1', 'authed', 'ack 3'])
    // Past the old deadline the connection still answers.
    while (Date.now() < oldDeadline + 200) await c.quiet(100)
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(server.connections()).toBe(1)
    expect((await server.store.read('x', 0, 10)).msgs.map((m) => m.body)).toEqual([1, 2, 3])
  })

  it('closes with 4401 at the renewed deadline', async () => {
    const { url } = await serve({ authenticate })
    const c = await hello(url, 'c1', { token: 'alice:60000' })
    c.send({ t: 'auth', token: 'alice:300' })
    await c.waitFor((f) => f.some((x) => x.t === 'authed'))
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
  })

  it('refuses a token of another user: error user-mismatch, then 4403', async () => {
    const { url } = await serve({ authenticate })
    const c = await hello(url, 'c1', { token: 'alice:60000' })
    c.send({ t: 'auth', token: 'bob:60000' })
    expect(await c.closed).toEqual({ code: 4403, reason: 'user-mismatch' })
    expect(tail(c.frames)).toEqual([
      { t: 'error', code: 'user-mismatch', message: 'the new token belongs to another user' },
    ])
  })

  it('a refused fresh token (auth-refused) leaves the session on its old token until it expires', async () => {
    const { url } = await serve({ authenticate })
    const c = await hello(url, 'c1', { token: 'alice:800' })
    c.send({ t: 'auth', token: 'expired' }, { t: 'auth', token: 'crash' }, { t: 'auth', token: 'alice:-1' })
    c.send({ t: 'pub', id: 1, topic: 'x', body: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'ack'))
    expect(tail(c.frames)).toEqual([
      { t: 'error', code: 'auth-refused', message: 'token expired' },
      // A plain exception's text stays on the server.
      { t: 'error', code: 'auth-refused', message: 'refused' },
      { t: 'error', code: 'auth-refused', message: 'token expired' },
      { t: 'ack', id: 1 },
    ])
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' })
  })

  it('bad auth input gets a clear error and 4400', async () => {
    const { url } = await serve({ authenticate })
    for (const [raw, message] of [
      ['{"t":"auth"}', 'auth.token must be a non-empty string'],
      ['{"t":"auth","token":""}', 'auth.token must be a non-empty string'],
      ['{"t":"auth","token":42}', 'auth.token must be a non-empty string'],
    ] as const) {
      const c = await hello(url, 'c1', { token: 'alice' })
      c.send(raw)
      expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
      expect(tail(c.frames)).toEqual([{ t: 'error', code: 'field', message }])
    }
    const early = await open(url)
    early.send({ t: 'auth', token: 'alice' })
    expect(await early.closed).toEqual({ code: 4400, reason: 'hello-expected' })
  })

  it('accepts auth on a server without expiring identities (authed without expiresIn)', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c1')
    c.send({ t: 'auth', token: 'anything' })
    await c.waitFor((f) => f.some((x) => x.t === 'authed'))
    expect(tail(c.frames)).toEqual([{ t: 'authed' }])
  })
})

describe('server.disconnect', () => {
  it("ends every session of the user with the chosen code and reason, and nobody else's", async () => {
    const { url, server } = await serve({ authenticate })
    const a1 = await hello(url, 'a1', { token: 'alice' })
    const a2 = await hello(url, 'a2', { token: 'alice' })
    const b = await hello(url, 'a1', { token: 'bob' })
    await server.disconnect('alice', { code: 4401, reason: 'password changed' })
    expect(await a1.closed).toEqual({ code: 4401, reason: 'password changed' })
    expect(await a2.closed).toEqual({ code: 4401, reason: 'password changed' })
    b.send({ t: 'ping', n: 1 })
    await b.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(server.connections()).toBe(1)
  })

  it('closes with 4403 by default', async () => {
    const { url, server } = await serve({ authenticate })
    const a = await hello(url, 'a1', { token: 'alice' })
    await server.disconnect('alice')
    expect(await a.closed).toEqual({ code: 4403, reason: 'disconnected by the server' })
  })

  it('refuses a code other than 4401 and 4403', async () => {
    const { url, server } = await serve({ authenticate })
    const a = await hello(url, 'a1', { token: 'alice' })
    await expect(server.disconnect('alice', { code: 1000 as 4403 })).rejects.toThrow(
      'disconnect: code must be 4401 or 4403, got 1000',
    )
    a.send({ t: 'ping', n: 1 })
    await a.waitFor((f) => f.some((x) => x.t === 'pong'))
  })
})

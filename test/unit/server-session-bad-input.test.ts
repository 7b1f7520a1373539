/**
 * The bad-input catalogue for the outbox and session frames (`auth`, `skip`), beside server-bad-input.test.ts and
 * server-live-bad-input.test.ts: what a malicious client can send on those paths, and what it gets instead. Single
 * well-formed cases live with their feature (server-token, server-security); these are the floods, the malformed and
 * out-of-order frames, and the attempts to take back what the server already acked or refused.
 */
import { describe, expect, it } from 'vitest'
import type { ClientFrame, ServerFrame } from '../../src/protocol/frames.ts'
import { AuthError, type ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

const pub = (id: number, body: string): ClientFrame => ({ t: 'pub', id, topic: 'log', body })
const answers = (frames: ServerFrame[]) =>
  frames.filter((f) => f.t === 'authed' || (f.t === 'error' && f.code === 'auth-refused'))
const logOf = async (server: {
  store: { read: (t: string, a: number, n: number) => Promise<{ msgs: { body: unknown }[] }> }
}) => (await server.store.read('log', 0, 1000)).msgs.map((m) => m.body)

/**
 * `mallory` is mallory; `bad` is refused with an AuthError; anything else throws a plain Error quoting the token
 * (which must not reach the client). Counts the calls and the most that ran at once.
 */
function countingAuth() {
  const seen = { calls: 0, running: 0, peak: 0 }
  const authenticate: ServerOptions['authenticate'] = async (token) => {
    seen.calls++
    seen.running++
    seen.peak = Math.max(seen.peak, seen.running)
    // A hook that awaits (a JWKS fetch, a DB): lets a flood pile up if the server ran them side by side.
    await new Promise((resolve) => setImmediate(resolve))
    seen.running--
    if (token === 'mallory') return { user: 'mallory' }
    if (token === 'bad') throw new AuthError('unknown token')
    throw new Error(`no such token: ${String(token).slice(0, 40)}`)
  }
  return { authenticate, seen }
}

describe('server bad input: auth', () => {
  it('an auth flood (200 auth frames among pubs, then more) runs the hook one at a time, answers each in order, and closes 4429 at the rate limit with the pubs acked once', async () => {
    const { authenticate, seen } = countingAuth()
    const { server, url } = await serve({ authenticate, rateLimit: { messagesPerSecond: 1, burst: 250 } })
    const c = await hello(url, 'c', { token: 'mallory' }) // 1 token of 250
    const flood: ClientFrame[] = [pub(1, 'a')]
    for (let i = 0; i < 200; i++) flood.push({ t: 'auth', token: i % 2 ? 'bad' : 'mallory' })
    flood.push(pub(2, 'b'))
    c.send(...flood) // 202 frames: 47 tokens left
    await c.waitFor((f) => answers(f).length === 200 && f.some((x) => x.t === 'ack' && x.id === 2), 20_000)
    expect(seen.peak).toBe(1)
    expect(seen.calls).toBe(201)
    // Each auth answered, in the order sent: authed for mallory's token, auth-refused (the AuthError's text) for bad.
    expect(answers(c.frames)).toEqual(
      Array.from({ length: 200 }, (_, i) =>
        i % 2 ? { t: 'error', code: 'auth-refused', message: 'unknown token' } : { t: 'authed' },
      ),
    )
    // Over the budget: the message after the one that spent the last token is refused whole, its auths never run.
    c.send(...Array.from({ length: 60 }, () => ({ t: 'auth', token: 'mallory' }) as ClientFrame))
    c.send({ t: 'auth', token: 'mallory' }, pub(3, 'c'))
    expect((await c.closed).code).toBe(4429)
    expect(seen.calls).toBe(261)
    // One message, one cumulative ack: pub 1 and pub 2 around the 200 auths.
    expect(c.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', id: 2 }])
    expect(await logOf(server)).toEqual(['a', 'b'])
  }, 30_000)

  it('a huge token: over maxFrameBytes closes 4413 before the hook sees it; under it the hook answers and nothing of the token or of a crashing hook comes back', async () => {
    const { authenticate, seen } = countingAuth()
    const { server, url } = await serve({ authenticate, maxFrameBytes: 64 * 1024 })
    const c = await hello(url, 'c', { token: 'mallory' })
    c.send(pub(1, 'a'))
    await c.waitFor((f) => f.some((x) => x.t === 'ack'))
    const mark = c.frames.length
    c.send({ t: 'auth', token: 'x'.repeat(60_000) })
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(c.since(mark)).toEqual([
      { t: 'error', code: 'auth-refused', message: 'refused' },
      { t: 'pong', n: 1 },
    ])
    expect(seen.calls).toBe(2)
    c.send({ t: 'auth', token: 'x'.repeat(70_000) })
    expect((await c.closed).code).toBe(4413)
    expect(seen.calls).toBe(2)
    expect(await logOf(server)).toEqual(['a'])
  })

  it('a token that is no string (number, null, object, array) closes 4400 field, and the pubs acked before stay', async () => {
    const { authenticate, seen } = countingAuth()
    const { server, url } = await serve({ authenticate })
    let id = 0
    for (const token of ['42', 'null', '{"a":"mallory"}', '["mallory"]', 'true']) {
      const c = await hello(url, 'c', { token: 'mallory' })
      c.send(pub(++id, `before ${token}`))
      await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === id))
      c.send(`{"t":"auth","token":${token}}`)
      expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
      expect(c.frames.at(-1)).toEqual({ t: 'error', code: 'field', message: 'auth.token must be a non-empty string' })
    }
    expect(seen.calls).toBe(5) // the hellos only
    expect(await logOf(server)).toEqual([
      'before 42',
      'before null',
      'before {"a":"mallory"}',
      'before ["mallory"]',
      'before true',
    ])
  })
})

describe('server bad input: skip', () => {
  const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })

  it('a skip with a bad why (unknown, too-large, a number, null, huge) closes 4400 field; nothing of its message is applied, the counter stays', async () => {
    const { server, url } = await serve({ authenticate })
    const first = await hello(url, 'c', { token: 'mallory' })
    first.send(pub(1, 'first'))
    await first.waitFor((f) => f.some((x) => x.t === 'ack'))
    await first.close()
    const oneOf = 'skip.why must be one of cancelled, expired'
    const aString = 'skip.why must be a string'
    for (const [why, message] of [
      ['"bored"', oneOf],
      ['"too-large"', oneOf],
      ['"Cancelled"', oneOf],
      [`"${'c'.repeat(10_000)}"`, oneOf],
      ['7', aString],
      ['null', aString],
      ['{}', aString],
    ]) {
      const c = await hello(url, 'c', { token: 'mallory' })
      const acked = c.frames.find((f) => f.t === 'welcome')
      expect(acked).toMatchObject({ acked: 1 })
      // The pub before it in the same message is not applied either: the message is refused whole.
      c.send(`[{"t":"pub","id":2,"topic":"log","body":"sneaky"},{"t":"skip","id":3,"why":${why}}]`)
      expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
      expect(c.frames.at(-1)).toEqual({ t: 'error', code: 'field', message })
    }
    const c = await hello(url, 'c', { token: 'mallory' })
    expect(c.frames.find((f) => f.t === 'welcome')).toMatchObject({ acked: 1 })
    expect(await logOf(server)).toEqual(['first'])
  }, 20_000)

  it('a skip far ahead (id 1000 after 2) is out-of-order: 4400, no refusal recorded, the counter stays and the next id is still 3', async () => {
    const { server, url } = await serve({ authenticate })
    const c = await hello(url, 'c', { token: 'mallory' })
    c.send(pub(1, 'a'), pub(2, 'b'))
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 2))
    c.send({ t: 'skip', id: 1000, why: 'cancelled' })
    expect(await c.closed).toEqual({ code: 4400, reason: 'out-of-order' })
    expect(c.frames.at(-1)).toMatchObject({ t: 'error', code: 'out-of-order' })
    expect(c.frames.some((f) => f.t === 'nack')).toBe(false)
    const again = await hello(url, 'c', { token: 'mallory' })
    const welcome = again.frames.find((f) => f.t === 'welcome')
    expect(welcome).toMatchObject({ acked: 2 })
    expect(welcome && 'refused' in welcome ? welcome.refused : undefined).toBeUndefined()
    again.send(pub(3, 'c'))
    await again.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 3))
    expect(await server.store.refusals('mallory', 'c')).toEqual([])
    expect(await logOf(server)).toEqual(['a', 'b', 'c'])
  })

  it('cancel then resend the same id: never published (the counter is past it), and a cancel of an acked id keeps the message (ack again)', async () => {
    const { server, url } = await serve({ authenticate })
    const c = await hello(url, 'c', { token: 'mallory' })
    c.send(pub(1, 'a'), { t: 'skip', id: 2, why: 'cancelled' })
    await c.waitFor((f) => f.some((x) => x.t === 'nack' && x.id === 2))
    // The same id again as a pub, alone and then with a fresh one behind it.
    c.send(pub(2, 'sneaky'))
    c.send(pub(2, 'sneaky again'), pub(3, 'c'))
    // Take back an acked one: a skip of id 1, and of 3 with expired.
    c.send({ t: 'skip', id: 1, why: 'cancelled' }, { t: 'skip', id: 3, why: 'expired' })
    c.send({ t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    const cancelled = { t: 'nack', id: 2, code: 'cancelled', message: 'pub 2 was cancelled before it was sent' }
    // A pub resent under a refused id is a duplicate to the store (acked, not appended): only a frame the judge
    // refuses again is told its recorded refusal. Either way nothing of it reaches the log.
    expect(c.frames.filter((f) => f.t === 'ack' || f.t === 'nack')).toEqual([
      { t: 'ack', id: 1 },
      cancelled,
      { t: 'ack', id: 2 },
      { t: 'ack', id: 3 },
      { t: 'ack', id: 1 },
      { t: 'ack', id: 3 },
    ])
    // On a new connection the same: the refusal and the acked messages are what the server holds.
    await c.close()
    const again = await hello(url, 'c', { token: 'mallory' })
    expect(again.frames.find((f) => f.t === 'welcome')).toMatchObject({ acked: 3 })
    again.send({ t: 'skip', id: 2, why: 'expired' }, { t: 'skip', id: 3, why: 'cancelled' })
    again.send(pub(2, 'third try'))
    await again.waitFor((f) => f.filter((x) => x.t === 'ack' || x.t === 'nack').length === 3)
    // A skip of the refused id is told the refusal the server holds (cancelled, not the new why).
    expect(again.frames.filter((f) => f.t === 'ack' || f.t === 'nack')).toEqual([
      cancelled,
      { t: 'ack', id: 3 },
      { t: 'ack', id: 2 },
    ])
    expect(await logOf(server)).toEqual(['a', 'c'])
  })
})

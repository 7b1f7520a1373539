/**
 * The bad-input catalogue for the live frames (presence, requests, volatile), beside server-bad-input.test.ts: what
 * one client can send to hurt the server or the other clients, and what it gets instead. Single cases live with
 * their feature (server-presence, server-requests, server-volatile: oversized state, forbidden topic, a volatile
 * flood to a subscriber that never reads); these are the storms and the "nothing else lost" checks.
 */
import { describe, expect, it } from 'vitest'
import type { ClientFrame, Json, ReplyFrame, ServerFrame } from '../../src/protocol/frames.ts'
import type { PresenceDiffFrame } from '../../src/protocol/presence-frames.ts'
import { createMemoryPresence, type PresenceRegistry } from '../../src/server/presence.ts'
import type { ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'
import { until } from '../support/wait.ts'

const { serve, hello } = serverHarness()

/** user = the token. */
const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })
const replies = (frames: ServerFrame[]) => frames.filter((f): f is ReplyFrame => f.t === 'reply')
const request = (id: number, topic: string, body: Json): ClientFrame => ({ t: 'request', id, topic, body })

/** The memory registry, counting the writes that reach it: what a presence storm costs the server. */
function countingRegistry(): { registry: PresenceRegistry; writes: () => number } {
  const inner = createMemoryPresence()
  let writes = 0
  return {
    writes: () => writes,
    registry: {
      ...inner,
      set: (topic, member) => {
        writes++
        return inner.set(topic, member)
      },
      remove: (topic, key, owner) => {
        writes++
        return inner.remove(topic, key, owner)
      },
    },
  }
}

describe('server bad input: the live frames', () => {
  it('a join/leave storm (12,000 pjoin/pstate/pleave from one client) costs the registry a rate-bounded number of writes and the others a handful of diffs; the last wish wins', async () => {
    const { registry, writes } = countingRegistry()
    const updatesPerSecond = 20
    const maxPresences = 3
    const { server, url } = await serve({
      authenticate,
      presenceRegistry: registry,
      presenceUpdatesPerSecond: updatesPerSecond,
      maxPresences,
    })
    const watcher = await hello(url, 'w', { token: 'watcher' })
    for (const topic of ['r0', 'r1', 'r2']) watcher.send({ t: 'pjoin', topic, state: 'watching' })
    await watcher.waitFor((f) => f.filter((x) => x.t === 'presence').length === 3)
    const mark = watcher.frames.length
    const before = writes()
    const storm = await hello(url, 'storm', { token: 'mallory' })
    const started = performance.now()
    for (let round = 0; round < 12; round++) {
      const frames: ClientFrame[] = []
      for (let i = 0; i < 1000; i++) {
        const topic = `r${i % 3}`
        const kind = (round + i) % 3
        frames.push(
          kind === 0
            ? { t: 'pjoin', topic, state: { round, i } }
            : kind === 1
              ? { t: 'pstate', topic, state: { round, i, pad: 'x'.repeat(50) } }
              : { t: 'pleave', topic },
        )
      }
      storm.send(...frames)
    }
    // The last wish per topic: r0 and r2 joined with this state, r1 left.
    storm.send(
      { t: 'pjoin', topic: 'r0', state: 'final' },
      { t: 'pleave', topic: 'r1' },
      { t: 'pjoin', topic: 'r2', state: 'final' },
      { t: 'ping', n: 1 },
    )
    await storm.waitFor((f) => f.some((x) => x.t === 'pong'))
    const members = async () =>
      Object.fromEntries(
        await Promise.all(
          ['r0', 'r1', 'r2'].map(async (t) => [
            t,
            (await server.presence(t)).map((m) => `${m.user}:${JSON.stringify(m.state)}`).sort(),
          ]),
        ),
      )
    await until(
      'the storm to settle on its last wish',
      members,
      (m) =>
        JSON.stringify(m) ===
        JSON.stringify({
          r0: ['mallory:"final"', 'watcher:"watching"'],
          r1: ['watcher:"watching"'],
          r2: ['mallory:"final"', 'watcher:"watching"'],
        }),
      { timeout: 20_000 },
    )
    await watcher.waitFor((f) =>
      ['r0', 'r2'].every((t) =>
        f
          .filter((x): x is PresenceDiffFrame => x.t === 'pdiff' && x.topic === t)
          .some((d) => d.joined.concat(d.updated).some((m) => m.user === 'mallory' && m.state === 'final')),
      ),
    )
    const seconds = (performance.now() - started) / 1000
    // Every write is a token of the seat's bucket: a burst of maxPresences + rate, then `rate` a second.
    const bound = maxPresences + updatesPerSecond + Math.ceil(seconds * updatesPerSecond) + 1
    const stormWrites = writes() - before
    expect(stormWrites).toBeGreaterThanOrEqual(3)
    expect(stormWrites).toBeLessThanOrEqual(bound)
    // The watcher saw at most one diff per write, never a list per frame.
    const seen = watcher.since(mark).filter((f) => f.t === 'pdiff' || f.t === 'presence')
    expect(seen.length).toBeLessThanOrEqual(stormWrites)
    expect(seen.every((f) => f.t === 'pdiff')).toBe(true)
    // No error, no close: the storm was absorbed, not refused.
    expect(storm.frames.filter((f) => f.t === 'error')).toEqual([])
    expect(server.connections()).toBe(2)
  }, 30_000)

  it('a presence storm beyond rateLimit closes 4429: the message over the budget is not applied', async () => {
    const { registry, writes } = countingRegistry()
    const { server, url } = await serve({
      authenticate,
      presenceRegistry: registry,
      rateLimit: { messagesPerSecond: 1, burst: 50 },
    })
    const c = await hello(url, 'c', { token: 'mallory' }) // hello: 1 token of 50
    const joins = (from: number) =>
      Array.from({ length: 40 }, (_, i) => ({ t: 'pjoin' as const, topic: 'room', state: from + i }))
    c.send(...joins(0)) // 49 - 40 = 9 left
    c.send(...joins(100)) // 9 - 40 = -31: a message is let in whole while a token is left
    c.send(...joins(200)) // over the budget
    expect((await c.closed).code).toBe(4429)
    // The seat applied what the two messages let in asked (a burst of maxPresences + rate, 42, then conflated to
    // the newest) until the close; nothing of the refused message, and no more writes after it.
    const at = writes()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(writes()).toBe(at)
    expect(at).toBeLessThanOrEqual(42)
    const states = (await server.presence('room')).map((m) => m.state as number)
    expect(states).toHaveLength(1)
    expect(states[0]).toBeLessThan(140)
    expect(
      c.frames
        .filter((f) => f.t === 'presence')
        .every((f) => f.t === 'presence' && (f.members[0]?.state as number) < 140),
    ).toBe(true)
  })

  it('an oversized presence state closes 4400 state-too-large and loses nothing already accepted: earlier pubs stay acked and logged, the other clients go on', async () => {
    const { server, url } = await serve({ authenticate, maxPresenceStateBytes: 200 })
    const other = await hello(url, 'o', { token: 'olive', subs: [{ topic: 'log', after: 0 }] })
    const c = await hello(url, 'c', { token: 'mallory' })
    c.send({ t: 'pub', id: 1, topic: 'log', body: 'a' }, { t: 'pub', id: 2, topic: 'log', body: 'b' })
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 2))
    c.send({ t: 'pjoin', topic: 'room', state: 'small' })
    await c.waitFor((f) => f.some((x) => x.t === 'presence'))
    c.send({ t: 'pstate', topic: 'room', state: 'x'.repeat(300) }, { t: 'pub', id: 3, topic: 'log', body: 'c' })
    expect(await c.closed).toEqual({ code: 4400, reason: 'state-too-large' })
    expect(c.frames.at(-1)).toEqual({
      t: 'error',
      code: 'state-too-large',
      message: 'pstate.state is 302 bytes; at most 200 are allowed',
    })
    // What was accepted stays: both pubs in the log (the one after the bad frame was never applied), the member
    // with its last good state (it stays through the grace period, as after any drop).
    expect((await server.store.read('log', 0, 10)).msgs.map((m) => m.body)).toEqual(['a', 'b'])
    expect((await server.presence('room')).map((m) => m.state)).toEqual(['small'])
    await other.waitFor((f) => other.msgs('log').length === 2 && f.length > 0)
    other.send({ t: 'pub', id: 1, topic: 'log', body: 'from olive' })
    await other.waitFor(() => other.msgs('log').some((m) => m.body === 'from olive'))
    expect(other.msgs('log').map((m) => m.body)).toEqual(['a', 'b', 'from olive'])
  })

  it('a request flood whose handlers never answer: every request gets exactly one reply, its answer or a typed timeout, and another connection is answered meanwhile', async () => {
    let ran = 0
    const { server, url } = await serve({ maxConcurrentRequests: 8, requestTimeout: 200 })
    // Odd bodies hang (answered by the server's timeout), even ones echo.
    server.handle('slow', ({ body }) => {
      ran++
      return (body as number) % 2 ? new Promise<Json>(() => {}) : (body as number)
    })
    server.handle('quick', ({ body }) => body)
    const flood = await hello(url, 'flood')
    const n = 200
    flood.send(...Array.from({ length: n }, (_, i) => request(i + 1, 'slow', i + 1)))
    const other = await hello(url, 'other')
    other.send(request(1, 'quick', 'hi'))
    await other.waitFor((f) => replies(f).length === 1)
    expect(replies(other.frames)).toEqual([{ t: 'reply', id: 1, body: 'hi' }])
    await flood.waitFor((f) => replies(f).length === n, 30_000)
    const byId = new Map(replies(flood.frames).map((r) => [r.id, r]))
    expect(byId.size).toBe(n)
    let answered = 0
    let timedOut = 0
    for (let id = 1; id <= n; id++) {
      const r = byId.get(id)
      if (id % 2 === 0) {
        expect(r).toEqual({ t: 'reply', id, body: id })
        answered++
      } else {
        expect(r).toEqual({
          t: 'reply',
          id,
          error: { code: 'timeout', message: 'the handler of slow did not answer within 200 ms' },
        })
        timedOut++
      }
    }
    expect([answered, timedOut, ran]).toEqual([n / 2, n / 2, n])
    await flood.quiet()
    expect(replies(flood.frames).length).toBe(n)
  }, 40_000)

  it('a forbidden request among pubs and allowed requests: only it is refused (forbidden), the rest is applied and answered in place', async () => {
    let ran = 0
    const { server, url } = await serve({
      authorize: (_u, topic, action) => !(topic === 'admin' && action === 'request'),
    })
    server.handle('admin', () => ++ran)
    server.handle('echo', ({ body }) => body)
    const c = await hello(url, 'c')
    c.send(
      { t: 'pub', id: 1, topic: 'log', body: 1 },
      request(1, 'echo', 'before'),
      request(2, 'admin', 'rm -rf'),
      request(3, 'echo', 'after'),
      { t: 'pub', id: 2, topic: 'log', body: 2 },
    )
    await c.waitFor((f) => replies(f).length === 3 && f.some((x) => x.t === 'ack' && x.id === 2))
    expect(replies(c.frames).sort((a, b) => a.id - b.id)).toEqual([
      { t: 'reply', id: 1, body: 'before' },
      { t: 'reply', id: 2, error: { code: 'forbidden', message: 'not allowed to request admin' } },
      { t: 'reply', id: 3, body: 'after' },
    ])
    expect(ran).toBe(0)
    expect((await server.store.read('log', 0, 10)).msgs.map((m) => m.body)).toEqual([1, 2])
    expect(c.frames.filter((f) => f.t === 'error')).toEqual([])
  })
})

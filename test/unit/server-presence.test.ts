import { describe, expect, it, vi } from 'vitest'
import type { ServerFrame } from '../../src/protocol/frames.ts'
import type { PresenceDiffFrame, PresenceListFrame } from '../../src/protocol/presence-frames.ts'
import type { ServerOptions } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'
import type { TestClient } from '../support/ws-client.ts'

const { serve, hello } = serverHarness()

/** user = the token. */
const authenticate: ServerOptions['authenticate'] = (token) => ({ user: token ?? 'nobody' })
const since = expect.any(Number)

const lists = (c: TestClient, from = 0) => c.since(from).filter((f): f is PresenceListFrame => f.t === 'presence')
const diffs = (c: TestClient, from = 0) => c.since(from).filter((f): f is PresenceDiffFrame => f.t === 'pdiff')
const presenceFrames = (c: TestClient, from = 0) =>
  c.since(from).filter((f: ServerFrame) => f.t === 'presence' || f.t === 'pdiff')

async function join(c: TestClient, topic: string, state: unknown): Promise<PresenceListFrame> {
  const mark = c.frames.length
  c.send({ t: 'pjoin', topic, state: state as never })
  await c.waitFor(() => lists(c, mark).length > 0)
  return lists(c, mark)[0] as PresenceListFrame
}

describe('server presence', () => {
  it('answers pjoin with the full list, and tells the members already there of the join as a diff', async () => {
    const { url } = await serve({ authenticate })
    const a = await hello(url, 'ca', { token: 'alice' })
    const b = await hello(url, 'cb', { token: 'bob' })
    expect(await join(a, 'room', { name: 'A' })).toEqual({
      t: 'presence',
      topic: 'room',
      members: [{ user: 'alice', client: 'ca', state: { name: 'A' }, since }],
    })
    const mark = a.frames.length
    const list = await join(b, 'room', { name: 'B' })
    expect(list.members).toEqual([
      { user: 'alice', client: 'ca', state: { name: 'A' }, since },
      { user: 'bob', client: 'cb', state: { name: 'B' }, since },
    ])
    await a.waitFor(() => diffs(a, mark).length === 1)
    expect(presenceFrames(a, mark)).toEqual([
      {
        t: 'pdiff',
        topic: 'room',
        joined: [{ user: 'bob', client: 'cb', state: { name: 'B' }, since }],
        left: [],
        updated: [],
      },
    ])
    // b's own join reached b only as its full list, not again as a diff.
    await b.quiet()
    expect(presenceFrames(b)).toEqual([list])
  })

  it('sends state updates and leaves as diffs; server.presence(topic) lists the members', async () => {
    const { server, url } = await serve({ authenticate })
    const a = await hello(url, 'ca', { token: 'alice' })
    const b = await hello(url, 'cb', { token: 'bob' })
    await join(a, 'room', 1)
    await join(b, 'room', 2)
    const mark = a.frames.length
    b.send({ t: 'pstate', topic: 'room', state: { typing: true } })
    await a.waitFor(() => diffs(a, mark).length === 1)
    expect(diffs(a, mark)[0]).toEqual({
      t: 'pdiff',
      topic: 'room',
      joined: [],
      left: [],
      updated: [{ user: 'bob', client: 'cb', state: { typing: true }, since }],
    })
    expect(await server.presence('room')).toEqual([
      { user: 'alice', client: 'ca', state: 1, since },
      { user: 'bob', client: 'cb', state: { typing: true }, since },
    ])
    b.send({ t: 'pleave', topic: 'room' })
    await a.waitFor(() => diffs(a, mark).length === 2)
    expect(diffs(a, mark)[1]).toEqual({
      t: 'pdiff',
      topic: 'room',
      joined: [],
      left: [{ user: 'bob', client: 'cb' }],
      updated: [],
    })
    expect(await server.presence('room')).toEqual([{ user: 'alice', client: 'ca', state: 1, since }])
    expect(await server.presence('elsewhere')).toEqual([])
  })

  it('keeps a member whose connection dropped for the grace period: a reconnect takes it over with no leave seen', async () => {
    const { url } = await serve({ authenticate, presenceGrace: 60_000 })
    const a = await hello(url, 'ca', { token: 'alice' })
    const b = await hello(url, 'cb', { token: 'bob' })
    await join(a, 'room', 'a')
    const first = await join(b, 'room', 'b')
    const mark = a.frames.length
    await b.close()
    const b2 = await hello(url, 'cb', { token: 'bob' })
    const again = await join(b2, 'room', 'b')
    // The same member, joined at the same time: to everyone else nothing happened.
    expect(again.members).toEqual(first.members)
    await a.quiet(100)
    expect(presenceFrames(a, mark)).toEqual([])
    // A new state on reconnect is an update, not a leave and a join.
    const b3mark = a.frames.length
    await b2.close()
    const b3 = await hello(url, 'cb', { token: 'bob' })
    await join(b3, 'room', 'b, back')
    await a.waitFor(() => diffs(a, b3mark).length === 1)
    expect(diffs(a, b3mark)).toEqual([
      {
        t: 'pdiff',
        topic: 'room',
        joined: [],
        left: [],
        updated: [{ user: 'bob', client: 'cb', state: 'b, back', since: first.members[1]?.since }],
      },
    ])
  })

  it('removes a member whose connection stays gone once the grace period has passed', async () => {
    const grace = 300
    const { server, url } = await serve({ authenticate, presenceGrace: grace })
    const a = await hello(url, 'ca', { token: 'alice' })
    const b = await hello(url, 'cb', { token: 'bob' })
    await join(a, 'room', 'a')
    await join(b, 'room', 'b')
    const mark = a.frames.length
    await b.close()
    const closedAt = performance.now()
    await a.waitFor(() => diffs(a, mark).length === 1)
    expect(performance.now() - closedAt).toBeGreaterThanOrEqual(grace - 5)
    expect(diffs(a, mark)).toEqual([
      { t: 'pdiff', topic: 'room', joined: [], left: [{ user: 'bob', client: 'cb' }], updated: [] },
    ])
    expect((await server.presence('room')).map((m) => m.user)).toEqual(['alice'])
  })

  it('a superseded connection does not take the member with it after the grace period', async () => {
    const { server, url } = await serve({ authenticate, presenceGrace: 100 })
    const old = await hello(url, 'cb', { token: 'bob' })
    await join(old, 'room', 'b')
    const newer = await hello(url, 'cb', { token: 'bob' })
    await join(newer, 'room', 'b')
    expect((await old.closed).code).toBe(4409)
    await newer.quiet(300)
    expect((await server.presence('room')).map((m) => m.client)).toEqual(['cb'])
    expect(diffs(newer)).toEqual([])
  })

  it('asks authorize for presence: a denied join gets an empty, denied list and the connection stays', async () => {
    const asked: string[] = []
    const { server, url } = await serve({
      authenticate,
      authorize: (user, topic, action) => {
        asked.push(`${user} ${action} ${topic}`)
        return topic !== 'secret'
      },
    })
    const a = await hello(url, 'ca', { token: 'alice' })
    expect(await join(a, 'secret', 'x')).toEqual({ t: 'presence', topic: 'secret', members: [], denied: true })
    expect(await server.presence('secret')).toEqual([])
    expect((await join(a, 'open', 'y')).members).toEqual([{ user: 'alice', client: 'ca', state: 'y', since }])
    expect(asked).toEqual(['alice presence secret', 'alice presence open'])
  })

  it('closes 4400 state-too-large on a state over maxPresenceStateBytes; the others see nothing of it', async () => {
    const { server, url } = await serve({ authenticate, maxPresenceStateBytes: 100 })
    const a = await hello(url, 'ca', { token: 'alice' })
    await join(a, 'room', 'a')
    const mark = a.frames.length
    const bad = await hello(url, 'cb', { token: 'bob' })
    bad.send({ t: 'pjoin', topic: 'room', state: 'x'.repeat(99) })
    expect(await bad.closed).toEqual({ code: 4400, reason: 'state-too-large' })
    expect(bad.frames.at(-1)).toEqual({
      t: 'error',
      code: 'state-too-large',
      message: 'pjoin.state is 101 bytes; at most 100 are allowed',
    })
    await a.quiet()
    expect(presenceFrames(a, mark)).toEqual([])
    expect((await server.presence('room')).length).toBe(1)
  })

  it('closes 4400 too-many-presences beyond maxPresences topics on one connection', async () => {
    const { url } = await serve({ authenticate, maxPresences: 2 })
    const a = await hello(url, 'ca', { token: 'alice' })
    await join(a, 't1', 1)
    await join(a, 't2', 2)
    // Re-joining a topic it is in does not count twice.
    await join(a, 't2', 3)
    a.send({ t: 'pjoin', topic: 't3', state: 3 })
    expect(await a.closed).toEqual({ code: 4400, reason: 'too-many-presences' })
  })

  it('conflates a flood of state updates: the others get a bounded number of diffs, the last state wins', async () => {
    const { server, url } = await serve({ authenticate, presenceUpdatesPerSecond: 5, maxPresences: 1 })
    const a = await hello(url, 'ca', { token: 'alice' })
    const b = await hello(url, 'cb', { token: 'bob' })
    await join(a, 'room', 'a')
    await join(b, 'room', 0)
    const mark = a.frames.length
    for (let i = 1; i <= 10; i++)
      b.send(...Array.from({ length: 100 }, (_, j) => ({ t: 'pstate' as const, topic: 'room', state: i * 100 + j })))
    await vi.waitFor(async () => expect((await server.presence('room'))[1]?.state).toBe(1099), { timeout: 5_000 })
    await a.waitFor(() => diffs(a, mark).at(-1)?.updated[0]?.state === 1099)
    // A burst of 1 + 5 tokens, then one per 200 ms: a thousand updates reached the others as a handful.
    expect(diffs(a, mark).length).toBeLessThanOrEqual(10)
    expect(b.frames.some((f) => f.t === 'error')).toBe(false)
  })

  it('refuses malformed presence frames with 4400 field', async () => {
    const { url } = await serve()
    for (const raw of ['{"t":"pjoin","topic":"a"}', '{"t":"pjoin","topic":"","state":1}', '{"t":"pleave"}']) {
      const c = await hello(url, `c${raw.length}`)
      c.send(raw)
      expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
    }
  })
})

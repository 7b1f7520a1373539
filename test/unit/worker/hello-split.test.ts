/**
 * Resubscribing many topics: the `hello` carries every cursor that fits under the server's message limit, and the
 * rest follow `welcome` as `sub` frames packed under that limit; a 4413 on the hello itself makes the next one smaller.
 * The owner's session on a scripted socket (which decodes and measures every message) and fake-indexeddb.
 */
import { describe, expect, it } from 'vitest'
import type { ClientFrame, Cursor } from '../../../src/protocol/frames.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import { cursorsThatFit, packSubs } from '../../../src/worker/frame-room.ts'
import { OutboxStore } from '../../../src/worker/outbox-store.ts'
import { OwnerSession } from '../../../src/worker/owner-session.ts'
import { ASSUMED_MAX_BYTES } from '../../../src/worker/socket-loop.ts'
import { FakeClock, type FakeSocket, FakeSockets, freshNamespace, sessionConfig, until } from './fakes.ts'

const target = { messages: () => undefined, reset: () => undefined }
const bytes = (s: string) => new TextEncoder().encode(s).byteLength

async function following(topics: string[]) {
  const namespace = freshNamespace()
  const db = new DbHandle(namespace)
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  const outbox = await OutboxStore.load(db, clock)
  const session = new OwnerSession(
    sessionConfig(namespace),
    db,
    outbox,
    {
      dial: () => Promise.resolve({ url: 'ws://server.test/', token: 'secret-token' }),
      state: () => undefined,
      acked: () => undefined,
      sent: () => undefined,
      renumbered: () => undefined,
      refused: () => undefined,
      dropped: () => undefined,
      log: () => undefined,
    },
    { clock, socket: sockets.open },
  )
  await session.ready
  await until(() => sockets.all.length === 1, 'the first socket')
  for (const [i, topic] of topics.entries()) session.subscribe(`w/1/${i}`, topic, 0, target)
  /** The server closes the current socket; the worker's retry opens the next one. */
  const reconnect = async (code = 1012, reason = '') => {
    const count = sockets.all.length
    sockets.last.serverClose(code, reason)
    clock.advance(1_000)
    await until(() => sockets.all.length === count + 1, 'the next socket')
    return sockets.last
  }
  return { session, sockets, reconnect }
}

/** Topics the connection subscribed, in order: its hello's, then its `sub` frames'. */
function subscribed(s: FakeSocket): { inHello: string[]; bySub: string[] } {
  const [hello, ...rest] = s.frames
  if (hello?.t !== 'hello') throw new Error(`the first frame was ${hello?.t}`)
  return {
    inHello: hello.subs.map((c) => c.topic),
    bySub: rest.filter((f): f is Extract<ClientFrame, { t: 'sub' }> => f.t === 'sub').map((f) => f.topic),
  }
}

describe('frame room', () => {
  const cursors: Cursor[] = [
    { topic: 'a', after: 0 },
    { topic: 'é', after: 12, epoch: 'e1' },
    { topic: 'c', after: 3 },
  ]
  const array = (n: number) => JSON.stringify(cursors.slice(0, n))

  it('takes cursors while the array of them stays within the room, counting UTF-8 bytes and commas', () => {
    // The room is what the cursors may add to an empty array: its length minus the brackets.
    for (const n of [1, 2, 3]) {
      const room = bytes(array(n)) - 2
      expect(cursorsThatFit(cursors, room)).toBe(n)
      expect(cursorsThatFit(cursors, room - 1)).toBe(n - 1)
    }
    expect(cursorsThatFit(cursors, Number.POSITIVE_INFINITY)).toBe(3)
    expect(cursorsThatFit(cursors, -5)).toBe(0)
  })

  it('packs sub frames in order into messages under the limit; a frame over it travels alone', () => {
    const frames = Array.from({ length: 50 }, (_, i) => ({ t: 'sub' as const, topic: `topic-${i}`, after: i }))
    const messages = packSubs(frames, 300)
    expect(messages.every((m) => bytes(m) <= 300)).toBe(true)
    expect(messages.flatMap((m) => [JSON.parse(m)].flat())).toEqual(frames)
    // Each message but the last had no room for the next frame.
    expect(messages.length).toBe(Math.ceil(frames.length / Math.floor(300 / (bytes(JSON.stringify(frames[10])) + 1))))
    const big = { t: 'sub' as const, topic: 'x'.repeat(400), after: 0 }
    expect(packSubs([frames[0] as (typeof frames)[0], big, frames[1] as (typeof frames)[0]], 300)).toEqual([
      JSON.stringify(frames[0]),
      JSON.stringify(big),
      JSON.stringify(frames[1]),
    ])
  })
})

describe('OwnerSession: resubscribing many topics', () => {
  it('1,000 topics: one hello carries them all on every connection, and no sub frame follows', async () => {
    const topics = Array.from({ length: 1_000 }, (_, i) => `topic-${i + 1}`)
    const t = await following(topics)
    for (const s of [t.sockets.last, null]) {
      const socket = s ?? (await t.reconnect())
      socket.open()
      socket.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: ASSUMED_MAX_BYTES })
      expect(subscribed(socket)).toEqual({ inHello: topics, bySub: [] })
      expect(socket.frames.map((f) => f.t)).toEqual(['hello'])
    }
  })

  it('10,000 long-named topics: the hello fills the named limit, the rest follow as subs, each topic once', async () => {
    // Above the assumed limit: a server naming less than the hello it took would contradict itself (a 4400).
    const LIMIT = 1_280 * 1024
    const topics = Array.from({ length: 10_000 }, (_, i) => `${'long-topic-name/'.repeat(15)}${i + 1}`)
    const t = await following(topics)
    // Before any welcome, the limit is assumed (the reference server's default).
    const first = t.sockets.last
    first.open()
    first.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: LIMIT })
    const before = subscribed(first)
    expect([...before.inHello, ...before.bySub]).toEqual(topics)
    expect(first.sizes[0]).toBeLessThanOrEqual(ASSUMED_MAX_BYTES)
    expect(first.sizes[0]).toBeGreaterThan(ASSUMED_MAX_BYTES - 300)
    expect(first.sizes.slice(1).every((n) => n <= LIMIT)).toBe(true)
    // The next connection sizes its hello by the limit the server named.
    const next = await t.reconnect()
    next.open()
    next.receive({ t: 'welcome', v: 1, acked: 0, maxBytes: LIMIT })
    const after = subscribed(next)
    expect([...after.inHello, ...after.bySub]).toEqual(topics)
    // Full: the first topic left out would not have fit.
    const nextCursor = JSON.stringify({ topic: after.bySub[0], after: 0 })
    expect((next.sizes[0] as number) + bytes(nextCursor) + 1).toBeGreaterThan(LIMIT)
    expect(next.sizes.every((n) => n <= LIMIT)).toBe(true)
    expect(next.sizes[0]).toBeGreaterThan(LIMIT - 300)
    // As few sub messages as the limit allows: each but the last had no room for one more frame.
    expect(next.sizes.length).toBeGreaterThan(2)
    expect(next.sizes.slice(1, -1).every((n) => n > LIMIT - 300)).toBe(true)
  })

  it('a server that names no limit and closes the hello with 4413: the next hello is smaller, the rest follow', async () => {
    const topics = Array.from({ length: 10_000 }, (_, i) => `${'long-topic-name/'.repeat(15)}${i + 1}`)
    const t = await following(topics)
    const refused = t.sockets.last
    refused.open()
    const [tooBig] = refused.sizes
    expect(tooBig).toBeGreaterThan(ASSUMED_MAX_BYTES - 300)
    const next = await t.reconnect(4413, 'Max payload size exceeded')
    next.open()
    expect(next.sizes[0]).toBeLessThan(tooBig as number)
    next.receive({ t: 'welcome', v: 1, acked: 0 })
    const { inHello, bySub } = subscribed(next)
    expect([...inHello, ...bySub]).toEqual(topics)
    expect(bySub.length).toBeGreaterThan(0)
    expect(next.sizes.every((n) => n < (tooBig as number))).toBe(true)
  })
})

import { describe, expect, it, vi } from 'vitest'
import type { Body, ClientFrame, Json, RangeFrame, ServerFrame } from '../../src/protocol/frames.ts'
import { serverHarness } from '../support/server-harness.ts'
import { storeKinds } from '../support/server-stores.ts'
import type { TestClient } from '../support/ws-client.ts'

/**
 * Binary bodies through the server with real `ws` clients: pubs in binary messages, `msg` and `range` frames with
 * bytes sent back in binary messages (JSON-only frames still as text), on every store.
 */

const { serve, hello, open } = serverHarness()

/** Bytes that are not valid UTF-8: any text round trip would change them. */
const NOT_UTF8 = [0xff, 0x00, 0xfe]

const stores = storeKinds('server-binary')

/** A body in a form `toEqual` compares exactly: bytes tagged (and checked to be a Uint8Array), JSON as-is. */
function shown(body: Body): Json {
  if (!(body instanceof Uint8Array)) return body
  expect(Object.getPrototypeOf(body), 'a decoded binary body is a plain Uint8Array').toBe(Uint8Array.prototype)
  return { bytes: [...body] }
}

/** `[seq, body, kind of the message that carried it]` for each `msg` of `topic`. */
function received(c: TestClient, topic: string): [number, Json, 'text' | 'binary'][] {
  return c.frames.flatMap((f, i) =>
    f.t === 'msg' && f.topic === topic
      ? [[f.seq, shown(f.body), c.via[i]?.kind ?? 'text'] as [number, Json, 'text' | 'binary']]
      : [],
  )
}

const bytes = (...b: number[]) => new Uint8Array(b)

describe.each(stores)('server with binary bodies on the $name store', (subject) => {
  const serveOn = async () => serve({ store: await subject.open() })

  it('acks a binary pub, stores its exact bytes and sends them to subscribers in a binary message', async () => {
    const { server, url } = await serveOn()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'bin', after: 0 }] })
    const c = await hello(url, 'c', { subs: [{ topic: 'bin', after: 0 }] })
    c.sendBinary({ t: 'pub', id: 1, topic: 'bin', body: bytes(...NOT_UTF8) })
    c.sendBinary({ t: 'pub', id: 2, topic: 'bin', body: bytes() })
    await c.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 2))
    const stored = (await server.store.read('bin', 0, 10)).msgs.map((m) => [m.seq, shown(m.body)])
    expect(stored).toEqual([
      [1, { bytes: NOT_UTF8 }],
      [2, { bytes: [] }],
    ])
    for (const client of [watcher, c]) {
      await client.untilSeq('bin', 2)
      expect(received(client, 'bin')).toEqual([
        [1, { bytes: NOT_UTF8 }, 'binary'],
        [2, { bytes: [] }, 'binary'],
      ])
    }
    // The ack has no body: it travels as text, as before.
    const ack = c.frames.findIndex((f) => f.t === 'ack')
    expect(c.via[ack]?.kind).toBe('text')
  })

  it('delivers mixed JSON and binary pubs in seq order, text and binary runs in turn', async () => {
    const { url } = await serveOn()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'mix', after: 0 }] })
    const c = await hello(url, 'c')
    const bodies: Body[] = ['j1', { j: 2 }, bytes(3, 0xff), bytes(4), { $b: [0, 1] }, bytes(6), 'j7']
    const pubs: ClientFrame[] = bodies.map((body, i) => ({ t: 'pub', id: i + 1, topic: 'mix', body }))
    // One binary message carrying JSON and binary bodies (one store call), then a text one.
    c.sendBinary(...pubs.slice(0, 6))
    c.send(...pubs.slice(6))
    await watcher.untilSeq('mix', 7)
    await watcher.quiet()
    const got = received(watcher, 'mix')
    expect(got.map(([seq, body]) => [seq, body])).toEqual(bodies.map((b, i) => [i + 1, shown(b)]))
    // Every frame with bytes came in a binary message, every JSON-only one in text.
    expect(got.map(([, , kind]) => kind)).toEqual(bodies.map((b) => (b instanceof Uint8Array ? 'binary' : 'text')))
    // No frame is lost or reordered across messages: seqs rise with the message numbers.
    const messages = watcher.frames.flatMap((f, i) => (f.t === 'msg' ? [watcher.via[i]?.message ?? 0] : []))
    expect(messages).toEqual([...messages].sort((a, b) => a - b))
    if (subject.name !== 'redis') {
      // These stores report the first six appends in one turn: one outbox flush, cut into runs by kind, in order.
      const first = messages[0] ?? 0
      expect(messages.slice(0, 6).map((m) => m - first)).toEqual([0, 0, 1, 1, 2, 3])
    }
  })

  it('replays binary bodies from the store to a late subscriber and answers fetch with binary ranges', async () => {
    const { server, url } = await serve({ store: await subject.open(), replayBatch: 2 })
    const bodies: Body[] = [bytes(...NOT_UTF8), 'two', bytes(), { four: 4 }, bytes(5, 5)]
    for (const body of bodies) await server.publish('log', body)
    const late = await hello(url, 'late', { subs: [{ topic: 'log', after: 0 }] })
    await late.untilSeq('log', 5)
    expect(received(late, 'log')).toEqual(
      bodies.map((b, i) => [i + 1, shown(b), b instanceof Uint8Array ? 'binary' : 'text']),
    )

    late.send({ t: 'fetch', req: 9, topic: 'log', after: 0, limit: 10 })
    await late.waitFor((f) => f.some((x) => x.t === 'range' && x.done))
    const ranges = late.frames.flatMap((f, i): [RangeFrame, string][] =>
      f.t === 'range' ? [[f, late.via[i]?.kind ?? '']] : [],
    )
    expect(ranges.flatMap(([r]) => r.msgs.map((m) => [m.seq, shown(m.body)]))).toEqual(
      bodies.map((b, i) => [i + 1, shown(b)]),
    )
    // The first read is one message (sizes are unknown until then), the next ones replayBatch (2): [1 bytes]
    // [2 json, 3 bytes] [4 json, 5 bytes] — each range holds bytes, so each is binary.
    expect(ranges.map(([r, kind]) => [r.msgs.length, r.done, kind])).toEqual([
      [1, false, 'binary'],
      [2, false, 'binary'],
      [2, true, 'binary'],
    ])
    // A range of JSON bodies only stays text.
    late.send({ t: 'fetch', req: 10, topic: 'log', after: 1, limit: 1 })
    await late.waitFor((f) => f.some((x) => x.t === 'range' && x.req === 10))
    const last = late.frames.length - 1
    expect([late.frames[last], late.via[last]?.kind]).toEqual([
      { t: 'range', req: 10, topic: 'log', msgs: [{ seq: 2, epoch: expect.any(String), body: 'two' }], done: true },
      'text',
    ])
  })

  it('sends a server-side binary publish as bytes, copied: the producer may reuse its buffer', async () => {
    const { server, url } = await serveOn()
    const c = await hello(url, 'c', { subs: [{ topic: 'p', after: 0 }] })
    const buffer = Buffer.from([7, 8, 9])
    await server.publish('p', buffer)
    buffer.fill(0)
    await c.untilSeq('p', 1)
    expect(received(c, 'p')).toEqual([[1, { bytes: [7, 8, 9] }, 'binary']])
  })
})

describe('server with malformed binary messages', () => {
  const envelope = (header: unknown, payload: number[] = []): Buffer => {
    const json = Buffer.from(JSON.stringify(header))
    const length = Buffer.alloc(4)
    length.writeUInt32BE(json.length)
    return Buffer.concat([length, json, Buffer.from(payload)])
  }

  it.each([
    ['shorter than its length prefix', Buffer.from([0, 0])],
    ['a header length past the end', Buffer.from([0, 0, 0, 50, 0x7b, 0x7d])],
    ['a header that is not JSON', Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{x')])],
    ['a body reference past the payload', envelope({ t: 'pub', id: 1, topic: 't', body: { $b: [0, 4] } }, [1, 2])],
    ['an unwrapped body', envelope({ t: 'pub', id: 1, topic: 't', body: 'bare' })],
    ['a negative reference', envelope({ t: 'pub', id: 1, topic: 't', body: { $b: [-1, 1] } }, [1])],
    [
      // Each body is a copy: 4,000 such references to a 300 kB payload asked the server for 1.2 GB.
      'references reading the same payload bytes again',
      envelope(
        Array.from({ length: 3 }, (_, i) => ({ t: 'pub', id: i + 1, topic: 't', body: { $b: [0, 2] } })),
        [1, 2],
      ),
    ],
  ])('closes 4400 (binary) on %s and appends nothing, while other clients keep working', async (_what, data) => {
    const { server, url } = await serve()
    const good = await hello(url, 'good', { subs: [{ topic: 't', after: 0 }] })
    const bad = await hello(url, 'bad')
    bad.send(data)
    expect(await bad.closed).toEqual({ code: 4400, reason: 'binary' })
    expect(bad.frames.at(-1)).toEqual({ t: 'error', code: 'binary', message: expect.any(String) })
    good.sendBinary({ t: 'pub', id: 1, topic: 't', body: bytes(1) })
    await good.untilSeq('t', 1)
    expect(received(good, 't')).toEqual([[1, { bytes: [1] }, 'binary']])
    expect((await server.store.head('t')).last).toBe(1)
    await vi.waitFor(() => expect(server.connections()).toBe(1))
  })

  it('validates the header of a binary message like a text message: a bad frame gets its own code', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c')
    c.send(envelope({ t: 'pub', id: 0, topic: 't', body: { $j: 1 } }))
    expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
  })

  it('takes hello in a binary message too, and rejects a malformed one before hello', async () => {
    const { url } = await serve()
    const c = await open(url)
    c.sendBinary({ t: 'hello', v: 1, client: 'bin', subs: [] })
    await c.waitFor((f: ServerFrame[]) => f.some((x) => x.t === 'welcome'))
    const d = await open(url)
    d.send(Buffer.from([1, 2, 3]))
    expect(await d.closed).toEqual({ code: 4400, reason: 'binary' })
  })
})

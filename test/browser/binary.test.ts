/**
 * Binary bodies end to end: a tab's `Uint8Array` / `ArrayBuffer` sends reach the server byte for byte (stored in
 * IndexedDB as bytes while offline), and binary messages from the server reach subscribers as `Uint8Array`s, in seq
 * order with JSON ones around them. Real SharedWorker, IndexedDB and server.
 */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

/** What a subscriber saw, with bytes as plain arrays so a comparison is exact. */
function shape(m: Message): { seq: number; bytes: number[] } | { seq: number; json: unknown } {
  return m.body instanceof Uint8Array ? { seq: m.seq, bytes: [...m.body] } : { seq: m.seq, json: m.body }
}

it('sends bytes (Uint8Array, ArrayBuffer, a typed-array view) beside JSON, queued offline, and the server keeps every byte', async () => {
  const wire = openWire()
  const topic = topicOf('bin-send')
  await expect.poll(() => wire.state, poll).toBe('open')
  await commands.serverStop()
  try {
    await expect.poll(() => wire.state, poll).toBe('reconnecting')
    await wire.send(topic, new Uint8Array([0xff, 0x00, 0xfe]))
    await wire.send(topic, { n: 2 })
    await wire.send(topic, new Uint8Array([1, 2, 3, 4]).buffer)
    await wire.send(topic, new Uint16Array([0x0102]).subarray(0, 1))
    await wire.send(topic, new Uint8Array(0))
    expect(await wire.pending()).toBe(5)
  } finally {
    await commands.serverStart()
  }
  await expect.poll(() => wire.pending(), poll).toBe(0)
  const u16 = [...new Uint8Array(new Uint16Array([0x0102]).buffer)]
  expect(await commands.serverReadBodies(topic)).toEqual([
    { bytes: [0xff, 0x00, 0xfe] },
    { json: { n: 2 } },
    { bytes: [1, 2, 3, 4] },
    { bytes: u16 },
    { bytes: [] },
  ])
})

it('delivers binary messages from the server as Uint8Array, in seq order with JSON ones, live and replayed', async () => {
  // Through a proxy that counts the frames the worker sends: the replay below must be served without a fetch.
  const wire = openWire({ url: `ws://127.0.0.1:${await commands.serverTapStart()}` })
  try {
    // Open first, so the subscription travels as a `sub` frame rather than inside `hello`.
    await expect.poll(() => wire.state, poll).toBe('open')
    const topic = topicOf('bin-recv')
    await commands.serverPublishBytes(topic, [0xff, 0xfe])
    await commands.serverPublish(topic, { n: 2 })
    const live: ReturnType<typeof shape>[] = []
    await wire.subscribe(topic, (m) => live.push(shape(m)))
    await commands.serverPublishBytes(topic, [7, 8, 9])
    const expected = [
      { seq: 1, bytes: [0xff, 0xfe] },
      { seq: 2, json: { n: 2 } },
      { seq: 3, bytes: [7, 8, 9] },
    ]
    await expect.poll(() => live, poll).toEqual(expected)
    // A second subscriber of the same tab replays from the worker's local log: the same bytes, and no frame asked
    // the server for them (one connection, one sub for the first subscriber, no fetch).
    const replayed: ReturnType<typeof shape>[] = []
    await wire.subscribe(topic, (m) => replayed.push(shape(m)))
    await expect.poll(() => replayed, poll).toEqual(expected)
    const frames = await commands.serverTapFrames()
    expect({ hello: frames.hello, sub: frames.sub, fetch: frames.fetch ?? 0 }).toEqual({ hello: 1, sub: 1, fetch: 0 })
  } finally {
    wire.close()
    await commands.serverTapStop()
  }
})

/**
 * 1,000 subscribed topics in one namespace, across a reconnect: the worker resubscribes them all in its one `hello`
 * (not 1,000 round trips), and messages on the first and the last topic reach their subscribers afterwards. The
 * frames are counted on the wire by a proxy in front of the real server (test/support/tcp-proxy.ts).
 */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const TOPICS = 1_000

it('resubscribes 1,000 topics in one hello after a reconnect; the first and the last topic get messages', async () => {
  const wire = openWire({ url: `ws://127.0.0.1:${await commands.serverTapStart()}` })
  try {
    await expect.poll(() => wire.state, poll).toBe('open')
    const prefix = topicOf('topics-1000')
    const topics = Array.from({ length: TOPICS }, (_, i) => `${prefix}/${i + 1}`)
    const got = new Map<string, Message[]>(topics.map((t) => [t, []]))
    await Promise.all(topics.map((t) => wire.subscribe(t, (m) => got.get(t)?.push(m))))
    // Subscribed while open: one `sub` each, after the first connection's empty hello.
    await expect.poll(async () => (await commands.serverTapFrames()).sub, poll).toBe(TOPICS)
    expect(await commands.serverTapHellos()).toEqual([[]])

    // The server goes away (1012) and comes back: one reconnect.
    await commands.serverStop()
    await expect.poll(() => wire.state, poll).not.toBe('open')
    await commands.serverStart()
    await expect.poll(() => wire.state, poll).toBe('open')

    const hellos = await commands.serverTapHellos()
    expect(hellos).toHaveLength(2)
    expect(hellos[1]).toEqual(topics)
    const frames = await commands.serverTapFrames()
    expect({ hello: frames.hello, sub: frames.sub, unsub: frames.unsub ?? 0 }).toEqual({
      hello: 2,
      sub: TOPICS,
      unsub: 0,
    })

    const first = topics[0] as string
    const last = topics[TOPICS - 1] as string
    expect(await commands.serverPublish(first, { n: 'first' })).toBe(1)
    expect(await commands.serverPublish(last, { n: 'last' })).toBe(1)
    await expect.poll(() => got.get(first), poll).toEqual([{ topic: first, seq: 1, body: { n: 'first' } }])
    await expect.poll(() => got.get(last), poll).toEqual([{ topic: last, seq: 1, body: { n: 'last' } }])
    // Nothing else arrived on any topic, and the reconnect sent no `sub` of its own.
    expect([...got.values()].reduce((n, msgs) => n + msgs.length, 0)).toBe(2)
    expect((await commands.serverTapFrames()).sub).toBe(TOPICS)
  } finally {
    wire.close()
    await commands.serverTapStop()
  }
})

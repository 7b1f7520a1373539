/**
 * 1,000 subscribed topics in one namespace. Subscribed in one task, they cost one call into the worker (counted on
 * the tab's port: Comlink's posts, by method) and one WebSocket message of 1,000 `sub` frames; across a reconnect the
 * worker resubscribes them all in its one `hello` (not 1,000 round trips). Every topic gets its messages, before and
 * after. The frames are counted on the wire by a proxy in front of the real server (test/support/tcp-proxy.ts).
 */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const TOPICS = 1_000

/** The fixture worker, with the methods of every Comlink call the tab posts to it recorded in `calls`. */
function countedWorker(calls: string[]): () => SharedWorker {
  return () => {
    const worker = new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), {
      type: 'module',
      name: 'tabwire',
    })
    const post = worker.port.postMessage.bind(worker.port)
    worker.port.postMessage = ((message: { type?: string; path?: string[] }, transfer: Transferable[]) => {
      if (message?.type === 'APPLY' && message.path?.[0]) calls.push(message.path[0])
      post(message, transfer)
    }) as typeof worker.port.postMessage
    return worker
  }
}

it('subscribes 1,000 topics in one worker call and one sub message, resubscribes them in one hello after a reconnect; every topic gets its messages', async () => {
  const calls: string[] = []
  const wire = openWire({
    url: `ws://127.0.0.1:${await commands.serverTapStart()}`,
    worker: countedWorker(calls),
  })
  try {
    await expect.poll(() => wire.state, poll).toBe('open')
    const prefix = topicOf('topics-1000')
    const topics = Array.from({ length: TOPICS }, (_, i) => `${prefix}/${i + 1}`)
    const got = new Map<string, Message[]>(topics.map((t) => [t, []]))
    await Promise.all(topics.map((t) => wire.subscribe(t, (m) => got.get(t)?.push(m))))
    // One call for the whole task (the old way was one `subscribe` call per topic).
    expect(calls.filter((c) => c === 'subscribe' || c === 'subscriptions')).toEqual(['subscriptions'])
    // Subscribed while open: one `sub` each, after the first connection's empty hello, all in one WebSocket message.
    await expect.poll(async () => (await commands.serverTapFrames()).sub, poll).toBe(TOPICS)
    expect((await commands.serverTapMessages()).sub).toBe(1)
    expect(await commands.serverTapHellos()).toEqual([[]])

    // One message on every topic (sent in one task: one store call, one outbox batch), each back to its subscriber.
    await Promise.all(topics.map((t, i) => wire.send(t, { n: i })))
    await expect.poll(() => [...got.values()].filter((msgs) => msgs.length === 1).length, poll).toBe(TOPICS)
    topics.forEach((t, i) => {
      expect(got.get(t)).toEqual([{ topic: t, seq: 1, body: { n: i } }])
    })

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
    expect(await commands.serverPublish(first, { n: 'first' })).toBe(2)
    expect(await commands.serverPublish(last, { n: 'last' })).toBe(2)
    await expect.poll(() => got.get(first)?.at(-1), poll).toEqual({ topic: first, seq: 2, body: { n: 'first' } })
    await expect.poll(() => got.get(last)?.at(-1), poll).toEqual({ topic: last, seq: 2, body: { n: 'last' } })
    // Nothing else arrived on any topic, and neither the reconnect nor the tab made another subscription call.
    expect([...got.values()].reduce((n, msgs) => n + msgs.length, 0)).toBe(TOPICS + 2)
    expect((await commands.serverTapFrames()).sub).toBe(TOPICS)
    expect(calls.filter((c) => c === 'subscribe' || c === 'subscriptions')).toEqual(['subscriptions'])
  } finally {
    wire.close()
    await commands.serverTapStop()
  }
})

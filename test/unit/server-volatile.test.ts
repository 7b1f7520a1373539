/**
 * Volatile sends (`vpub` → `vmsg`) against the real server with raw ws clients: relayed to the topic's current
 * subscribers (every node sharing the store), never stored, numbered nor replayed; `authorize` and `rateLimit` apply.
 */
import { describe, expect, it } from 'vitest'
import type { ClientFrame, Json, ServerFrame } from '../../src/protocol/frames.ts'
import { createMemoryStore, createServer } from '../../src/server/index.ts'
import { HIGH_WATER_BYTES, MESSAGE_BYTES } from '../../src/server/outbox.ts'
import { serverHarness } from '../support/server-harness.ts'
import { until } from '../support/wait.ts'
import { WireCounter } from '../support/wire-counter.ts'
import { TestClient } from '../support/ws-client.ts'

const { serve, hello } = serverHarness()

const vpub = (topic: string, body: Json): ClientFrame => ({ t: 'vpub', topic, body })
const vmsgs = (frames: ServerFrame[], topic: string) =>
  frames.filter((f) => f.t === 'vmsg' && f.topic === topic).map((f) => (f.t === 'vmsg' ? f.body : undefined))

describe('volatile sends', () => {
  it('reach every current subscriber of the topic, the sender included, in send order, and nobody else', async () => {
    const { url } = await serve()
    const sender = await hello(url, 'sender', { subs: [{ topic: 'cursor', after: 0 }] })
    const watcher = await hello(url, 'watcher', { subs: [{ topic: 'cursor', after: 0 }] })
    const elsewhere = await hello(url, 'elsewhere', { subs: [{ topic: 'other', after: 0 }] })
    sender.send(vpub('cursor', { x: 1 }), vpub('cursor', { x: 2 }))
    sender.send(vpub('cursor', { x: 3 }))
    await watcher.waitFor((f) => vmsgs(f, 'cursor').length === 3)
    await sender.waitFor((f) => vmsgs(f, 'cursor').length === 3)
    expect(vmsgs(watcher.frames, 'cursor')).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }])
    expect(watcher.frames.filter((f) => f.t === 'vmsg')).toEqual([
      { t: 'vmsg', topic: 'cursor', body: { x: 1 } },
      { t: 'vmsg', topic: 'cursor', body: { x: 2 } },
      { t: 'vmsg', topic: 'cursor', body: { x: 3 } },
    ])
    elsewhere.send({ t: 'ping', n: 1 })
    await elsewhere.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(elsewhere.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576, early: 64 },
      { t: 'pong', n: 1 },
    ])
  })

  it('are never stored, acked nor numbered: a later subscriber from 0 sees only the durable message', async () => {
    const { server, url } = await serve()
    const sender = await hello(url, 'sender')
    sender.send(vpub('room', 'typing'), { t: 'pub', id: 1, topic: 'room', body: 'hello' }, vpub('room', 'stopped'))
    await sender.waitFor((f) => f.some((x) => x.t === 'ack'))
    expect(sender.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576, early: 64 },
      { t: 'ack', id: 1 },
    ])
    const head = await server.store.head('room')
    expect(head.last).toBe(1)
    const late = await hello(url, 'late', { subs: [{ topic: 'room', after: 0 }] })
    await late.untilSeq('room', 1)
    await late.quiet()
    expect(late.frames.filter((f) => f.t !== 'welcome')).toEqual([
      { t: 'msg', topic: 'room', seq: 1, epoch: head.epoch, body: 'hello' },
    ])
  })

  it('carry bytes as bytes, in a binary message', async () => {
    const { url } = await serve()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'pix', after: 0 }] })
    const sender = await hello(url, 's')
    sender.sendBinary({ t: 'vpub', topic: 'pix', body: new Uint8Array([1, 2, 255]) })
    await watcher.waitFor((f) => f.some((x) => x.t === 'vmsg'))
    const got = watcher.frames.find((f) => f.t === 'vmsg')
    expect(got).toEqual({ t: 'vmsg', topic: 'pix', body: new Uint8Array([1, 2, 255]) })
    expect(watcher.via.at(-1)?.kind).toBe('binary')
  })

  it('a topic the user may not publish to: dropped with error forbidden, the connection stays', async () => {
    const asked: string[] = []
    const { url } = await serve({
      authorize: (_user, topic, action) => {
        asked.push(`${action} ${topic}`)
        return topic !== 'secret' || action === 'sub'
      },
    })
    const watcher = await hello(url, 'w', { subs: [{ topic: 'secret', after: 0 }] })
    const sender = await hello(url, 's')
    sender.send(vpub('secret', 1), { t: 'ping', n: 7 })
    await sender.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(sender.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576, early: 64 },
      { t: 'error', code: 'forbidden', message: 'not allowed to publish to secret' },
      { t: 'pong', n: 7 },
    ])
    expect(asked).toContain('pub secret')
    await watcher.quiet()
    expect(watcher.frames.filter((f) => f.t === 'vmsg')).toEqual([])
  })

  it('a run of vpubs in one message: authorize asked once per topic, a denied one dropped in place, the rest relayed in order in one message', async () => {
    const asked: string[] = []
    const { url } = await serve({
      authorize: (_user, topic, action) => {
        asked.push(`${action} ${topic}`)
        return topic !== 'secret' || action === 'sub'
      },
    })
    const watcher = await hello(url, 'w', {
      subs: ['a', 'secret', 'b'].map((topic) => ({ topic, after: 0 })),
    })
    await watcher.quiet()
    const seen = watcher.frames.length
    asked.length = 0
    const sender = await hello(url, 's')
    sender.send(vpub('a', 1), vpub('secret', 'x'), vpub('a', 2), vpub('b', 1), vpub('a', 3), { t: 'ping', n: 9 })
    await sender.waitFor((f) => f.some((x) => x.t === 'pong'))
    expect(sender.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576, early: 64 },
      { t: 'error', code: 'forbidden', message: 'not allowed to publish to secret' },
      { t: 'pong', n: 9 },
    ])
    expect(asked).toEqual(['pub a', 'pub secret', 'pub b'])
    await watcher.waitFor((f) => f.filter((x) => x.t === 'vmsg').length === 4)
    await watcher.quiet()
    expect(watcher.frames.slice(seen)).toEqual([
      { t: 'vmsg', topic: 'a', body: 1 },
      { t: 'vmsg', topic: 'a', body: 2 },
      { t: 'vmsg', topic: 'b', body: 1 },
      { t: 'vmsg', topic: 'a', body: 3 },
    ])
    // Relayed in one turn, so the four share one WebSocket message.
    expect(new Set(watcher.via.slice(seen).map((v) => v.message)).size).toBe(1)
  })

  it('a vpub or request body nested deeper than 100 levels closes 4400 depth, and nothing of it is relayed', async () => {
    const { url } = await serve()
    const watcher = await hello(url, 'w', { subs: [{ topic: 'deep', after: 0 }] })
    const deep = `${'['.repeat(101)}${']'.repeat(101)}`
    for (const [t, extra] of [
      ['vpub', ''],
      ['request', '"id":1,'],
    ] as const) {
      const c = await hello(url, `s-${t}`)
      c.send(`{"t":"${t}",${extra}"topic":"deep","body":${deep}}`)
      expect(await c.closed).toEqual({ code: 4400, reason: 'depth' })
      expect(c.frames.at(-1)).toEqual({ t: 'error', code: 'depth', message: `${t}.body nests deeper than 100 levels` })
    }
    await watcher.quiet()
    expect(watcher.frames.filter((f) => f.t === 'vmsg')).toEqual([])
  })

  it('count against rateLimit like any frame: over the budget closes 4429 and the rest is not relayed', async () => {
    const { url } = await serve({ rateLimit: { messagesPerSecond: 1, burst: 3 } })
    const watcher = await hello(url, 'w', { subs: [{ topic: 't', after: 0 }] })
    const sender = await hello(url, 's') // hello: 1 token of 3
    sender.send(vpub('t', 1), vpub('t', 2), vpub('t', 3)) // 2 - 3 = -1: let in whole
    sender.send(vpub('t', 4))
    expect((await sender.closed).code).toBe(4429)
    await watcher.waitFor((f) => vmsgs(f, 't').length === 3)
    await watcher.quiet()
    expect(vmsgs(watcher.frames, 't')).toEqual([1, 2, 3])
  })

  it('cross to the subscribers of another server node sharing the store', async () => {
    const store = createMemoryStore()
    const a = await createServer({ port: 0, store })
    const b = await createServer({ port: 0, store })
    try {
      const onB = await TestClient.hello(`ws://127.0.0.1:${b.port}`, 'b', { subs: [{ topic: 'cursor', after: 0 }] })
      const onA = await TestClient.hello(`ws://127.0.0.1:${a.port}`, 'a')
      onA.send(vpub('cursor', 'from a'))
      await onB.waitFor((f) => vmsgs(f, 'cursor').length === 1)
      expect(vmsgs(onB.frames, 'cursor')).toEqual(['from a'])
      await Promise.all([onA.close(), onB.close()])
    } finally {
      await a.stop()
      await b.close()
    }
  })

  it('a subscriber that does not read loses volatile messages instead of making the server hold them', async () => {
    const { server, url } = await serve({ idleTimeout: 600_000 })
    const slow = await WireCounter.open(url)
    await slow.send(JSON.stringify({ t: 'hello', v: 1, client: 'slow', subs: [{ topic: 'flood', after: 0 }] }))
    await slow.until(() => slow.frames === 1, 'welcome')
    slow.pause()
    const sender = await hello(url, 's')
    const body = 'v'.repeat(100_000)
    // 40 MB of volatile traffic for a client that reads nothing.
    for (let i = 0; i < 400; i++) sender.send(vpub('flood', body))
    sender.send({ t: 'ping', n: 1 })
    await sender.waitFor((f) => f.some((x) => x.t === 'pong'))
    await until(
      'the server to hold some for the paused client',
      () => server.outputBytes().now,
      (n) => n > 0,
    )
    expect(server.outputBytes().peak).toBeLessThan(HIGH_WATER_BYTES + 2 * MESSAGE_BYTES)
    slow.resume()
  })
})

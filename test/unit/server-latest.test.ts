/**
 * `latest: true` on a cursor (hello.subs or sub): the server answers with `reset {reason: 'latest'}` just before the
 * topic's newest message, then that message, then live ones; an empty log gets the reset at its end.
 */
import { describe, expect, it } from 'vitest'
import type { MsgFrame } from '../../src/protocol/frames.ts'
import { createMemoryStore } from '../../src/server/index.ts'
import type { TabwireServer } from '../../src/server/index.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

async function publishMany(server: TabwireServer, topic: string, n: number): Promise<string> {
  let epoch = ''
  for (let i = 1; i <= n; i++) epoch = (await server.publish(topic, `b${i}`)).epoch
  return epoch
}

const msg = (topic: string, seq: number, epoch: string): MsgFrame => ({ t: 'msg', topic, seq, epoch, body: `b${seq}` })

describe('server: subscriptions that start at the newest message', () => {
  it('a hello cursor with latest gets a latest reset before the newest message, then live ones', async () => {
    const { server, url } = await serve()
    const epoch = await publishMany(server, 't', 7)
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 0, latest: true }] })
    await c.untilSeq('t', 7)
    await server.publish('t', 'b8')
    await c.untilSeq('t', 8)
    await c.quiet()
    expect(c.frames).toEqual([
      { t: 'welcome', v: 1, acked: 0, maxBytes: 1_048_576, early: 64 },
      { t: 'reset', topic: 't', seq: 6, epoch, reason: 'latest' },
      msg('t', 7, epoch),
      msg('t', 8, epoch),
    ])
  })

  it('a sub with latest ignores its after and epoch, and replaces a running subscription of the topic', async () => {
    const store = createMemoryStore({ retention: { maxMessages: 3 } })
    const { server, url } = await serve({ store })
    const epoch = await publishMany(server, 't', 10)
    const c = await hello(url, 'c')
    c.send({ t: 'sub', topic: 't', after: 99, epoch: 'some-other-epoch', latest: true })
    await c.untilSeq('t', 10)
    await c.quiet()
    expect(c.since(1)).toEqual([{ t: 'reset', topic: 't', seq: 9, epoch, reason: 'latest' }, msg('t', 10, epoch)])
  })

  it('an empty topic gets the reset at the end of its log; the next message is the first one sent', async () => {
    const { server, url } = await serve()
    const c = await hello(url, 'c', { subs: [{ topic: 'empty', after: 5, latest: true }] })
    await c.waitFor((f) => f.some((x) => x.t === 'reset'))
    const { epoch } = await server.publish('empty', 'b1')
    await c.untilSeq('empty', 1)
    await c.quiet()
    expect(c.since(1)).toEqual([
      { t: 'reset', topic: 'empty', seq: 0, epoch, reason: 'latest' },
      msg('empty', 1, epoch),
    ])
  })

  it('a message appended while the head is read is still sent, after the newest', async () => {
    const store = createMemoryStore()
    const head = store.head.bind(store)
    let during = false
    store.head = async (topic) => {
      const h = await head(topic)
      if (during) await store.append(topic, `b${h.last + 1}`)
      return h
    }
    const { server, url } = await serve({ store })
    const epoch = await publishMany(server, 't', 4)
    during = true
    const c = await hello(url, 'c', { subs: [{ topic: 't', after: 0, latest: true }] })
    await c.untilSeq('t', 5)
    await c.quiet()
    expect(c.since(1)).toEqual([
      { t: 'reset', topic: 't', seq: 3, epoch, reason: 'latest' },
      msg('t', 4, epoch),
      msg('t', 5, epoch),
    ])
  })

  it('a latest that is not a boolean is a bad frame (field, 4400)', async () => {
    const { url } = await serve()
    const c = await hello(url, 'c')
    c.send(JSON.stringify({ t: 'sub', topic: 't', after: 0, latest: 'yes' }))
    expect(await c.closed).toEqual({ code: 4400, reason: 'field' })
    expect(c.frames.at(-1)).toEqual({ t: 'error', code: 'field', message: 'sub.latest must be a boolean' })
  })

  it('authorize still decides: a denied latest sub gets forbidden and no reset', async () => {
    const { server, url } = await serve({ authorize: (_user, topic) => topic !== 'secret' })
    await publishMany(server, 'secret', 2)
    const c = await hello(url, 'c')
    c.send({ t: 'sub', topic: 'secret', after: 0, latest: true }, { t: 'ping', n: 1 })
    await c.waitFor((f) => f.some((x) => x.t === 'pong'))
    await c.quiet()
    expect(c.since(1)).toEqual([
      { t: 'error', code: 'forbidden', message: 'not allowed to subscribe to secret' },
      { t: 'pong', n: 1 },
    ])
  })
})

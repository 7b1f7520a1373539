/**
 * What the owner's tabs hear about a durable send, in order, on fake locks and a scripted socket: a send written to
 * the socket at its commit is told as `sent` alone (it says the outbox changed, as `queued` would), a send stored while
 * the socket is down as `queued`; and each is one WebSocket message.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { StateInfo, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { ChannelHub, FakeLocks, fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

type Heard = ['queued' | 'sent' | 'acked', number]

const msg = (body: string) => [{ topic: 't', body: JSON.stringify(body) }]

async function owner() {
  const namespace = freshNamespace()
  const shared = { locks: new FakeLocks(), hub: new ChannelHub() }
  const platform = fakePlatform(shared)
  void shared.locks.request(workerLock('w'), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(sessionConfig(namespace, { url: 'ws://server.test/' }), 'w', () => undefined, platform)
  await host.ready
  const heard: Heard[] = []
  const states: StateInfo[] = []
  const events = fakeTabEvents({
    state: (info) => void states.push(info),
    queued: (last) => void heard.push(['queued', last]),
    sent: (upTo) => void heard.push(['sent', upTo]),
    acked: (upTo) => void heard.push(['acked', upTo]),
  })
  host.attach(new Tab({ id: 'tab', lock: 'tab-lock:tab', dials: false }, events as unknown as Remote<TabEvents>))
  await until(() => platform.sockets.all.length === 1, 'a socket')
  const socket = platform.sockets.last
  let messages = 0
  const send = socket.send.bind(socket)
  socket.send = (data) => {
    messages++
    send(data)
  }
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => states.at(-1)?.state === 'open', 'open')
  // The queue is reconciled with `welcome.acked` once a first send reaches the socket (until then sends wait on disk).
  await host.send(msg('first'))
  await until(() => socket.sent('pub').length === 1, 'the first pub')
  socket.receive({ t: 'ack', id: 1 })
  heard.length = 0
  return { host, socket, heard, states, platform, messages: () => messages }
}

describe('the events of a durable send', () => {
  it('written at its commit: `sent` alone, then `acked`; stored while offline: `queued`, then `sent` at the resend', async () => {
    const { host, socket, heard, states, platform, messages } = await owner()
    const before = messages()
    expect(await host.send(msg('a'))).toEqual([2])
    // On the socket when `send` is answered: written in the commit's own turn, not by a resend.
    expect(socket.sent('pub').at(-1)).toEqual({ t: 'pub', id: 2, topic: 't', body: 'a' })
    expect(messages() - before).toBe(1)
    expect(await host.send(msg('b'))).toEqual([3])
    expect(messages() - before).toBe(2)
    socket.receive({ t: 'ack', id: 3 })
    expect(heard).toEqual([
      ['sent', 2],
      ['sent', 3],
      ['acked', 3],
    ])

    heard.length = 0
    socket.serverClose(1006)
    await until(() => states.at(-1)?.state === 'reconnecting', 'reconnecting')
    expect(await host.send(msg('c'))).toEqual([4])
    expect(heard).toEqual([['queued', 4]])
    platform.clock.advance(1_000)
    await until(() => platform.sockets.all.length === 2, 'a new socket')
    const again = platform.sockets.last
    again.open()
    again.receive({ t: 'welcome', v: 1, acked: 3 })
    await until(() => again.sent('pub').length === 1, 'the resend')
    expect(again.sent('pub')).toEqual([{ t: 'pub', id: 4, topic: 't', body: 'c' }])
    await until(() => heard.length === 2, "the resend's `sent`")
    expect(heard).toEqual([
      ['queued', 4],
      ['sent', 4],
    ])
  })
})

/**
 * Issue 18 §1: a cold worker (no socket yet) that holds a topic's newest message in its local log shows it to an
 * `after: 'latest'` subscription before the socket is up; the server's `reset {reason: 'latest'}` then moves it on to
 * a newer message, or finds it already there. No message twice, and a changed epoch is told as a reset.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { MsgFrame, ServerFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, ResetNotice, TabEvents } from '../../../src/protocol/port.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

type Seen = Delivery | { reset: ResetNotice }

function fakeTab(id: string) {
  const seen: Seen[] = []
  const events = fakeTabEvents({
    messages: (_sub, msgs) => void seen.push(...msgs),
    reset: (_sub, notice) => void seen.push({ reset: notice }),
  })
  return { tab: new Tab({ id, lock: `lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>), seen }
}

const msg = (seq: number, epoch = 'e1'): MsgFrame => ({ t: 'msg', topic: 'news', seq, epoch, body: `m${seq}` })

async function worker(namespace: string, name: string) {
  const platform = fakePlatform()
  const host = new NamespaceHost(
    sessionConfig(namespace, { url: 'ws://server.test/' }),
    name,
    () => undefined,
    platform,
  )
  await host.ready
  const t = fakeTab(`${name}-tab`)
  host.attach(t.tab)
  await until(() => platform.sockets.all.length === 1, 'the socket')
  return { host, platform, ...t, socket: platform.sockets.last }
}

/** A first worker took in news 1..3 and ended with its tab; a second one starts cold on the same storage. */
async function coldWorkerHolding3() {
  const namespace = freshNamespace()
  const first = await worker(namespace, 'w1')
  first.socket.open()
  first.socket.receive({ t: 'welcome', v: 1, acked: 0 })
  first.host.subscribe(first.tab, 1, 'news', 0)
  first.socket.receive(msg(1), msg(2), msg(3))
  await until(() => first.seen.length === 3, 'the first worker took in 1..3')
  first.host.detach(first.tab)
  const cold = await worker(namespace, 'w2')
  cold.host.subscribe(cold.tab, 1, 'news', 0, { latest: true })
  await until(() => cold.seen.length === 1, 'the held newest, before the socket opens')
  expect(cold.seen).toEqual([{ topic: 'news', seq: 3, body: 'm3' }])
  cold.socket.open()
  cold.socket.receive({ t: 'welcome', v: 1, acked: 0 })
  // The hello still asks the server where the newest is.
  expect(cold.socket.sent('hello')[0]?.subs).toEqual([{ topic: 'news', after: 3, epoch: 'e1', latest: true }])
  return cold
}

describe("after: 'latest' on a cold worker", () => {
  it.each<{ name: string; server: ServerFrame[]; next: Seen[] }>([
    {
      name: 'the held message is still the newest: nothing repeats',
      server: [{ t: 'reset', topic: 'news', seq: 2, epoch: 'e1', reason: 'latest' }, msg(3), msg(4)],
      next: [{ topic: 'news', seq: 4, body: 'm4' }],
    },
    {
      name: 'the server has newer ones: it moves on to the newest',
      server: [{ t: 'reset', topic: 'news', seq: 6, epoch: 'e1', reason: 'latest' }, msg(7), msg(8)],
      next: [
        { topic: 'news', seq: 7, body: 'm7' },
        { topic: 'news', seq: 8, body: 'm8' },
      ],
    },
    {
      name: 'the server has another epoch: a reset, then its newest',
      server: [{ t: 'reset', topic: 'news', seq: 0, epoch: 'e2', reason: 'latest' }, msg(1, 'e2')],
      next: [{ reset: { topic: 'news', seq: 0, reason: 'epoch' } }, { topic: 'news', seq: 1, body: 'm1' }],
    },
  ])('$name', async ({ server, next }) => {
    const cold = await coldWorkerHolding3()
    cold.socket.receive(...server)
    await until(() => cold.seen.length === 1 + next.length, 'what the server sent')
    // One more from the server: anything still on its way would arrive before it.
    const last = next.at(-1) as Delivery
    const epoch = last.seq === 1 ? 'e2' : 'e1'
    cold.socket.receive(msg(last.seq + 1, epoch))
    await until(() => cold.seen.length === 2 + next.length, 'the next live message')
    expect(cold.seen).toEqual([
      { topic: 'news', seq: 3, body: 'm3' },
      ...next,
      { topic: 'news', seq: last.seq + 1, body: `m${last.seq + 1}` },
    ])
  })

  it('holding nothing for the topic, it waits for the server as before', async () => {
    const cold = await worker(freshNamespace(), 'w1')
    cold.host.subscribe(cold.tab, 1, 'news', 0, { latest: true })
    cold.socket.open()
    cold.socket.receive({ t: 'welcome', v: 1, acked: 0 })
    cold.socket.receive({ t: 'reset', topic: 'news', seq: 4, epoch: 'e1', reason: 'latest' }, msg(5))
    await until(() => cold.seen.length === 1, 'the newest')
    expect(cold.seen).toEqual([{ topic: 'news', seq: 5, body: 'm5' }])
  })
})

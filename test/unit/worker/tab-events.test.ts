/**
 * The worker's events to a tab over the tab's event port (a real MessageChannel, the tab's end served by the client's
 * own `openEventChannel`): one post per task with no answer for what nobody awaits, Comlink calls on the same port for
 * what the worker awaits, in the order the worker made them; a tab of an older release (no port) gets Comlink calls.
 */
import type { Remote } from 'comlink'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openEventChannel, type EventChannel } from '../../../src/client/event-port.ts'
import type { MsgFrame } from '../../../src/protocol/frames.ts'
import type { Delivery, TabEvents } from '../../../src/protocol/port.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

const config = (namespace: string) =>
  sessionConfig(namespace, {
    url: 'ws://server.test/',
    reconnect: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 },
  })

const EPOCH = 'e1'
const msg = (topic: string, seq: number): MsgFrame => ({ t: 'msg', topic, seq, epoch: EPOCH, body: `b${seq}` })

const channels: EventChannel[] = []
afterEach(() => {
  for (const c of channels.splice(0)) c.close()
})

/**
 * A tab on an event port. `heard` is what its handlers were called with, in order; `posts` every message the worker
 * posted on the port; `answers` every message the tab posted back; `proxied` the calls that came through the Comlink
 * proxy a worker of an older release would use instead.
 */
function portTab(id: string, jsonBodies = false) {
  const heard: string[] = []
  const proxied: string[] = []
  let answer: Promise<void> = Promise.resolve()
  const events = fakeTabEvents({
    state: (info) => void heard.push(`state ${info.state}`),
    volatile: (sub, msgs) => void heard.push(`volatile ${sub}: ${msgs.map((m) => JSON.stringify(m.body)).join(' ')}`),
    messages: (sub, msgs: Delivery[]) => {
      heard.push(`messages ${sub}: ${msgs.map((m) => m.seq).join(' ')}`)
      return answer
    },
    bodiesJson: (sub, topic, first, json) => {
      const bodies = JSON.parse(json) as unknown[]
      heard.push(`messages ${sub}: ${topic} ${bodies.map((b, i) => `${first + i}=${JSON.stringify(b)}`).join(' ')}`)
    },
    reset: (sub, n) => void heard.push(`reset ${sub}: ${n.seq}`),
    acked: (upTo) => void heard.push(`acked ${upTo}`),
    sent: (upTo) => void heard.push(`sent ${upTo}`),
    queued: (last) => void heard.push(`queued ${last}`),
  })
  const channel = openEventChannel(events)
  channels.push(channel)
  const port = channel.port
  const posts: unknown[] = []
  const post = port.postMessage.bind(port)
  port.postMessage = ((message: unknown, transfer: Transferable[] = []) => {
    posts.push(message)
    post(message, transfer)
  }) as typeof port.postMessage
  const answers: unknown[] = []
  port.addEventListener('message', (ev) => void answers.push(ev.data))
  const proxy = new Proxy(
    {},
    {
      get: (_, name) => () => {
        proxied.push(String(name))
        return Promise.resolve()
      },
    },
  ) as Remote<TabEvents>
  const info = { id, lock: `lock:${id}`, dials: false, ...(jsonBodies ? { jsonBodies: true as const } : {}) }
  const tab = new Tab(info, proxy, port)
  return {
    tab,
    heard,
    posts,
    answers,
    proxied,
    /** `messages` of a conflating or one-tab subscription answers once this settles. */
    answerWhen: (p: Promise<void>) => (answer = p),
  }
}

async function openHost() {
  const platform = fakePlatform()
  const host = new NamespaceHost(config(freshNamespace()), 'w1', () => undefined, platform)
  await host.ready
  const t = portTab('t1')
  host.attach(t.tab)
  await until(() => platform.sockets.all.length === 1, 'the socket')
  const socket = platform.sockets.last
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => t.heard.includes('state open'), "the tab hears 'open'")
  return { host, socket, ...t }
}

/** A few turns of the event loop: whatever was posted has arrived. */
const settle = () => new Promise((r) => setTimeout(r, 20))

describe('messages to tabs that take JSON text', () => {
  it('a batch that three tabs get is serialized once and posted to each as the same text; an old tab gets objects', async () => {
    const platform = fakePlatform()
    const host = new NamespaceHost(config(freshNamespace()), 'w1', () => undefined, platform)
    await host.ready
    const tabs = [portTab('j1', true), portTab('j2', true), portTab('j3', true), portTab('old')]
    for (const t of tabs) host.attach(t.tab)
    await until(() => platform.sockets.all.length === 1, 'the socket')
    const socket = platform.sockets.last
    socket.open()
    socket.receive({ t: 'welcome', v: 1, acked: 0 })
    for (const t of tabs) host.subscribe(t.tab, 5, 'room', 0)
    await settle()
    const before = tabs.map((t) => t.posts.length)
    const stringify = vi.spyOn(JSON, 'stringify')
    try {
      socket.receive(msg('room', 1), { t: 'msg', topic: 'room', seq: 2, epoch: EPOCH, body: { n: [1, 'two'] } })
      await until(() => tabs.every((t) => t.heard.some((h) => h.startsWith('messages 5'))), 'every tab')
      // The fake socket's own encoding of the frames is a call too: only arrays of bodies count.
      const batches = stringify.mock.calls.filter(([v]) => Array.isArray(v) && v[0] === 'b1')
      expect(batches).toHaveLength(1)
    } finally {
      stringify.mockRestore()
    }
    // The bodies only: the topic and the seqs, the same for the whole run, go once beside the text.
    const text = '["b1",{"n":[1,"two"]}]'
    for (const [i, t] of tabs.entries()) {
      expect(t.heard.filter((h) => h.startsWith('messages'))).toEqual(
        i < 3 ? ['messages 5: room 1="b1" 2={"n":[1,"two"]}'] : ['messages 5: 1 2'],
      )
      expect(t.posts.slice(before[i])).toEqual([
        {
          oneWay: [
            i < 3
              ? ['bodiesJson', 5, 'room', 1, text]
              : [
                  'messages',
                  5,
                  [
                    { topic: 'room', seq: 1, body: 'b1' },
                    { topic: 'room', seq: 2, body: { n: [1, 'two'] } },
                  ],
                ],
          ],
        },
      ])
    }
  })

  it('a batch with a binary body goes as objects: JSON cannot carry bytes', async () => {
    const { tab, heard, posts } = portTab('j4', true)
    const bytes = new Uint8Array([1, 2, 3])
    tab.events.messages(6, [
      { topic: 'bin', seq: 1, body: 'text' },
      { topic: 'bin', seq: 2, body: bytes },
    ])
    await until(() => heard.length === 1, 'the batch')
    expect(posts).toEqual([
      {
        oneWay: [
          [
            'messages',
            6,
            [
              { topic: 'bin', seq: 1, body: 'text' },
              { topic: 'bin', seq: 2, body: bytes },
            ],
          ],
        ],
      },
    ])
  })
  it('a batch that is not one run of one topic goes as objects: its seqs and topics are not implied', async () => {
    const { tab, heard, posts } = portTab('j5', true)
    const gap = [
      { topic: 'a', seq: 1, body: 1 },
      { topic: 'a', seq: 3, body: 3 },
    ]
    const mixed = [
      { topic: 'a', seq: 4, body: 4 },
      { topic: 'b', seq: 5, body: 5 },
    ]
    const run = [
      { topic: 'a', seq: 6, body: 6 },
      { topic: 'a', seq: 7, body: 7 },
    ]
    tab.events.messages(7, gap)
    tab.events.messages(7, mixed)
    tab.events.messages(7, run)
    await until(() => heard.length === 3, 'the batches')
    expect(heard).toEqual(['messages 7: 1 3', 'messages 7: 4 5', 'messages 7: a 6=6 7=7'])
    expect(posts).toEqual([
      {
        oneWay: [
          ['messages', 7, gap],
          ['messages', 7, mixed],
          ['bodiesJson', 7, 'a', 6, '[6,7]'],
        ],
      },
    ])
  })
})

describe('events to a tab with an event port', () => {
  it('each delivered batch is one post on the port and the tab answers none of them; nothing goes through the proxy', async () => {
    const { host, socket, heard, posts, answers, proxied } = await openHost()
    host.subscribe(host.tabs.values().next().value as Tab, 1, 'cursor', 0, { volatile: true })
    host.subscribe(host.tabs.values().next().value as Tab, 2, 'room', 0)
    await settle()
    const before = { posts: posts.length, heard: heard.length }

    socket.receive({ t: 'vmsg', topic: 'cursor', body: { x: 1 } }, { t: 'vmsg', topic: 'cursor', body: { x: 2 } })
    await until(() => heard.length === before.heard + 1, 'the volatile batch')
    socket.receive({ t: 'vmsg', topic: 'cursor', body: { x: 3 } })
    await until(() => heard.length === before.heard + 2, 'the second volatile batch')
    socket.receive(msg('room', 1), msg('room', 2))
    await until(() => heard.length === before.heard + 3, 'the durable batch')
    await settle()

    expect(heard.slice(before.heard)).toEqual(['volatile 1: {"x":1} {"x":2}', 'volatile 1: {"x":3}', 'messages 2: 1 2'])
    expect(posts.slice(before.posts)).toEqual([
      {
        oneWay: [
          [
            'volatile',
            1,
            [
              { topic: 'cursor', body: { x: 1 } },
              { topic: 'cursor', body: { x: 2 } },
            ],
          ],
        ],
      },
      { oneWay: [['volatile', 1, [{ topic: 'cursor', body: { x: 3 } }]]] },
      {
        oneWay: [
          [
            'messages',
            2,
            [
              { topic: 'room', seq: 1, body: 'b1' },
              { topic: 'room', seq: 2, body: 'b2' },
            ],
          ],
        ],
      },
    ])
    expect(answers).toEqual([])
    // The proxy a worker of an older release would call was let go of at once, and never called.
    expect(proxied).toEqual([])
  })

  it('the events of one task are one post, in the order the worker made them', async () => {
    const { host, posts, heard, answers } = await openHost()
    const before = { posts: posts.length, heard: heard.length }
    host.tabsSent(3)
    host.tabsAcked(2)
    host.tabsAcked(3)
    await until(() => heard.length === before.heard + 3, 'three events')
    expect(heard.slice(before.heard)).toEqual(['sent 3', 'acked 2', 'acked 3'])
    expect(posts.slice(before.posts)).toEqual([
      {
        oneWay: [
          ['sent', 3],
          ['acked', 2],
          ['acked', 3],
        ],
      },
    ])
    expect(answers).toEqual([])
  })

  it('an awaited call (a conflating subscription) is answered once its handler finished, and never overtakes the events before it', async () => {
    const { host, socket, heard, posts, answers, answerWhen } = await openHost()
    const tab = host.tabs.values().next().value as Tab
    let finish = (): void => undefined
    answerWhen(new Promise<void>((r) => (finish = r)))
    host.subscribe(tab, 3, 'feed', 0, { conflate: true })
    await settle()
    const before = { posts: posts.length, heard: heard.length }
    // In one task: a one-way event queued, then the awaited call (a conflating subscription starts at the newest).
    host.tabsAcked(9)
    socket.receive({ t: 'reset', topic: 'feed', seq: 0, epoch: EPOCH, reason: 'latest' }, msg('feed', 1))
    await until(() => heard.length === before.heard + 2, 'both')
    expect(heard.slice(before.heard)).toEqual(['acked 9', 'messages 3: 1'])
    await settle()
    // Not answered while the handler runs: the conflator holds what comes meanwhile.
    expect(answers).toEqual([])
    socket.receive(msg('feed', 2), msg('feed', 3))
    await settle()
    expect(heard.slice(before.heard)).toEqual(['acked 9', 'messages 3: 1'])
    finish()
    await until(() => heard.length === before.heard + 3, 'the newest, once answered')
    expect(heard.slice(before.heard)).toEqual(['acked 9', 'messages 3: 1', 'messages 3: 3'])
    // Two Comlink calls, two answers; the one-way event before them was posted first.
    const kinds = posts
      .slice(before.posts)
      .map((p) => ('oneWay' in (p as object) ? 'oneWay' : (p as { type: string }).type))
    expect(kinds).toEqual(['oneWay', 'APPLY', 'APPLY'])
    await until(() => answers.length === 2, 'two answers')
  })

  it('in one task, one-way events made before an awaited call or a dial reach the tab before it', async () => {
    const { tab, heard, posts } = portTab('t2')
    tab.events.reset(3, { topic: 'feed', seq: 5, reason: 'retention' })
    const handled = tab.handled(3, [{ topic: 'feed', seq: 6, body: 'b6' }])
    tab.events.acked(1)
    const dialled = tab.dial(1_000).catch((e: unknown) => `dial refused: ${(e as Error).message}`)
    await handled
    expect(await dialled).toBe('dial refused: no provider')
    expect(heard).toEqual(['reset 3: 5', 'messages 3: 6', 'acked 1'])
    const kinds = posts.map((p) => ('oneWay' in (p as object) ? 'oneWay' : (p as { type: string }).type))
    expect(kinds).toEqual(['oneWay', 'APPLY', 'oneWay', 'APPLY'])
  })

  it('a gone tab: its port is closed, and what happens after is sent nowhere and blocks nothing', async () => {
    const { host, socket, posts, heard } = await openHost()
    const tab = host.tabs.values().next().value as Tab
    host.subscribe(tab, 1, 'cursor', 0, { volatile: true })
    await settle()
    host.detach(tab)
    const before = posts.length
    socket.receive({ t: 'vmsg', topic: 'cursor', body: 1 })
    host.tabsAcked(5)
    await settle()
    expect(posts.length).toBe(before)
    expect(heard).not.toContain('acked 5')
    expect(tab.gone).toBe(true)
  })
})

describe('events to a tab of an older release (no event port)', () => {
  it('are Comlink calls on its proxy, as that release expects; one it lacks is no error', async () => {
    const calls: string[] = []
    const remote = fakeTabEvents({
      acked: (upTo) => void calls.push(`acked ${upTo}`),
      messages: (sub) => {
        calls.push(`messages ${sub}`)
        return Promise.resolve()
      },
      // An older release had no `log`: Comlink rejects the call.
      log: () => Promise.reject(new TypeError('rawValue.apply is not a function')) as never,
    })
    const tab = new Tab({ id: 'old', lock: 'lock:old', dials: false }, remote as unknown as Remote<TabEvents>)
    tab.events.acked(4)
    tab.events.log([{ level: 'warn', text: 'x', at: 0 }])
    await tab.handled(2, [])
    expect(calls).toEqual(['acked 4', 'messages 2'])
  })
})

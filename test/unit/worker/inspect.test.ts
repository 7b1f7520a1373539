/**
 * `inspect()` and the log lines tabs get, from one NamespaceHost that owns a scripted socket: exact counts of tabs,
 * outbox, a topic's cursor and head, the state history, and a bad frame from the server as a tagged error line in
 * every tab and in `errors`.
 */
import type { Remote } from 'comlink'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { TabEvents, WorkerLogLine } from '../../../src/protocol/port.ts'
import { VERSION } from '../../../src/protocol/version.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

const WORKER = { id: 'w1', version: VERSION, kind: 'shared' as const }

function fakeTab(id: string) {
  const lines: WorkerLogLine[] = []
  const events = fakeTabEvents({ log: (l: WorkerLogLine[]) => void lines.push(...l) })
  return { tab: new Tab({ id, lock: `lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>), lines }
}

async function openHost(debug = false) {
  const platform = fakePlatform()
  const namespace = freshNamespace()
  const config = sessionConfig(namespace, {
    url: 'ws://server.test/',
    reconnect: { minDelay: 60_000, maxDelay: 60_000, heartbeatInterval: 60_000, heartbeatTimeout: 120_000 },
    debug,
  })
  const host = new NamespaceHost(config, 'w1', () => undefined, platform)
  await host.ready
  const tabs = [fakeTab('t0'), fakeTab('t1')]
  for (const t of tabs) host.attach(t.tab)
  await until(() => platform.sockets.all.length === 1, 'the socket')
  platform.sockets.last.open()
  platform.sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => host.state.state === 'open')
  return { host, platform, tabs, tag: `[tabwire worker ns=${namespace} v=${VERSION}]` }
}

afterEach(() => vi.restoreAllMocks())

describe('NamespaceHost.inspect()', () => {
  it('owner, tabs, a topic cursor and head, outbox while down, and a bad frame as an error line in both tabs', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    // The backoff's full jitter may draw a retry under the 250 ms this test moves the clock (one run in ~20 under
    // load: a second 'reconnecting' in the history): the draw is pinned to half the window, a 30 s wait.
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const { host, platform, tabs, tag } = await openHost()
    host.signal((tabs[1] as ReturnType<typeof fakeTab>).tab, 'hidden')
    host.subscribe((tabs[0] as ReturnType<typeof fakeTab>).tab, 1, 'room', 0)
    const socket = platform.sockets.last
    await until(() => socket.sent('sub').length === 1, 'the sub')
    socket.receive(...[1, 2, 3, 4, 5].map((seq) => ({ t: 'msg' as const, topic: 'room', seq, epoch: 'e1', body: seq })))
    await until(() => host.stats(WORKER).cursors.room === 5, 'the cursor')
    let got = await host.inspect(WORKER)
    expect(got).toMatchObject({
      worker: WORKER,
      role: 'owner',
      owner: { id: 'w1', version: VERSION },
      tabs: { count: 2, ids: ['t0', 't1'], visible: 1 },
      topics: { room: { seq: 5, head: 5, lag: 0 } },
      outbox: { count: 0, oldestAge: null, bytes: 0, complete: true, dead: 0, acked: 0 },
      errors: [],
    })
    expect(got.states.map((s) => s.state)).toEqual(['connecting', 'open'])
    expect(tabs.map((t) => t.lines)).toEqual([[], []])

    // A frame that does not decode: the socket is closed with 4400, and both tabs hear of it at error level.
    socket.onmessage?.({ data: '{"t":"nonsense"}' })
    await until(() => tabs.every((t) => t.lines.length > 0) || (platform.clock.advance(0), false), 'the log lines')
    const line = (tabs[0] as ReturnType<typeof fakeTab>).lines[0] as WorkerLogLine
    expect(line.level).toBe('error')
    expect(line.text.startsWith(`${tag} bad frame from server (`)).toBe(true)
    expect(tabs.map((t) => t.lines)).toEqual([[line], [line]])
    expect(error).toHaveBeenCalledWith(line.text)

    // Down (the next attempt is a minute away): sends wait in the outbox.
    const stored = await host.send([
      { topic: 'room', body: '"a"' },
      { topic: 'room', body: '"bc"' },
      { topic: 'room', body: new Uint8Array(7) },
    ])
    expect(stored).toEqual([1, 2, 3])
    platform.clock.advance(250)
    got = await host.inspect(WORKER)
    expect(got.outbox).toEqual({ count: 3, oldestAge: 250, bytes: 3 + 4 + 7, complete: true, dead: 0, acked: 0 })
    expect(got.errors).toEqual([line])
    expect(got.states.map((s) => s.state)).toEqual(['connecting', 'open', 'reconnecting'])
    expect(got.states[2]?.error).toMatchObject({ closeCode: 4400 })
  })

  it('without debug the tabs get no line while all is well; with debug they get state changes and frames', async () => {
    const quiet = await openHost(false)
    quiet.platform.clock.advance(0)
    expect(quiet.tabs.map((t) => t.lines.length)).toEqual([0, 0])

    vi.spyOn(console, 'debug').mockImplementation(() => undefined)
    const loud = await openHost(true)
    loud.platform.clock.advance(0)
    const texts = (loud.tabs[0] as ReturnType<typeof fakeTab>).lines.map((l) => `${l.level} ${l.text}`)
    expect(texts).toContain(`debug ${loud.tag} <- {"t":"welcome","v":1,"acked":0}`)
    expect(texts.some((t) => t.startsWith(`debug ${loud.tag} state {"state":"open"`))).toBe(true)
    expect((loud.tabs[1] as ReturnType<typeof fakeTab>).lines).toEqual(
      (loud.tabs[0] as ReturnType<typeof fakeTab>).lines,
    )
  })
})

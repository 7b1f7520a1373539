/**
 * What a tab's page tells the worker, through one NamespaceHost that owns the socket: visibility and the Page
 * Lifecycle's freeze/resume under `whenHidden: 'disconnect'`, and online/offline.
 */
import type { Remote } from 'comlink'
import { describe, expect, it } from 'vitest'
import type { BrowserSignal, StateInfo, TabEvents } from '../../../src/protocol/port.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { Tab } from '../../../src/worker/tab.ts'
import { fakePlatform, freshNamespace, until, sessionConfig } from './fakes.ts'

const GRACE = 5_000

const config = (namespace: string) =>
  sessionConfig(namespace, {
    url: 'ws://server.test/',
    reconnect: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 },
    whenHidden: 'disconnect',
    hiddenGrace: GRACE,
  })

function fakeTab(id: string) {
  const states: StateInfo[] = []
  const events = {
    state: (info: StateInfo) => void states.push(info),
    messages: () => undefined,
    reset: () => undefined,
    acked: () => undefined,
    sent: () => undefined,
    renumbered: () => undefined,
    volatile: () => undefined,
    replied: () => undefined,
    dead: () => undefined,
    queued: () => undefined,
    dial: () => Promise.reject(new Error('no provider')),
    presence: () => undefined,
    log: () => undefined,
  } satisfies TabEvents
  return { tab: new Tab({ id, lock: `lock:${id}`, dials: false }, events as unknown as Remote<TabEvents>), states }
}

async function openHost(tabs: number) {
  const platform = fakePlatform()
  const host = new NamespaceHost(config(freshNamespace()), 'w1', () => undefined, platform)
  await host.ready
  const made = Array.from({ length: tabs }, (_, i) => fakeTab(`t${i}`))
  for (const t of made) host.attach(t.tab)
  await until(() => platform.sockets.all.length === 1, 'the socket')
  platform.sockets.last.open()
  platform.sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => host.state.state === 'open')
  return { host, platform, tabs: made }
}

describe('NamespaceHost: page signals', () => {
  it.each<{ tabs: number; signals: [tab: number, signal: BrowserSignal][]; down: boolean }>([
    { tabs: 1, signals: [[0, 'hidden']], down: true },
    { tabs: 1, signals: [[0, 'freeze']], down: true },
    {
      tabs: 1,
      signals: [
        [0, 'hidden'],
        [0, 'visible'],
      ],
      down: false,
    },
    {
      tabs: 1,
      signals: [
        [0, 'freeze'],
        [0, 'resume'],
      ],
      down: false,
    },
    // Resumed but still hidden: nothing is shown.
    {
      tabs: 1,
      signals: [
        [0, 'hidden'],
        [0, 'freeze'],
        [0, 'resume'],
      ],
      down: true,
    },
    { tabs: 2, signals: [[0, 'freeze']], down: false },
    {
      tabs: 2,
      signals: [
        [0, 'freeze'],
        [1, 'hidden'],
      ],
      down: true,
    },
  ])(
    'whenHidden disconnect, $tabs tab(s), $signals: socket down after the grace = $down',
    async ({ tabs, signals, down }) => {
      const t = await openHost(tabs)
      for (const [i, s] of signals) t.host.signal(t.tabs[i]!.tab, s)
      t.platform.clock.advance(GRACE - 1)
      expect(t.platform.sockets.all[0]?.closedWith).toBeUndefined()
      t.platform.clock.advance(1)
      const socket = t.platform.sockets.all[0]!
      if (down) {
        expect(socket.closedWith).toEqual({ code: 1000, reason: 'every tab is hidden' })
        expect(t.host.state.state).toBe('offline')
      } else {
        expect(socket.closedWith).toBeUndefined()
        expect(t.host.state.state).toBe('open')
      }
    },
  )

  it('a frozen tab that resumes visible brings the socket back at once', async () => {
    const t = await openHost(1)
    t.host.signal(t.tabs[0]!.tab, 'freeze')
    t.platform.clock.advance(GRACE)
    expect(t.host.state.state).toBe('offline')
    t.host.signal(t.tabs[0]!.tab, 'resume')
    await until(() => t.platform.sockets.all.length === 2, 'the socket after resume')
  })

  it('offline holds the socket down until online, whatever the backoff', async () => {
    const t = await openHost(1)
    t.host.signal(t.tabs[0]!.tab, 'offline')
    expect(t.platform.sockets.all[0]?.closedWith).toEqual({ code: 1000, reason: 'browser offline' })
    expect(t.tabs[0]!.states.at(-1)?.state).toBe('offline')
    t.host.signal(t.tabs[0]!.tab, 'online')
    await until(() => t.platform.sockets.all.length === 2, 'the socket after online')
  })

  // WebKit delivered a tab's signal after the tab's lock grant had detached it and ended the host (seen in the
  // browser-mode visibility test): the host's bus was closed, and the signal threw from inside the worker.
  it.each<BrowserSignal>(['hidden', 'visible', 'freeze', 'resume', 'offline', 'online'])(
    'a %s signal from a tab that is gone is ignored, also once the host has ended',
    async (signal) => {
      const t = await openHost(1)
      const { tab } = t.tabs[0]!
      t.host.detach(tab)
      expect(t.host.ended).toBe(true)
      expect(() => t.host.signal(tab, signal)).not.toThrow()
      expect([tab.visible, tab.frozen]).toEqual([true, false])
    },
  )

  it('a tab detached after the storage failed to open (the attach is refused) detaches cleanly', async () => {
    const platform = {
      ...fakePlatform(),
      database: () => ({ get: () => Promise.reject(new Error('disk gone')), destroy: async () => undefined }),
    }
    const host = new NamespaceHost(config(freshNamespace()), 'w1', () => undefined, platform)
    const { tab } = fakeTab('t0')
    host.attach(tab)
    await expect(host.ready).rejects.toThrow('cannot read the outbox: Error: disk gone')
    expect(() => host.detach(tab)).not.toThrow()
    expect(tab.gone).toBe(true)
  })
})

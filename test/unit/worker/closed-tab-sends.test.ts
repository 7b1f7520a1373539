/**
 * A tab's sends still on their way when it closes. The worker learns of the close from the tab's lock, which the
 * browser grants before it hands over the last messages the tab posted (seen in Firefox: sends read after the grant).
 * Those sends were made while the tab was open, so they are stored and sent like any other, without a call record
 * (no retry can come from a tab that is gone). A tab that let go of its port itself (`detach`) posts nothing after
 * it. Real PortApi and NamespaceHost on fake locks, fake IndexedDB and a scripted socket.
 */
import type { Remote } from 'comlink'
import { openDB } from 'idb'
import { afterEach, expect, it, vi } from 'vitest'
import type { OutgoingMessage, SendCall, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { dbName } from '../../../src/worker/db.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { PortApi } from '../../../src/worker/port-api.ts'
import { fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

afterEach(() => {
  vi.unstubAllGlobals()
})

const msg = (n: number): OutgoingMessage => ({ topic: 't', body: JSON.stringify({ n }) })
const call = (n: number): SendCall => ({ n, settledBelow: n, retry: false })

/** An owner with two tabs attached through real ports; `close(tab)` grants that tab's lock, as its closing does. */
async function twoTabs() {
  const namespace = freshNamespace()
  const config = sessionConfig(namespace, { url: 'ws://server.test/' })
  const platform = fakePlatform()
  void platform.locks.request(workerLock('w'), {}, () => new Promise(() => undefined))
  const host = new NamespaceHost(config, 'w', () => undefined, platform)
  await host.ready
  const grants = new Map<string, () => unknown>()
  vi.stubGlobal('navigator', {
    locks: {
      request: (name: string, granted: () => unknown) => {
        grants.set(name, granted)
        return new Promise(() => undefined)
      },
    },
  })
  const attach = async (tab: string) => {
    const port = new PortApi({ worker: { id: 'w', version: 'test', kind: 'shared' }, host: () => host })
    await port.attach(config, { id: tab, lock: `lock:${tab}`, dials: false }, fakeTabEvents() as Remote<TabEvents>)
    return port
  }
  const closing = await attach('closing')
  await attach('keeper')
  await until(() => platform.sockets.all.length === 1, 'the socket')
  const socket = platform.sockets.last
  socket.open()
  socket.receive({ t: 'welcome', v: 1, acked: 0 })
  await until(() => host.state.state === 'open', 'open')
  const close = (tab: string) => void grants.get(`lock:${tab}`)?.()
  /** The call records on disk, by tab. */
  const recordTabs = async () => {
    const db = await openDB(dbName(namespace))
    const keys = (await db.getAllKeys('meta', IDBKeyRange.bound(['send'], ['send', []]))) as [string, string][]
    db.close()
    return keys.map(([, tab]) => tab)
  }
  return { closing, socket, close, recordTabs }
}

it('a send read after its tab closed is stored and sent once, in order, with no call record left for the tab', async () => {
  const { closing, socket, close, recordTabs } = await twoTabs()
  expect(await closing.send([msg(1)], call(1))).toEqual([1])
  expect(await recordTabs()).toEqual(['closing'])

  close('closing')
  expect(await closing.send([msg(2)], call(2))).toEqual([2])
  expect(await closing.send([msg(3), msg(4)], call(3))).toEqual([3, 4])

  await until(() => socket.sent('pub').length === 4, 'four pubs')
  expect(socket.sent('pub').map((p) => [p.id, p.body])).toEqual([
    [1, { n: 1 }],
    [2, { n: 2 }],
    [3, { n: 3 }],
    [4, { n: 4 }],
  ])
  // The close forgot the tab's calls; the late ones wrote none back.
  expect(await recordTabs()).toEqual([])
})

it('after the tab let go of its port itself, a send on it is refused and nothing is stored', async () => {
  const { closing, socket } = await twoTabs()
  await closing.detach()
  await expect(closing.send([msg(1)], call(1))).rejects.toEqual({
    name: 'TabwireError',
    code: 'closed',
    message: 'this tab is not attached to a session (closed, purged or never attached)',
  })
  await new Promise((r) => setTimeout(r, 20))
  expect(socket.sent('pub')).toEqual([])
})

/**
 * A tab's sends still on their way when the worker hears that the tab closed. The worker learns of it from the tab's
 * lock, which the browser may grant before it hands over the last messages the tab posted (seen in Firefox: sends read
 * after the grant). Those are refused, not stored: a page that comes back from the back/forward cache under the same
 * tab id (WebKit frees a cached page's locks) makes its unanswered calls again, and a call stored without its record
 * would then be stored twice. The calls the worker stored before the grant keep their record, and are answered.
 * Real PortApi and NamespaceHost on fake locks, fake IndexedDB and a scripted socket.
 */
import type { Remote } from 'comlink'
import { afterEach, expect, it, vi } from 'vitest'
import type { OutgoingMessage, SendCall, TabEvents } from '../../../src/protocol/port.ts'
import { workerLock } from '../../../src/worker/bus.ts'
import { NamespaceHost } from '../../../src/worker/host.ts'
import { PortApi } from '../../../src/worker/port-api.ts'
import { fakePlatform, fakeTabEvents, freshNamespace, sessionConfig, until } from './fakes.ts'

afterEach(() => {
  vi.unstubAllGlobals()
})

const msg = (n: number): OutgoingMessage => ({ topic: 't', body: JSON.stringify({ n }) })
const call = (n: number): SendCall => ({ n, settledBelow: n, retry: false })
const notAttached = {
  name: 'TabwireError',
  code: 'closed',
  message: 'this tab is not attached to a session (closed, purged or never attached)',
}

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
  return { closing, attach, socket, close }
}

it('a send read after its tab’s lock was granted is refused; the same call made again by the page restored under that tab id is stored once', async () => {
  const { closing, attach, socket, close } = await twoTabs()
  expect(await closing.send([msg(1)], call(1))).toEqual([1])

  close('closing')
  await expect(closing.send([msg(2)], call(2))).rejects.toEqual(notAttached)
  const restored = await attach('closing')
  expect(await restored.send([msg(2)], { ...call(2), retry: true })).toEqual([2])

  await until(() => socket.sent('pub').length === 2, 'two pubs')
  await new Promise((r) => setTimeout(r, 20))
  expect(socket.sent('pub').map((p) => [p.id, p.body])).toEqual([
    [1, { n: 1 }],
    [2, { n: 2 }],
  ])
})

it('a call stored just before its tab’s lock was granted, made again by the page restored under that tab id, is answered, not stored twice', async () => {
  const { closing, attach, socket, close } = await twoTabs()
  expect(await closing.send([msg(1)], call(1))).toEqual([1])
  // The page enters the back/forward cache before call 1's answer reaches it; WebKit lets go of its locks.
  close('closing')
  const restored = await attach('closing')
  expect(await restored.send([msg(1)], { ...call(1), retry: true })).toEqual([1])
  expect(await restored.send([msg(2)], call(2))).toEqual([2])
  await until(() => socket.sent('pub').length === 2, 'two pubs')
  await new Promise((r) => setTimeout(r, 20))
  expect(socket.sent('pub').map((p) => p.id)).toEqual([1, 2])
})

it('after the tab let go of its port itself, a send on it is refused and nothing is stored', async () => {
  const { closing, socket } = await twoTabs()
  await closing.detach()
  await expect(closing.send([msg(1)], call(1))).rejects.toEqual(notAttached)
  await new Promise((r) => setTimeout(r, 20))
  expect(socket.sent('pub')).toEqual([])
})

it('the restored page’s new call committed before its retries leaves the calls stored before the grant answerable', async () => {
  const { closing, attach, socket, close } = await twoTabs()
  expect(await closing.send([msg(1)], call(1))).toEqual([1])
  expect(await closing.send([msg(2)], { ...call(2), settledBelow: 1 })).toEqual([2])
  // Both answers are lost to the back/forward cache; WebKit lets go of the page's locks.
  close('closing')
  const restored = await attach('closing')
  // The page's next call overtakes its retries (all wait for the same attach): calls 1 and 2 are still open.
  expect(await restored.send([msg(3)], { ...call(3), settledBelow: 1 })).toEqual([3])
  expect(await restored.send([msg(1)], { ...call(1), retry: true })).toEqual([1])
  expect(await restored.send([msg(2)], { ...call(2), settledBelow: 1, retry: true })).toEqual([2])
  await until(() => socket.sent('pub').length === 3, 'three pubs')
  await new Promise((r) => setTimeout(r, 20))
  expect(socket.sent('pub').map((p) => [p.id, p.body])).toEqual([
    [1, { n: 1 }],
    [2, { n: 2 }],
    [3, { n: 3 }],
  ])
})

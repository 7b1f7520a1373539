/**
 * A subscribe (or unsubscribe) that reaches the worker after the socket opened and its `hello` went out, but before
 * the server's `welcome`: the `hello` did not carry it, and the socket is not open for a `sub` of its own yet. The
 * worker must send it once the `welcome` is in, or the server never learns of the topic and the subscriber, whose
 * `subscribe()` already resolved, gets nothing (what `binary.test.ts` met under load: a subscribe right after
 * `connect()`). A scriptable server (test/support/evil-server.ts) holds the `welcome` back so the window is certain.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import type { EvilConnectionLog } from './evil-context.d.ts'
import { openWire, poll } from './fixture.ts'

const evils: string[] = []

afterEach(async () => {
  for (const id of evils.splice(0)) await commands.evilStop(id)
})

/** Frames of one connection the client sent after its hello, without heartbeats. */
const control = (log: EvilConnectionLog[], index: number) => (log[index]?.frames ?? []).filter((f) => f.t !== 'ping')

it('subscribes after the welcome what was followed after the hello, unsubscribes what was dropped', async () => {
  const { id, port } = await commands.evilStart({ silent: true })
  evils.push(id)
  const wire = openWire({ url: `ws://127.0.0.1:${port}`, namespace: `early-sub-${crypto.randomUUID()}` })
  const welcome = () => commands.evilSend(id, { frames: [{ t: 'welcome', v: 1, acked: 0 }] })

  // Connection 0: the hello is out, the welcome held back. A subscribe now resolves, but cannot be sent yet.
  await expect.poll(async () => (await commands.evilLog(id))[0]?.hello, poll).toBeDefined()
  const got: Message[] = []
  const stopA = await wire.subscribe('a', (m) => got.push(m))
  expect((await commands.evilLog(id))[0]?.hello?.subs).toEqual([])
  expect(await welcome()).toBe(true)
  await expect.poll(() => wire.state, poll).toBe('open')
  await expect
    .poll(async () => control(await commands.evilLog(id), 0), poll)
    .toEqual([{ t: 'sub', topic: 'a', after: 0 }])
  // And the topic works: what the server sends for it reaches the subscriber.
  expect(await commands.evilSend(id, { frames: [{ t: 'msg', topic: 'a', seq: 1, epoch: 'e1', body: 'one' }] })).toBe(
    true,
  )
  await expect.poll(() => got, poll).toEqual([{ topic: 'a', seq: 1, body: 'one' }])

  // Connection 1: its hello carries `a`; before its welcome, `a` is dropped and `b` followed.
  expect(await commands.evilClose(id, 1012, 'restart')).toBe(true)
  await expect
    .poll(async () => (await commands.evilLog(id))[1]?.hello?.subs, poll)
    .toEqual([{ topic: 'a', after: 1, epoch: 'e1' }])
  await stopA()
  await wire.subscribe('b', () => {})
  expect(await welcome()).toBe(true)
  await expect.poll(() => wire.state, poll).toBe('open')
  await expect
    .poll(async () => control(await commands.evilLog(id), 1), poll)
    .toEqual([
      { t: 'unsub', topic: 'a' },
      { t: 'sub', topic: 'b', after: 0 },
    ])
})

/**
 * `wire.outbox.list()`: the namespace's queued messages, every tab's, as each tab sees them — id, topic, stored size,
 * when stored, and whether they are on the current socket (`sent`) or waiting for one (`queued`). Real SharedWorker,
 * IndexedDB, the real server (stopped to hold messages back) and the fake server (which never acks, to hold them
 * `sent`).
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { ConnectOptions, Wire } from '../../src/client/index.ts'
import { openWire as open, poll } from './fixture.ts'

const evils: string[] = []
let serverStopped = false

afterEach(async () => {
  for (const id of evils.splice(0)) await commands.evilStop(id)
  if (serverStopped) {
    await commands.serverStart()
    serverStopped = false
  }
})

function openWire(namespace: string, options: Partial<ConnectOptions> = {}): Wire {
  return open({ namespace, ...options })
}

it("lists every tab's queued messages, oldest first, with their stored size and time; limit cuts the list; bodies, topic and after select; acked ones leave it", async () => {
  const namespace = `outbox-list-${crypto.randomUUID()}`
  const [chat, bytes] = [`chat:${crypto.randomUUID()}`, `bytes:${crypto.randomUUID()}`]
  const a = openWire(namespace)
  const b = openWire(namespace)
  await expect.poll(() => [a.state, b.state], poll).toEqual(['open', 'open'])
  await commands.serverStop()
  serverStopped = true
  await expect.poll(() => [a.state, b.state], poll).toEqual(['reconnecting', 'reconnecting'])

  const before = Date.now()
  const sends = [
    await a.send(chat, { text: 'from A' }), // {"text":"from A"}: 17 bytes
    await b.send(bytes, new Uint8Array(5)),
    await a.send(chat, 'é'), // "é": 4 bytes of UTF-8
  ]
  const after = Date.now()
  expect(sends.map((s) => s.id)).toEqual([1, 2, 3])

  const expected = [
    { id: 1, topic: chat, bytes: 17, queuedAt: expect.any(Number), state: 'queued' },
    { id: 2, topic: bytes, bytes: 5, queuedAt: expect.any(Number), state: 'queued' },
    { id: 3, topic: chat, bytes: 4, queuedAt: expect.any(Number), state: 'queued' },
  ]
  const fromA = await a.outbox.list()
  expect(fromA).toEqual(expected)
  expect(await b.outbox.list()).toEqual(fromA)
  for (const e of fromA)
    expect(e.queuedAt! >= before && e.queuedAt! <= after, `queuedAt ${e.queuedAt} in [${before}, ${after}]`).toBe(true)
  expect(await b.outbox.list({ limit: 2 })).toEqual(fromA.slice(0, 2))
  expect(await a.pending()).toBe(3)

  for (const limit of [0, 10_001, 1.5, '2'] as unknown[])
    await expect(a.outbox.list({ limit: limit as number })).rejects.toMatchObject({
      name: 'TabwireError',
      code: 'invalid-argument',
      message: `limit must be an integer from 1 to 10000, got ${typeof limit === 'string' ? `the string "${limit}"` : `the number ${String(limit)}`}`,
    })

  // Bodies as sent (JSON parsed, bytes as a Uint8Array), one topic's, after an id: what a page reads back offline.
  const withBodies = await b.outbox.list({ bodies: true })
  expect(withBodies.map((e) => [e.id, e.body])).toEqual([
    [1, { text: 'from A' }],
    [2, new Uint8Array(5)],
    [3, 'é'],
  ])
  expect(withBodies[1]?.body).toBeInstanceOf(Uint8Array)
  expect((await a.outbox.list({ topic: chat, bodies: true })).map((e) => [e.id, e.body])).toEqual([
    [1, { text: 'from A' }],
    [3, 'é'],
  ])
  expect((await a.outbox.list({ topic: chat, after: 1 })).map((e) => [e.id, 'body' in e])).toEqual([[3, false]])
  expect(await a.outbox.list({ after: 3 })).toEqual([])
  for (const bad of [{ after: -1 }, { after: 1.5 }, { topic: 5 }, { bodies: 'yes' }] as unknown[])
    await expect(a.outbox.list(bad as { after: number })).rejects.toMatchObject({
      code: 'invalid-argument',
      message: 'list: after must be an integer ≥ 0, topic a string, bodies a boolean',
    })

  await commands.serverStart()
  serverStopped = false
  await Promise.all(sends.map((s) => s.acked))
  expect(await a.outbox.list()).toEqual([])
  expect(await b.outbox.list()).toEqual([])
  expect(await b.outbox.list({ bodies: true })).toEqual([])
})

it('a message written to the socket and not yet acked is sent; when that socket goes, it is queued again', async () => {
  const { id, port } = await commands.evilStart({ autoAck: false })
  evils.push(id)
  const wire = openWire(`outbox-sent-${crypto.randomUUID()}`, { url: `ws://127.0.0.1:${port}` })
  await expect.poll(() => wire.state, poll).toBe('open')
  const topic = `sent:${crypto.randomUUID()}`
  const receipt = await wire.send(topic, { n: 1 })
  await receipt.sent
  // The fake server has it and never acks: on the socket, not on the server.
  await expect
    .poll(async () => (await commands.evilLog(id))[0]?.frames.filter((f) => f.t === 'pub').length, poll)
    .toBe(1)
  expect(await wire.outbox.list()).toEqual([{ id: 1, topic, bytes: 7, queuedAt: expect.any(Number), state: 'sent' }])

  await commands.evilStop(id)
  evils.splice(evils.indexOf(id), 1)
  await expect.poll(() => wire.state, poll).toBe('reconnecting')
  expect(await wire.outbox.list()).toEqual([{ id: 1, topic, bytes: 7, queuedAt: expect.any(Number), state: 'queued' }])
})

it("onChange tells every tab when the queue changes (another tab's send while offline, then its ack), once per task; off() stops it", async () => {
  const namespace = `outbox-change-${crypto.randomUUID()}`
  const topic = `chat:${crypto.randomUUID()}`
  const a = openWire(namespace)
  const b = openWire(namespace)
  await expect.poll(() => [a.state, b.state], poll).toEqual(['open', 'open'])
  await commands.serverStop()
  serverStopped = true
  await expect.poll(() => [a.state, b.state], poll).toEqual(['reconnecting', 'reconnecting'])

  // What B's display would show on each call: the queue as list() has it then.
  const seen: number[][] = []
  let calls = 0
  const off = b.outbox.onChange(() => {
    calls++
    void b.outbox.list().then((l) => seen.push(l.map((e) => e.id)))
  })
  const sends = await Promise.all(Array.from({ length: 100 }, (_, n) => a.send(topic, { n })))
  await expect.poll(() => seen.some((ids) => ids.length === 100), poll).toBe(true)
  // One commit of 100 messages is one change, not 100.
  expect(calls).toBe(1)

  await commands.serverStart()
  serverStopped = false
  await Promise.all(sends.map((s) => s.acked))
  await expect.poll(() => seen.at(-1), poll).toEqual([])
  // Writes and acks of 100 messages arrive as a few events: far fewer calls than messages.
  expect(calls).toBeGreaterThan(1)
  expect(calls).toBeLessThan(20)

  // After off(), B's listener hears nothing, while a listener still on (the control) hears the next change.
  off()
  const before = calls
  let control = 0
  a.outbox.onChange(() => control++)
  const late = await a.send(topic, { n: 'late' })
  await late.acked
  await expect.poll(() => control, poll).toBeGreaterThan(0)
  expect(calls).toBe(before)
  expect(() => b.outbox.onChange('not a function' as never)).toThrow(
    expect.objectContaining({ code: 'invalid-argument' }),
  )
})

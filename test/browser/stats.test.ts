/** `wire.stats()` reports what the worker serving this tab knows, read from a real SharedWorker. */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { VERSION } from '../../src/client/index.ts'
import { openWire as open, poll, topicOf } from './fixture.ts'

const openWire = (namespace: string) => open({ namespace })

it('reports state, outbox, cursors, presence, tabs, ownership and the worker version', async () => {
  const namespace = `stats-${crypto.randomUUID()}`
  const topic = topicOf('stats')
  const a = openWire(namespace)
  const b = openWire(namespace)
  await expect.poll(() => a.state, poll).toBe('open')
  const seen: number[] = []
  await a.subscribe(topic, (m) => seen.push(m.seq))
  await commands.serverPublish(topic, { n: 1 })
  await commands.serverPublish(topic, { n: 2 })
  await expect.poll(() => seen, poll).toEqual([1, 2])
  await (await a.send(topic, { n: 3 })).acked
  await expect.poll(() => seen, poll).toEqual([1, 2, 3])

  const stats = await a.stats()
  expect(stats).toMatchObject({
    state: { state: 'open' },
    pending: 0,
    acked: 1,
    cursors: { [topic]: 3 },
    tabs: 2,
    owner: true,
    worker: { version: VERSION, kind: 'shared' },
    subscriptions: [{ topic, last: 3 }],
  })
  // Both tabs are served by the same worker: one socket.
  expect((await b.stats()).worker.id).toBe(stats.worker.id)
  // Presence: two tabs of the namespace joined are one member, as the server's list says.
  expect(stats.presence).toEqual({})
  const room = topicOf('stats-presence')
  const pa = await a.presence(room, { state: 'a' })
  const pb = await b.presence(room, { state: 'b' })
  await expect.poll(async () => (await b.stats()).presence, poll).toEqual({ [room]: { tabs: 2, members: 1 } })
  await pa.leave()
  await pb.leave()
  await expect.poll(async () => (await a.stats()).presence, poll).toEqual({})

  await commands.serverStop()
  try {
    await expect.poll(() => a.state, poll).toBe('reconnecting')
    await a.send(topic, { n: 4 })
    await b.send(topic, { n: 5 })
    expect((await b.stats()).pending).toBe(2)
  } finally {
    await commands.serverStart()
  }
})

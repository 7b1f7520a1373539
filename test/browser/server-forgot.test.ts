/**
 * A server that lost its state (an in-memory store restarted) answers `welcome.acked` below the oldest message the
 * client still queues; resending those ids would be refused as out of order forever. The worker renumbers its queue
 * after the server's counter instead: every queued message arrives once, in order, and its `acked` resolves.
 */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { openWire, poll as fastPoll } from './fixture.ts'

const poll = { ...fastPoll, timeout: 20_000 }

it('renumbers the queue after a server that forgot this client, delivering each queued message once', async () => {
  const wire = openWire({ namespace: `forgot-${crypto.randomUUID()}` })
  const tag = crypto.randomUUID()
  const topic = `forgot:${tag}`
  const early = []
  for (let n = 1; n <= 4; n++) early.push(await wire.send(topic, { n, tag }))
  await Promise.all(early.map((r) => r.acked))
  expect(early.map((r) => r.id)).toEqual([1, 2, 3, 4])

  await commands.serverStop()
  await expect.poll(() => wire.state, poll).toBe('reconnecting')
  const queued = []
  for (let n = 5; n <= 7; n++) queued.push(await wire.send(topic, { n, tag }))
  expect(queued.map((r) => r.id)).toEqual([5, 6, 7])
  expect(await wire.pending()).toBe(3)

  await commands.serverForget()
  await Promise.all(queued.map((r) => r.acked))
  expect(await wire.pending()).toBe(0)
  const log = await commands.serverRead(topic)
  expect(log.msgs.map((m) => m.body)).toEqual([5, 6, 7].map((n) => ({ n, tag })))
  // New sends follow the renumbered queue.
  const next = await wire.send(topic, { n: 8, tag })
  expect(next.id).toBe(4)
  await next.acked
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual([5, 6, 7, 8].map((n) => ({ n, tag })))
})

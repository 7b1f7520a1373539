/**
 * Issue 10's "wrong data" case against the real server: a tab subscribes while the worker is offline, across a
 * server restart that lost its memory store (a new epoch). The catch-up's fetch is answered from the new log; before
 * the fix the tab got the new epoch's messages as history, then the old epoch's, then the new ones again. Now every
 * message it sees belongs to the epoch it was told about by a reset, and none comes twice.
 */
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { ResetNotice } from '../../src/client/index.ts'
import { openWire, poll as fastPoll, topicOf } from './fixture.ts'

const poll = { ...fastPoll, timeout: 20_000 }

type Seen = { reset: ResetNotice } | { seq: number; body: unknown }

it('a tab subscribing offline across a restart that changed the epoch sees one epoch at a time, each message once', async () => {
  const namespace = `epoch-catch-up-${crypto.randomUUID()}`
  const wire = openWire({
    namespace,
    worker: () =>
      new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: namespace }),
    // The worker keeps the last 3 messages: a tab starting from 0 needs the server for the rest.
    inboxRetention: 3,
  })
  await expect.poll(() => wire.state, poll).toBe('open')
  const topic = topicOf('epoch-catch-up')
  const watch = async () => {
    const seen: Seen[] = []
    await wire.subscribe(topic, (m) => seen.push({ seq: m.seq, body: m.body }), {
      onReset: (reset) => seen.push({ reset }),
    })
    return seen
  }
  const first = await watch()
  for (let n = 1; n <= 6; n++) await commands.serverPublish(topic, `old-${n}`)
  await expect.poll(() => first.length, poll).toBe(6)

  window.dispatchEvent(new Event('offline'))
  await expect.poll(() => wire.state, poll).toBe('offline')
  await commands.serverForget()
  for (let n = 1; n <= 2; n++) await commands.serverPublish(topic, `new-${n}`)
  // The second tab's catch-up: 4–6 are in the worker's log, 1–3 must be fetched once the socket is back.
  const second = await watch()
  window.dispatchEvent(new Event('online'))
  await expect.poll(() => second.length, poll).toBe(7)

  const old = (from: number, to: number): Seen[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, body: `old-${from + i}` }))
  const renewed: Seen[] = [
    { reset: { topic, seq: 0, reason: 'epoch' } },
    { seq: 1, body: 'new-1' },
    { seq: 2, body: 'new-2' },
  ]
  expect(second).toEqual([{ reset: { topic, seq: 3, reason: 'epoch' } }, ...old(4, 6), ...renewed])
  await expect.poll(() => first.length, poll).toBe(9)
  expect(first).toEqual([...old(1, 6), ...renewed])
  // Live after that, for both.
  await commands.serverPublish(topic, 'new-3')
  await expect.poll(() => second.at(-1), poll).toEqual({ seq: 3, body: 'new-3' })
  await expect.poll(() => first.at(-1), poll).toEqual({ seq: 3, body: 'new-3' })
  expect(second).toHaveLength(8)
  expect(first).toHaveLength(10)
})

/**
 * A send is posted to the worker in the very microtask that hands its task's batch over, not after an await (real
 * SharedWorker, real server). The send batcher relies on it: a call the browser stopped half-way (Firefox stops a
 * closing page's script, and still runs its next tasks) is told by its hand-over not having ended, and the next
 * calls are refused rather than reaching the server without it (`e2e/send-cut-short`).
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { openWire, poll, topicOf } from './fixture.ts'

const originalPost = MessagePort.prototype.postMessage

afterEach(() => {
  MessagePort.prototype.postMessage = originalPost
})

/** From now on, the `send` calls this page posts to its worker (Comlink's `APPLY` of `send`): their call numbers. */
function countSendPosts(): number[] {
  const posted: number[] = []
  MessagePort.prototype.postMessage = function (this: MessagePort, message: unknown, ...rest: unknown[]) {
    const m = message as { type?: unknown; path?: unknown; argumentList?: { value?: { n?: number } }[] } | null
    if (m?.type === 'APPLY' && Array.isArray(m.path) && m.path[0] === 'send')
      posted.push(m.argumentList?.[1]?.value?.n ?? -1)
    return (originalPost as (this: MessagePort, ...a: unknown[]) => void).call(this, message, ...rest)
  } as typeof MessagePort.prototype.postMessage
  return posted
}

it('each send is posted to the worker in the microtask that hands it over, before any later turn runs', async () => {
  const topic = topicOf('send-order')
  const wire = openWire()
  await expect.poll(() => wire.state, poll).toBe('open')
  await (await wire.send(topic, 'attached')).acked
  const posted = countSendPosts()

  // Each send in a task of its own, as a user's clicks are; after each, a microtask queued behind the batch's own
  // hand-over looks at what was posted by then.
  const seen: number[][] = []
  const receipts = []
  for (let i = 1; i <= 5; i++) {
    receipts.push(wire.send(topic, { i }))
    queueMicrotask(() => seen.push([...posted]))
    await new Promise((r) => setTimeout(r, 0))
  }
  expect((await Promise.all(receipts)).map((r) => r.id)).toEqual([2, 3, 4, 5, 6])
  // Call 1 was the warm-up: calls 2 to 5+1 each posted within their own turn, in order, once.
  expect(seen).toEqual([[2], [2, 3], [2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5, 6]])
  expect(posted).toEqual([2, 3, 4, 5, 6])
})

it('close() right after sends were handed over: every one of them is stored, each once, in order', async () => {
  const topic = topicOf('close-after-hand-over')
  const wire = openWire()
  await expect.poll(() => wire.state, poll).toBe('open')
  await (await wire.send(topic, 0)).acked
  const posted = countSendPosts()
  // Twenty calls, each handed over in its own microtask, all posted before close() and none answered yet. The worker
  // takes the grant of the tab's lock for the tab's end: were the lock let go at once, the browser could grant it
  // before the worker read the port's last calls, and those would be refused.
  const sends = []
  for (let n = 1; n <= 20; n++) {
    sends.push(wire.send(topic, n))
    await Promise.resolve()
  }
  expect(posted).toHaveLength(20)
  wire.close()
  const outcomes = await Promise.all(
    sends.map((p) =>
      p.then(
        (r) => r.id,
        (e: { code?: string }) => e.code,
      ),
    ),
  )
  expect(outcomes).toEqual(Array.from({ length: 20 }, (_, i) => i + 2))
  await expect
    .poll(async () => (await commands.serverRead(topic)).msgs.map((m) => m.body), poll)
    .toEqual(Array.from({ length: 21 }, (_, i) => i))
})

/**
 * The call records of a follower worker (dedicated mode, or a second app version after a deploy) on the browser's
 * own IndexedDB: two `OutboxStore`s and writers on one database play the owner and the follower, as their workers
 * would, and a third plays the worker that starts after the follower died. The owner renumbers the queue (its server
 * lost its counter) and the follower commits before it hears of it: the follower must not write its older call's old
 * id back over the moved one, and the next worker answers that call's retry with the moved id.
 */
import { expect, it } from 'vitest'
import { DbHandle } from '../../src/worker/db.ts'
import { followRenumber, renumberAfter } from '../../src/worker/outbox-renumber.ts'
import { OutboxStore, OutboxWriter, type TabCall } from '../../src/worker/outbox-store.ts'
import { realClock } from '../../src/worker/platform.ts'

const msg = (n: number) => ({ topic: 't', body: JSON.stringify(n) })
const call = (n: number, settledBelow: number, retry = false): TabCall => ({ tab: 'tab-f', n, settledBelow, retry })

async function worker(namespace: string) {
  const db = new DbHandle(namespace)
  const outbox = await OutboxStore.load(db, realClock)
  return { db, outbox, writer: new OutboxWriter(outbox, () => undefined) }
}

it("a follower that commits between its owner's renumbering and the news of it keeps its older call's moved id", async () => {
  const namespace = `follower-calls-${crypto.randomUUID()}`
  const owner = await worker(namespace)
  const follower = await worker(namespace)
  expect(await follower.writer.send([msg(1), msg(2)], call(1, 1))).toEqual([1, 2])
  expect(await follower.writer.send([msg(3)], call(2, 1))).toEqual([3])
  // The server acked id 1, then lost its counter: the owner moves ids 2 and 3 down to 1 and 2.
  owner.outbox.ackFromServer(1)
  await owner.outbox.syncLast()
  owner.outbox.counters.ack(1)
  expect(await renumberAfter(owner.outbox, 0)).toEqual({ from: 2, delta: 1 })
  expect(await follower.writer.send([msg(4)], call(3, 2))).toEqual([3])
  await followRenumber(follower.outbox, 2, 1)
  expect(await follower.writer.send([msg(5)], call(4, 2))).toEqual([4])
  const next = await worker(namespace)
  expect(await next.writer.send([msg(3)], call(2, 2, true))).toEqual([2])
  expect(await next.writer.send([msg(4)], call(3, 2, true))).toEqual([3])
  expect(await next.writer.send([msg(5)], call(4, 2, true))).toEqual([4])
  // Nothing was stored twice: the queue holds ids 1 to 4 once each, in send order.
  const batches = await (await next.db.get()).getAll('outbox')
  expect(batches.flatMap((b) => b.bodies.map((body, i) => [b.first + i, body]))).toEqual([
    [1, '2'],
    [2, '3'],
    [3, '4'],
    [4, '5'],
  ])
  for (const w of [owner, follower, next]) (await w.db.get()).close()
})

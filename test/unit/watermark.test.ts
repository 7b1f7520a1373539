import { expect, it } from 'vitest'
import { Watermark } from '../../src/client/watermark.ts'

async function settled(w: Watermark, ids: number[]): Promise<number[]> {
  const done: number[] = []
  for (const id of ids) void w.wait(id).then(() => done.push(id))
  await new Promise((r) => setTimeout(r, 0))
  return done
}

it('settles exactly the waiters at or below the mark, in id order, and ignores a lower mark', async () => {
  const w = new Watermark()
  const done: number[] = []
  for (const id of [1, 2, 3, 4]) void w.wait(id).then(() => done.push(id))
  w.mark(2)
  await Promise.resolve()
  expect(done).toEqual([1, 2])
  w.mark(1)
  await Promise.resolve()
  expect(done).toEqual([1, 2])
  w.mark(4)
  await Promise.resolve()
  expect(done).toEqual([1, 2, 3, 4])
  // Already below the mark: resolves at once.
  expect(await settled(w, [3])).toEqual([3])
})

it('after a renumber, waiters follow their new ids and a lower mark from the new server counts', async () => {
  const w = new Watermark()
  w.mark(4)
  const done: number[] = []
  for (const id of [5, 6, 7]) void w.wait(id).then(() => done.push(id))
  w.shift(5, 4) // 5, 6, 7 are now 1, 2, 3
  w.mark(2)
  await Promise.resolve()
  expect(done).toEqual([5, 6])
  w.mark(3)
  await Promise.resolve()
  expect(done).toEqual([5, 6, 7])
})

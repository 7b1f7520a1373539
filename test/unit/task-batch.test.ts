import { describe, expect, it } from 'vitest'
import { TaskBatch } from '../../src/protocol/task-batch.ts'

const checkpoint = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('TaskBatch', () => {
  it("hands over one task's items once, at its microtask checkpoint, and the next task's apart", async () => {
    const handed: number[][] = []
    const batch = new TaskBatch<number>((items) => handed.push(items))
    batch.push(1)
    batch.push(2)
    batch.push(3)
    expect(handed).toEqual([])
    await checkpoint()
    batch.push(4)
    await checkpoint()
    expect(handed).toEqual([[1, 2, 3], [4]])
  })

  it('flush() hands over at once what came before it; what comes after goes at the checkpoint, in order', async () => {
    const handed: string[][] = []
    const batch = new TaskBatch<string>((items) => handed.push(items))
    batch.push('a')
    batch.flush()
    batch.flush()
    expect(handed).toEqual([['a']])
    batch.push('b')
    batch.push('c')
    await checkpoint()
    expect(handed).toEqual([['a'], ['b', 'c']])
  })

  it('take() empties the queue without handing it over', async () => {
    const handed: number[][] = []
    const batch = new TaskBatch<number>((items) => handed.push(items))
    batch.push(1)
    batch.push(2)
    expect(batch.take()).toEqual([1, 2])
    await checkpoint()
    expect(handed).toEqual([])
  })
})

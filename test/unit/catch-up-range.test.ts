import { describe, expect, it } from 'vitest'
import { usableRange } from '../../src/worker/catch-up-range.ts'

const m = (seq: number, epoch = 'e1') => ({ seq, epoch, body: `${epoch}-${seq}` })

describe('usableRange (what a catch-up may deliver from a fetched range)', () => {
  it('keeps a contiguous run under the cursor epoch, inside the window', () => {
    expect(usableRange([m(1), m(2), m(3)], 'e1', 1, 6)).toEqual({
      msgs: [m(1), m(2), m(3)],
      epoch: 'e1',
      foreign: false,
    })
  })

  it('lets the first message start late (the older part was trimmed)', () => {
    expect(usableRange([m(4), m(5)], 'e1', 1, 6)).toEqual({ msgs: [m(4), m(5)], epoch: 'e1', foreign: false })
  })

  it('stops at another epoch and says so, at the first message or halfway', () => {
    expect(usableRange([m(1, 'e2'), m(2, 'e2')], 'e1', 1, 6)).toEqual({ msgs: [], epoch: 'e1', foreign: true })
    expect(usableRange([m(1), m(2), m(3, 'e2')], 'e1', 1, 6)).toEqual({
      msgs: [m(1), m(2)],
      epoch: 'e1',
      foreign: true,
    })
  })

  it('takes the epoch of the range when the cursor has none, and holds the rest of the range to it', () => {
    expect(usableRange([m(1, 'e2'), m(2, 'e2')], undefined, 1, 6)).toEqual({
      msgs: [m(1, 'e2'), m(2, 'e2')],
      epoch: 'e2',
      foreign: false,
    })
    expect(usableRange([m(1, 'e2'), m(2, 'e3')], undefined, 1, 6)).toEqual({
      msgs: [m(1, 'e2')],
      epoch: 'e2',
      foreign: true,
    })
    expect(usableRange([], undefined, 1, 6)).toEqual({ msgs: [], epoch: undefined, foreign: false })
  })

  it('ends the run at a gap, a repeat, a step back, or the first seq the local log already holds', () => {
    expect(usableRange([m(1), m(3)], 'e1', 1, 6).msgs).toEqual([m(1)])
    expect(usableRange([m(1), m(2), m(2)], 'e1', 1, 6).msgs).toEqual([m(1), m(2)])
    expect(usableRange([m(2), m(1)], 'e1', 1, 6).msgs).toEqual([m(2)])
    expect(usableRange([m(4), m(5), m(6), m(7)], 'e1', 1, 6).msgs).toEqual([m(4), m(5)])
  })

  it('skips messages older than asked for before the run starts', () => {
    expect(usableRange([m(1), m(2), m(3), m(4)], 'e1', 3, 6).msgs).toEqual([m(3), m(4)])
  })
})

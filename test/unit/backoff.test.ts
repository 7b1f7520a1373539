import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/worker/backoff.ts'

const opts = { minDelay: 100, maxDelay: 5_000 }

describe('backoffDelay (full jitter, cap before the draw)', () => {
  it('spans exactly [0, min(cap, base·2^n)] at the extremes of the random draw', () => {
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(5_000, 100 * 2 ** n)
      expect(backoffDelay(n, opts, () => 0)).toBe(0)
      expect(backoffDelay(n, opts, () => 0.999999)).toBeCloseTo(ceiling * 0.999999, 6)
      expect(backoffDelay(n, opts, () => 0.5)).toBe(ceiling / 2)
    }
  })

  it('never exceeds the cap, even for huge attempt counts', () => {
    expect(backoffDelay(5_000, opts, () => 0.999999)).toBeLessThan(5_000)
    expect(Number.isFinite(backoffDelay(5_000, opts))).toBe(true)
  })

  it('has a mean that grows with the attempt until the cap', () => {
    let seed = 42
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    const mean = (n: number) => {
      let sum = 0
      for (let i = 0; i < 20_000; i++) sum += backoffDelay(n, opts, random)
      return sum / 20_000
    }
    const means = [0, 1, 2, 3, 4, 5].map(mean)
    for (let n = 1; n < means.length; n++) expect(means[n]).toBeGreaterThan((means[n - 1] as number) * 1.6)
    // Past the cap the mean settles at cap/2.
    expect(mean(10)).toBeGreaterThan(2_400)
    expect(mean(10)).toBeLessThan(2_600)
  })
})

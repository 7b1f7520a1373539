import { describe, expect, it } from 'vitest'
import { backoffDelay, RETRY_AFTER_CEILING, retryAfterDelay } from '../../src/worker/backoff.ts'

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

describe('retryAfterDelay (a server-named wait, trusted only within bounds)', () => {
  const reconnect = { maxDelay: 30_000 }

  it('honours a plain wait exactly, below the ceiling', () => {
    expect(retryAfterDelay('retry-after=1500', reconnect)).toBe(1500)
    expect(retryAfterDelay('retry-after=1', reconnect)).toBe(1)
    expect(retryAfterDelay('busy; retry-after=250', reconnect)).toBe(250)
    expect(retryAfterDelay('retry-after=300000', reconnect)).toBe(300_000)
  })

  it('caps a long wait at 5 minutes, or at maxDelay when the app allows longer', () => {
    expect(RETRY_AFTER_CEILING).toBe(300_000)
    expect(retryAfterDelay('retry-after=600000', reconnect)).toBe(300_000)
    expect(retryAfterDelay(`retry-after=${2 ** 32}`, reconnect)).toBe(300_000)
    expect(retryAfterDelay(`retry-after=${'9'.repeat(400)}`, reconnect)).toBe(300_000)
    expect(retryAfterDelay('retry-after=900000', { maxDelay: 600_000 })).toBe(600_000)
    expect(retryAfterDelay('retry-after=500000', { maxDelay: 600_000 })).toBe(500_000)
  })

  it('treats an absent, zero or malformed value as no wait named (the backoff applies)', () => {
    for (const reason of [
      '',
      'busy',
      'retry-after=',
      'retry-after=0',
      'retry-after=-5',
      'retry-after=1.5',
      'retry-after=1e9',
      'retry-after=abc',
      'retry-after=12ms',
      'retry-after= 100',
      'noretry-after=100',
    ])
      expect(retryAfterDelay(reason, reconnect), reason).toBeUndefined()
  })
})

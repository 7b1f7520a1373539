/** The owner's online/visibility policy on a fake clock: which holds it puts on the socket, and when. */
import { describe, expect, it } from 'vitest'
import { HoldPolicy } from '../../../src/worker/hold-policy.ts'
import type { Hold } from '../../../src/worker/socket-loop.ts'
import { FakeClock } from './fakes.ts'

const GRACE = 30_000

function setup(whenHidden: 'keep' | 'disconnect', localShown: boolean) {
  const clock = new FakeClock()
  const holds: [Hold, boolean][] = []
  let shown = localShown
  const policy = new HoldPolicy(
    { whenHidden, hiddenGrace: GRACE },
    clock,
    () => shown,
    (r, on) => holds.push([r, on]),
  )
  return { clock, holds, policy, show: (v: boolean) => (shown = v) }
}

describe('HoldPolicy', () => {
  it.each([
    { whenHidden: 'disconnect', local: false, followers: [], held: true },
    { whenHidden: 'disconnect', local: true, followers: [], held: false },
    { whenHidden: 'disconnect', local: false, followers: [false, true], held: false },
    { whenHidden: 'disconnect', local: false, followers: [false, false], held: true },
    { whenHidden: 'keep', local: false, followers: [false], held: false },
  ] as const)(
    'whenHidden $whenHidden, own tabs shown $local, followers $followers: hidden hold after the grace = $held',
    ({ whenHidden, local, followers, held }) => {
      const t = setup(whenHidden, local)
      followers.forEach((shown, i) => {
        t.policy.report(`w${i}`, shown)
      })
      t.policy.apply()
      t.clock.advance(GRACE - 1)
      expect(t.holds.filter(([, on]) => on)).toEqual([])
      t.clock.advance(1)
      expect(t.holds.some(([r, on]) => r === 'hidden' && on)).toBe(held)
    },
  )

  it('a tab shown within the grace cancels the disconnect; the last shown follower leaving starts it', () => {
    const t = setup('disconnect', false)
    t.policy.report('w1', true)
    t.policy.apply()
    t.clock.advance(GRACE * 2)
    expect(t.holds).toEqual([
      ['hidden', false],
      ['hidden', false],
    ])
    t.policy.forget('w1')
    t.clock.advance(GRACE - 1)
    t.show(true)
    t.policy.apply()
    t.clock.advance(GRACE)
    expect(t.holds.filter(([, on]) => on)).toEqual([])
    t.show(false)
    t.policy.apply()
    t.clock.advance(GRACE)
    expect(t.holds.at(-1)).toEqual(['hidden', true])
  })

  it('online and offline from any worker set the offline hold', () => {
    const t = setup('keep', true)
    t.policy.online(false)
    t.policy.online(true)
    expect(t.holds).toEqual([
      ['offline', true],
      ['offline', false],
    ])
  })

  it('stop() cancels a pending disconnect', () => {
    const t = setup('disconnect', false)
    t.policy.apply()
    t.policy.stop()
    t.clock.advance(GRACE)
    expect(t.holds).toEqual([])
  })
})

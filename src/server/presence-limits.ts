import type { PresenceLimits } from './presence-seat.ts'

export function checkPresenceLimits(limits: PresenceLimits): void {
  const { grace, maxPresences, maxStateBytes, updatesPerSecond } = limits
  if (!(Number.isSafeInteger(grace) && grace >= 0))
    throw new RangeError(`presenceGrace must be an integer ≥ 0, got ${grace}`)
  if (!(Number.isSafeInteger(maxPresences) && maxPresences >= 1))
    throw new RangeError(`maxPresences must be an integer ≥ 1, got ${maxPresences}`)
  if (!(Number.isSafeInteger(maxStateBytes) && maxStateBytes >= 4))
    throw new RangeError(`maxPresenceStateBytes must be an integer ≥ 4, got ${maxStateBytes}`)
  if (!(Number.isFinite(updatesPerSecond) && updatesPerSecond > 0))
    throw new RangeError(`presenceUpdatesPerSecond must be a finite number > 0, got ${updatesPerSecond}`)
}

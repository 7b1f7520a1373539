/**
 * Full-jitter exponential backoff: attempt `n` (0-based) waits `random(0, min(maxDelay, minDelay·2^n))`.
 * The cap is applied before the random draw, so the wait never exceeds `maxDelay` and clients that failed together
 * spread over the whole window instead of returning in a wave (the "thundering herd" after a server restart).
 */
export function backoffDelay(
  attempt: number,
  opts: { minDelay: number; maxDelay: number },
  random: () => number = Math.random,
): number {
  // 2^attempt overflows to Infinity past ~1023; min() with the cap keeps the ceiling finite.
  const ceiling = Math.min(opts.maxDelay, opts.minDelay * 2 ** attempt)
  return random() * ceiling
}

/**
 * Longest wait a server may impose with `retry-after` unless the app's own `maxDelay` is longer. Admission control
 * hands out slots one token interval apart, so a large storm can legitimately name waits of a minute or more: capping
 * at `maxDelay` (30 s by default) would bring those clients back early, to be turned away again and push everyone's
 * slot later. Five minutes covers 10,000 clients admitted at 34 per second; anything beyond is a bug or an attack.
 */
export const RETRY_AFTER_CEILING = 5 * 60_000

/** setTimeout keeps its delay in a signed 32-bit integer: anything longer fires at once (a hot reconnect loop). */
export const MAX_TIMER_DELAY = 2 ** 31 - 1

/**
 * The wait named by a close reason holding `retry-after=<ms>` (a 4429 from a server shedding load), capped at
 * `max(maxDelay, RETRY_AFTER_CEILING)` so the cap is never below what the normal backoff may wait. Undefined when the
 * reason names no usable wait: absent, zero, or garbage (not plain decimal digits, such as `-5`, `1.5`, `1e9`, `abc`),
 * so the caller falls back to the backoff instead of trusting it.
 */
export function retryAfterDelay(reason: string, opts: { maxDelay: number }): number | undefined {
  const m = /(?:^|[\s,;])retry-after=(\d+)(?![\w.])/.exec(reason)
  const ms = m ? Number(m[1]) : 0
  if (!(ms > 0)) return undefined
  return Math.min(ms, Math.max(opts.maxDelay, RETRY_AFTER_CEILING))
}

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

import { MAX_TIMER_DELAY } from './backoff.ts'

/** The share of a token's lifetime after which a fresh one is asked for: 80 % (at 48 min of an hour's token). */
export const REFRESH_AT = 0.8
/**
 * A short-lived token is asked for at least this long before its deadline (but never before half its lifetime): 20 %
 * of a 5-second token is one second, less than a busy phone or a loaded browser may take to run the provider (a fetch
 * of its own, often) and get `auth` to the server.
 */
export const REFRESH_MARGIN = 10_000

/** ms after `expiresIn` (the lifetime told) at which the refresh starts. */
export function refreshDelay(expiresIn: number): number {
  const delay = Math.max(expiresIn / 2, Math.min(expiresIn * REFRESH_AT, expiresIn - REFRESH_MARGIN))
  return Math.min(Math.floor(delay), MAX_TIMER_DELAY)
}

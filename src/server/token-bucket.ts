/**
 * The token bucket under both of the server's rate gates (`Admission` for new connections, `RateLimiter` for the
 * frames of one client): `size` tokens, refilled at `perSecond`. The caller reads the clock and passes it in, so a
 * gate that also schedules from "now" (admission's slots) uses the very reading the bucket refilled to.
 */
export class TokenBucket {
  private tokens: number
  private refilledAt: number
  /** Ms per token. */
  readonly interval: number

  constructor(
    private readonly size: number,
    perSecond: number,
    now: number,
  ) {
    this.interval = 1_000 / perSecond
    this.tokens = size
    this.refilledAt = now
  }

  /**
   * Takes `cost` tokens when the bucket holds at least one and answers 0. The bucket may go below zero (a debt later
   * takers wait out), so a cost above `size` is never refused forever. With no token, takes nothing and answers the
   * ms (> 0, not rounded) until the bucket holds one.
   */
  take(cost: number, now: number): number {
    this.refill(now)
    if (this.tokens >= 1) {
      this.tokens -= cost
      return 0
    }
    return (1 - this.tokens) * this.interval
  }

  /** Ms (not rounded) until the bucket is full again: a full bucket is no different from a new one. */
  untilFull(now: number): number {
    this.refill(now)
    return Math.max(0, (this.size - this.tokens) * this.interval)
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.size, this.tokens + Math.max(0, now - this.refilledAt) / this.interval)
    this.refilledAt = now
  }
}

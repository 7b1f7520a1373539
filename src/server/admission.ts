import { TokenBucket } from './token-bucket.ts'

/** How fast new connections are let in: a token bucket of `burst` tokens that refills at `ratePerSecond`. */
export interface AdmissionOptions {
  /** Sustained new connections per second. */
  ratePerSecond: number
  /** New connections let in at once when the bucket is full (the bucket's size). */
  burst: number
  /**
   * Hellos answered at once (each waits on `authenticate` and the store's reads): a new connection that arrives while
   * this many are under way is turned away like one beyond the bucket. The rate alone does not bound them: when the
   * store slows down in a storm, hellos pile up in its queue until its commands time out and fail as 1011s.
   * @default unbounded
   */
  maxHellos?: number
}

/** What the gate says to one new connection: come in, or come back in `retryAfterMs`. */
export type AdmissionVerdict = { admit: true } | { admit: false; retryAfterMs: number }

/**
 * Admission control against reconnect storms: after a restart every client of a server comes back at once, and
 * each hello costs a store read and a replay. Connections beyond the bucket are turned away (the server closes them
 * with 4429 and `retry-after=<ms>`, which the worker honours as a minimum wait).
 *
 * The clients turned away are told *different* times, one token interval apart, starting when the bucket next holds
 * a token: told the same time, they would all return together and form the next wave. So each rejection books the
 * next free slot, and a storm leaves the gate as a stream at `ratePerSecond`. Slots are a schedule, not reservations:
 * a client returning on time usually finds the token refilled for it, and one that finds none is given a later slot.
 *
 * The clock is injectable so the storm simulation and tests run this exact code on virtual time.
 */
export class Admission {
  private readonly bucket: TokenBucket
  /** The latest time (clock ms) handed to a rejected client; the next one is told one interval later. */
  private lastSlot = -Infinity
  private readonly maxHellos: number
  /** Hellos under way: begun by `helloStarted`, not yet ended. */
  private hellos = 0

  constructor(
    options: AdmissionOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    const { ratePerSecond, burst, maxHellos = Number.POSITIVE_INFINITY } = options
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0))
      throw new RangeError(`admission.ratePerSecond must be a finite number > 0, got ${ratePerSecond}`)
    if (!(Number.isFinite(burst) && burst >= 1))
      throw new RangeError(`admission.burst must be a finite number ≥ 1, got ${burst}`)
    if (!(maxHellos >= 1 && (Number.isSafeInteger(maxHellos) || maxHellos === Number.POSITIVE_INFINITY)))
      throw new RangeError(`admission.maxHellos must be an integer ≥ 1, got ${maxHellos}`)
    this.maxHellos = maxHellos
    this.bucket = new TokenBucket(burst, ratePerSecond, this.now())
  }

  /**
   * Takes a token for one new connection, or says how long it should wait. With `maxHellos` hellos under way it takes
   * none and books a slot as for an empty bucket.
   */
  take(): AdmissionVerdict {
    const now = this.now()
    const busy = this.hellos >= this.maxHellos
    const untilToken = busy ? this.bucket.interval : this.bucket.take(1, now)
    if (untilToken === 0) return { admit: true }
    const slot = Math.max(now + untilToken, this.lastSlot + this.bucket.interval)
    this.lastSlot = slot
    return { admit: false, retryAfterMs: Math.ceil(slot - now) }
  }

  /**
   * A hello is being answered; call the returned function once it is (welcome sent, or refused, or the socket gone;
   * calling it again does nothing). Counted from the hello's arrival, not the upgrade: a socket that never says hello
   * holds no place (the idle timeout ends it), so idle sockets cannot lock everyone out.
   */
  helloStarted(): () => void {
    this.hellos++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      this.hellos--
    }
  }
}

/**
 * The server's security options that act before or beside the protocol: who may connect (Origin), how fast one
 * connection may send, how much it may follow, and what a user may do with a topic. Kept out of `connection.ts` so
 * each rule reads on its own.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Body } from '../protocol/frames.ts'
import { TokenBucket } from './token-bucket.ts'

/**
 * What a user wants to do with a topic: `pub` (send to it, durable or volatile), `sub` (follow it, including
 * `fetch`), `presence` (be a member of its presence and see the others) or `request` (ask its handler a question).
 */
export type TopicAction = 'pub' | 'sub' | 'presence' | 'request'

/**
 * Decides whether `user` may `action` on `topic`. Asked for every topic of every pub message and every sub; may be
 * async (a database lookup). A throw counts as a denial, so a bug in the hook fails closed.
 */
export type Authorize = (user: string, topic: string, action: TopicAction) => boolean | Promise<boolean>

/**
 * Judges one pub's body: `true` accepts it, `false` or a string (the reason told to the client) refuses it for good
 * (see `ServerOptions.validate`).
 */
export type Validate = (user: string, topic: string, body: Body) => boolean | string | Promise<boolean | string>

/**
 * A token bucket on incoming frames, per (user, client id): every frame costs a token, so a batch of 40,000 frames is
 * 40,000, and the budget outlives the connection, so reconnecting does not refill it.
 */
export interface RateLimitOptions {
  /** Sustained frames per second. */
  messagesPerSecond: number
  /** Frames accepted at once when the bucket is full (its size). */
  burst: number
}

/**
 * One bucket. `take(cost)` answers `0` when a message may pass, else the ms until the bucket holds a token again:
 * what the server puts in its 4429 close as `retry-after=<ms>`. A message passes whenever the bucket holds a token,
 * and pays for all its frames: the bucket may go below zero, and later messages wait until it has refilled. So a
 * batch larger than `burst` (the worker packs up to 256 KiB of pubs in one message) is never refused forever, and
 * still counts in full.
 */
export class RateLimiter {
  private readonly bucket: TokenBucket

  constructor(
    options: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    checkRateLimit(options)
    this.bucket = new TokenBucket(options.burst, options.messagesPerSecond, this.now())
  }

  take(cost = 1): number {
    const wait = this.bucket.take(cost, this.now())
    return wait === 0 ? 0 : Math.max(1, Math.ceil(wait))
  }

  /** Ms until the bucket is full again: a full bucket is no different from a new one. */
  untilFull(): number {
    return Math.ceil(this.bucket.untilFull(this.now()))
  }
}

export function checkRateLimit(options: RateLimitOptions): void {
  const { messagesPerSecond, burst } = options
  if (!(Number.isFinite(messagesPerSecond) && messagesPerSecond > 0))
    throw new RangeError(`rateLimit.messagesPerSecond must be a finite number > 0, got ${messagesPerSecond}`)
  if (!(Number.isFinite(burst) && burst >= 1))
    throw new RangeError(`rateLimit.burst must be a finite number ≥ 1, got ${burst}`)
}

export function checkMaxSubscriptions(max: number | undefined): void {
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= 1))
    throw new RangeError(`maxSubscriptions must be an integer ≥ 1, got ${max}`)
}

/**
 * `allowedOrigins`: an upgrade whose `Origin` header is not in the list (or that has none) is refused with HTTP 403
 * before any WebSocket exists. Browsers always send `Origin` on a WebSocket handshake and a page cannot forge it, so
 * this stops other sites' pages from using a visitor's cookies against the server (cross-site WebSocket hijacking).
 * A non-browser client must send an allowed `Origin` itself. Returns whether the upgrade was refused. The caller has
 * given `socket` an error listener: a peer may reset it while the answer is written.
 */
export function refuseOrigin(allowed: readonly string[] | undefined, req: IncomingMessage, socket: Duplex): boolean {
  if (allowed === undefined) return false
  const origin = req.headers.origin
  if (origin !== undefined && allowed.includes(origin)) return false
  const body = 'tabwire: origin not allowed\n'
  // Closed once the answer is out, as ws does for its own refusals: the peer does not get to hold the socket open.
  socket.once('finish', () => socket.destroy())
  socket.end(
    'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  return true
}

import { RateLimiter, type RateLimitOptions } from './guard.ts'

interface Entry {
  limiter: RateLimiter
  /** Connections using it now. */
  users: number
  forget: NodeJS.Timeout | undefined
}

/**
 * The `rateLimit` buckets of one server, one per (user, client id) — the key of a session, of which only one
 * connection is live at a time — so a client that reconnects finds its bucket as it left it. A bucket no connection
 * uses is forgotten once it would be full again, when a new one would be the same.
 */
export class RateLimits {
  private readonly entries = new Map<string, Entry>()

  constructor(private readonly options: RateLimitOptions) {}

  acquire(user: string, client: string): RateLimiter {
    const key = JSON.stringify([user, client])
    let entry = this.entries.get(key)
    if (!entry) this.entries.set(key, (entry = { limiter: new RateLimiter(this.options), users: 0, forget: undefined }))
    clearTimeout(entry.forget)
    entry.users++
    return entry.limiter
  }

  release(user: string, client: string): void {
    const key = JSON.stringify([user, client])
    const entry = this.entries.get(key)
    if (!entry || --entry.users > 0) return
    entry.forget = setTimeout(() => this.entries.delete(key), entry.limiter.untilFull())
    entry.forget.unref()
  }

  /** Buckets kept right now (for tests). */
  get size(): number {
    return this.entries.size
  }
}

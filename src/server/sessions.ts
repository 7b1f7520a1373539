import type { SessionClaims } from './store.ts'

/** What the registry needs from a connection: a way to end it when a newer one takes its session. */
export interface Session {
  supersede(): void
  /** Ends the session for the backend (`server.disconnect`). */
  end(code: number, reason: string): void
}

interface Live {
  session: Session
  /** This session's claim number across nodes, once the store has told it. */
  claim?: number
  /** The highest claim heard from the store before `claim` was known. */
  heard: number
}

/**
 * The live connection of each (user, client id). A new hello takes the session and the older connection is closed
 * with 4409, so a half-open or forgotten socket never holds it — and two sockets of one client never race their pubs.
 * With a store shared by several nodes (`SessionClaims`), the same holds across nodes: the connection whose claim
 * number is highest keeps the session, wherever it is, and every other one is closed when its node hears of it.
 * Across nodes this is best-effort (a lost notification leaves an older socket open until it drops by itself); the
 * store's dedup, not this, is what keeps pubs exactly-once.
 */
export class Sessions {
  private readonly live = new Map<string, Live>()
  private readonly unlisten: (() => void) | undefined

  constructor(private readonly claims?: SessionClaims) {
    this.unlisten = claims?.onClaim((user, client, claim) => this.heard(JSON.stringify([user, client]), claim))
  }

  claim(user: string, client: string, session: Session): void {
    const key = JSON.stringify([user, client])
    const older = this.live.get(key)
    const entry: Live = { session, heard: 0 }
    this.live.set(key, entry)
    if (older && older.session !== session) older.session.supersede()
    this.claims?.claim(user, client).then(
      (claim) => {
        entry.claim = claim
        if (entry.heard > claim) this.supersede(key, entry)
      },
      // Redis unreachable: the connection goes on; only the cross-node close is skipped (see above).
      () => undefined,
    )
  }

  release(user: string, client: string, session: Session): void {
    const key = JSON.stringify([user, client])
    if (this.live.get(key)?.session === session) this.live.delete(key)
  }

  close(): void {
    this.unlisten?.()
  }

  private heard(key: string, claim: number): void {
    const entry = this.live.get(key)
    if (!entry) return
    if (entry.claim === undefined) entry.heard = Math.max(entry.heard, claim)
    else if (claim > entry.claim) this.supersede(key, entry)
  }

  private supersede(key: string, entry: Live): void {
    if (this.live.get(key) === entry) this.live.delete(key)
    entry.session.supersede()
  }

  /** Ends every live session of `user` on this node; how many there were. A rare backend call: a scan is fine. */
  endUser(user: string, code: number, reason: string): number {
    const ended = [...this.live].filter(([key]) => (JSON.parse(key) as [string, string])[0] === user)
    for (const [key, session] of ended) {
      this.live.delete(key)
      session.end(code, reason)
    }
    return ended.length
  }
}

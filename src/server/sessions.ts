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
  private readonly unlisten: (() => void)[] = []

  constructor(private readonly claims?: SessionClaims) {
    if (!claims) return
    this.unlisten.push(
      claims.onClaim((user, client, claim) => this.heard(JSON.stringify([user, client]), claim)),
      claims.onDisconnect((user, code, reason) => this.endUser(user, code, reason)),
    )
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

  /**
   * `server.disconnect`: this node's sessions of `user` end at once, and every other node sharing the store is told on
   * the claims' channel. A session that opens here after the call is not ended. Rejects when the store cannot be
   * reached: the other nodes were then not told.
   */
  async disconnect(user: string, code: number, reason: string): Promise<void> {
    this.endUser(user, code, reason)
    await this.claims?.disconnect(user, code, reason)
  }

  close(): void {
    for (const unlisten of this.unlisten.splice(0)) unlisten()
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

  /** Ends every live session of `user` on this node. A rare backend call: a scan is fine. */
  private endUser(user: string, code: number, reason: string): void {
    for (const [key, entry] of [...this.live]) {
      if ((JSON.parse(key) as [string, string])[0] !== user) continue
      this.live.delete(key)
      entry.session.end(code, reason)
    }
  }
}

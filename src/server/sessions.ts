/** What the registry needs from a connection: a way to end it when a newer one takes its session. */
export interface Session {
  supersede(): void
  /** Ends the session for the backend (`server.disconnect`). */
  end(code: number, reason: string): void
}

/**
 * The live connection of each (user, client id). A new hello takes the session and the older connection is closed
 * with 4409, so a half-open or forgotten socket never holds it — and two sockets of one client never race their pubs.
 */
export class Sessions {
  private readonly live = new Map<string, Session>()

  claim(user: string, client: string, session: Session): void {
    const key = JSON.stringify([user, client])
    const older = this.live.get(key)
    this.live.set(key, session)
    if (older && older !== session) older.supersede()
  }

  release(user: string, client: string, session: Session): void {
    const key = JSON.stringify([user, client])
    if (this.live.get(key) === session) this.live.delete(key)
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

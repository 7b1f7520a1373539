/** What the registry needs from a connection: a way to end it when a newer one takes its session. */
export interface Session {
  supersede(): void
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
}

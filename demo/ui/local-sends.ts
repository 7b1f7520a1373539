/**
 * This tab's own messages that have not come back from the server yet, shown optimistically with their status.
 * The messages that arrive through `subscribe` are the truth; an entry here is dropped once its `key` comes back.
 *
 * Entries are kept in sessionStorage once `send()` has resolved (the message is then in tabwire's IndexedDB outbox),
 * so a reloaded tab still shows its queued messages until the server has them.
 */
export type SendStatus = 'saving' | 'queued' | 'sent' | 'acked' | 'failed' | 'cancelled' | 'expired' | 'dead'

/** Gone from the outbox without reaching the room: nothing to keep across a reload. */
const GONE: readonly SendStatus[] = ['saving', 'failed', 'cancelled', 'expired', 'dead']

export interface LocalSend {
  /** Random, carried in the message body: how the echo is matched to this entry. */
  key: string
  room: string
  text: string
  status: SendStatus
  /** The outbox id `send()` resolved with. */
  id?: number
  error?: string
}

const KEY = 'tabwire-demo:sends'

export class LocalSends {
  private readonly items = new Map<string, LocalSend>()

  constructor(private readonly onChange: () => void) {
    for (const s of load()) this.items.set(s.key, s)
  }

  add(room: string, text: string): LocalSend {
    const send: LocalSend = { key: crypto.randomUUID(), room, text, status: 'saving' }
    this.items.set(send.key, send)
    this.changed()
    return send
  }

  /** No-op when the entry already came back: an echo can overtake the `send()` or `acked` promise. */
  update(key: string, patch: Partial<LocalSend>): void {
    const send = this.items.get(key)
    if (!send) return
    Object.assign(send, patch)
    this.changed()
  }

  statusOf(key: string): SendStatus | undefined {
    return this.items.get(key)?.status
  }

  /** The server has published it: the subscribed copy, with its seq, replaces this entry. */
  settle(key: string): void {
    if (this.items.delete(key)) this.changed()
  }

  forRoom(room: string): LocalSend[] {
    return [...this.items.values()].filter((s) => s.room === room)
  }

  clear(): void {
    this.items.clear()
    this.changed()
  }

  private changed(): void {
    // A `saving` entry is not stored yet; after a reload nobody could tell whether it ever was, so it is not kept.
    const durable = [...this.items.values()].filter((s) => !GONE.includes(s.status))
    sessionStorage.setItem(KEY, JSON.stringify(durable))
    this.onChange()
  }
}

function load(): LocalSend[] {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? '[]')
    return Array.isArray(parsed) ? (parsed as LocalSend[]).filter((s) => typeof s?.key === 'string') : []
  } catch {
    return []
  }
}

/**
 * The chat as the server published it: per room, the messages received through `subscribe`, in seq order.
 * This is the source of truth for the message list; local sends only fill the gap until their echo arrives.
 */
import type { Json, Message, ResetNotice } from '../../src/client/index.ts'

export interface ChatMessage {
  kind: 'msg'
  seq: number
  text: string
  author: string
  /** The sender's LocalSend key, to settle its optimistic entry. */
  key: string
}

/** The server no longer had the range after our cursor: shown as a line, never as a silent hole. */
export interface ResetLine {
  kind: 'reset'
  seq: number
  reason: ResetNotice['reason']
}

export type Entry = ChatMessage | ResetLine

/** A chat message body as the demo sends it. */
export interface ChatBody {
  text: string
  author: string
  key: string
}

/** Keep the page light however long the durable history grows. */
const KEEP = 300
/**
 * The last seq read per room, shared by this browser's tabs: a seq names one message for everyone, so "read up to
 * seq 12" is all an unread count needs, and a reload's replay of old messages does not count them as new.
 */
const READ_KEY = 'tabwire-demo:read'

export class ChatLog {
  private readonly rooms = new Map<string, Entry[]>()
  private readonly last = new Map<string, number>()

  add(room: string, m: Message<Json>, active: boolean): ChatMessage {
    const msg = toChat(m)
    const list = this.list(room)
    list.push(msg)
    if (list.length > KEEP) list.splice(0, list.length - KEEP)
    this.last.set(room, m.seq)
    if (active) this.markRead(room)
    return msg
  }

  reset(room: string, notice: ResetNotice): void {
    this.list(room).push({ kind: 'reset', seq: notice.seq, reason: notice.reason })
    this.last.set(room, notice.seq)
  }

  entries(room: string): readonly Entry[] {
    return this.rooms.get(room) ?? []
  }

  lastSeq(room: string): number {
    return this.last.get(room) ?? 0
  }

  unreadIn(room: string): number {
    const read = readUpTo()[room] ?? 0
    return this.entries(room).filter((e) => e.kind === 'msg' && e.seq > read).length
  }

  markRead(room: string): void {
    const read = readUpTo()
    if ((read[room] ?? 0) >= this.lastSeq(room)) return
    read[room] = this.lastSeq(room)
    localStorage.setItem(READ_KEY, JSON.stringify(read))
  }

  clear(): void {
    this.rooms.clear()
    this.last.clear()
  }

  private list(room: string): Entry[] {
    let list = this.rooms.get(room)
    if (!list) this.rooms.set(room, (list = []))
    return list
  }
}

function readUpTo(): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(READ_KEY) ?? '{}')
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, number>) : {}
  } catch {
    return {}
  }
}

/** Tolerates bodies of any shape: the topic is open to anything that can publish on it. */
function toChat(m: Message<Json>): ChatMessage {
  const b = typeof m.body === 'object' && m.body !== null && !Array.isArray(m.body) ? m.body : {}
  const str = (v: Json | undefined, fallback: string) => (typeof v === 'string' ? v : fallback)
  return {
    kind: 'msg',
    seq: m.seq,
    text: str(b.text, JSON.stringify(m.body)),
    author: str(b.author, 'server'),
    key: str(b.key, ''),
  }
}

import { batchText } from '../protocol/encode.ts'
import type { Cursor, SubFrame, UnsubFrame } from '../protocol/frames.ts'
import { utf8Length } from './utf8.ts'

/**
 * How many of `cursors`, in order, fit as the elements of a JSON array taking at most `room` more UTF-8 bytes than
 * the empty one: the `hello.subs` of a connection. The server closes a message over its limit with 4413, so the
 * rest go as `sub` frames after `welcome` instead (docs/PROTOCOL.md, section 4).
 */
export function cursorsThatFit(cursors: readonly Cursor[], room: number): number {
  let used = 0
  for (let i = 0; i < cursors.length; i++) {
    used += utf8Length(JSON.stringify(cursors[i])) + (i > 0 ? 1 : 0)
    if (used > room) return i
  }
  return cursors.length
}

/**
 * Subscription frames as few WebSocket messages as fit under `limit` bytes each, in order. A frame larger than the
 * limit on its own still goes alone: only a topic name longer than the limit makes one, and the server's 4413 says so.
 */
export function packSubs(frames: readonly (SubFrame | UnsubFrame)[], limit: number): string[] {
  const messages: string[] = []
  let texts: string[] = []
  // The brackets of a batch, then each frame and its comma.
  let used = 2
  for (const frame of frames) {
    const text = JSON.stringify(frame)
    const bytes = utf8Length(text) + 1
    if (texts.length > 0 && used + bytes > limit) {
      messages.push(batchText(texts))
      texts = []
      used = 2
    }
    texts.push(text)
    used += bytes
  }
  if (texts.length > 0) messages.push(batchText(texts))
  return messages
}

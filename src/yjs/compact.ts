import * as Y from 'yjs'
import type { Body } from '../protocol/frames.ts'

/** What `compactDoc` needs of a server: `TabwireServer` has it (typed here so this file needs no Node types). */
export interface Compactable {
  readonly store: {
    read(topic: string, after: number, limit: number): Promise<{ last: number; msgs: { seq: number; body: Body }[] }>
  }
  compact(topic: string, through: number, snapshot: Body): Promise<unknown>
}

/** Log messages read per step. */
const READ_PAGE = 500

/**
 * Folds a Yjs document's topic into one snapshot: reads the retained log, applies every binary update to a fresh
 * `Y.Doc`, and calls `server.compact(topic, through, Y.encodeStateAsUpdate(doc))`, which appends the snapshot and
 * drops the messages it stands for. Updates appended meanwhile stay after it. Resolves with the last seq folded in
 * and the snapshot's size, or `undefined` when the topic holds fewer than two messages (nothing to gain).
 * Run it on one node at a time per topic (a cron job, after N appends): two at once only waste a snapshot.
 */
export async function compactDoc(
  server: Compactable,
  topic: string,
): Promise<{ through: number; bytes: number } | undefined> {
  const doc = new Y.Doc()
  let after = 0
  let count = 0
  for (;;) {
    const { msgs } = await server.store.read(topic, after, READ_PAGE)
    for (const m of msgs) {
      if (m.body instanceof Uint8Array) Y.applyUpdate(doc, m.body)
      after = m.seq
      count++
    }
    if (msgs.length < READ_PAGE) break
  }
  if (count < 2) return undefined
  const snapshot = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  await server.compact(topic, after, snapshot)
  return { through: after, bytes: snapshot.byteLength }
}

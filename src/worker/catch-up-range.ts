import type { Epoch, RangeMsg } from '../protocol/frames.ts'

/** What a catch-up may deliver from a fetched range. */
export interface UsableRange {
  /** Contiguous, in seq order, inside `[from, before)`, all under `epoch`. */
  msgs: RangeMsg[]
  /** The epoch they belong to: the cursor's, or (when the cursor has none yet) the range's own. */
  epoch: Epoch | undefined
  /** The range went on under another epoch: what the cursor's epoch held there is gone from the server. */
  foreign: boolean
}

/**
 * Checks a `range` against the topic's cursor before any of it reaches a tab. `fetch` carries no epoch, so the server
 * answers from whatever its log holds now: after a restart that changed the epoch, that is a different history under
 * the same seqs, and delivering it would mix two epochs (and repeat seqs once the subscription's reset arrives).
 * Only the leading run that continues the catch-up is kept; the first message after a gap, out of order, outside the
 * window, or under another epoch ends it. The first message may start after `from` (the older part was trimmed).
 */
export function usableRange(
  msgs: readonly RangeMsg[],
  epoch: Epoch | undefined,
  from: number,
  before: number,
): UsableRange {
  const out: RangeMsg[] = []
  let pinned = epoch
  for (const m of msgs) {
    const prev = out[out.length - 1]
    if (!prev && m.seq < from) continue // older than asked for: the tab has it
    if ((prev && m.seq !== prev.seq + 1) || m.seq >= before) break
    if (pinned !== undefined && m.epoch !== pinned) return { msgs: out, epoch: pinned, foreign: true }
    pinned = m.epoch
    out.push(m)
  }
  return { msgs: out, epoch: pinned, foreign: false }
}

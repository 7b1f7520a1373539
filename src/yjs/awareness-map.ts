import type { Json } from '../protocol/frames.ts'

/**
 * What a provider puts in its presence state: the awareness state of the tab that set it last, with that tab's
 * awareness client id, and the browser profile it runs in (every tab of a profile shares one presence member).
 */
export interface AwarenessPresence {
  profile: string
  clientID: number
  state: Json
}

/** The awareness entries that presence members stand for, keyed by awareness client id. */
export type RemoteStates = ReadonlyMap<number, Json>

export interface AwarenessDiff {
  next: Map<number, Json>
  added: number[]
  updated: number[]
  removed: number[]
}

/**
 * The remote awareness entries for a presence member list: one per other profile (this profile's own member is
 * left out: its tabs show their own local state), none for a member whose state is no provider's or is null (a
 * cleared awareness state). `added`, `updated` (content changed) and `removed` compare it with `prev`.
 */
export function awarenessOf(
  members: readonly { state: unknown }[],
  profile: string,
  prev: RemoteStates,
): AwarenessDiff {
  const next = new Map<number, Json>()
  for (const m of members) {
    const p = asAwarenessPresence(m.state)
    if (!p || p.profile === profile || p.state === null) continue
    next.set(p.clientID, p.state)
  }
  const added: number[] = []
  const updated: number[] = []
  const removed: number[] = []
  for (const [id, state] of next) {
    if (!prev.has(id)) added.push(id)
    else if (JSON.stringify(prev.get(id)) !== JSON.stringify(state)) updated.push(id)
  }
  for (const id of prev.keys()) if (!next.has(id)) removed.push(id)
  return { next, added, updated, removed }
}

function asAwarenessPresence(state: unknown): AwarenessPresence | undefined {
  if (typeof state !== 'object' || state === null) return undefined
  const { profile, clientID, state: inner } = state as Partial<AwarenessPresence>
  if (typeof profile !== 'string' || !Number.isSafeInteger(clientID) || inner === undefined) return undefined
  return { profile, clientID: clientID as number, state: inner }
}

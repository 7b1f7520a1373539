/**
 * The e2e app's presence calls (part of `TestApi`; implemented in presence-app.ts): join, update, leave, and what
 * each handle has seen. Members are reported by client id, since every tab of these tests is the same user
 * (`anonymous`). Names no DOM types: the Node-side tests read it too.
 */
import type { Json } from '../../../src/protocol/frames.ts'

/** One `onChange` call, members by client id. */
export interface PresenceChangeRecord {
  sync: boolean
  members: string[]
  joined: string[]
  left: string[]
  updated: string[]
  at: number
}

export interface PresenceTestApi {
  /** Joins (and records every change from then on); resolves with the members by client id once joined. */
  presenceJoin(topic: string, state: Json): Promise<string[]>
  presenceUpdate(topic: string, state: Json): Promise<void>
  presenceLeave(topic: string): Promise<void>
  /** The handle's members now: `[client, state]`. */
  presenceMembers(topic: string): [string, Json][]
  presenceChanges(topic: string): PresenceChangeRecord[]
}

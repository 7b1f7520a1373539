import type { Json } from './frames.ts'

/**
 * Presence on the wire: who is in a topic right now. One member per (user, client id): a browser profile's tabs share
 * one client id and one socket, so however many of its tabs join, the topic sees one member.
 */

/** A member as the server reports it. `since`: when it joined, ms since epoch by the server's clock. */
export interface PresenceMember {
  user: string
  client: string
  state: Json
  since: number
}

/** Names a member in a `pdiff`'s `left`. */
export interface PresenceKey {
  user: string
  client: string
}

// ── client → server ──────────────────────────────────────────────────────────

/**
 * Joins the topic's presence with `state`, or, when this (user, client) is already a member (a reconnect within the
 * grace period), takes it over without a leave: its state is replaced. Answered by `presence` (the full list).
 */
export interface PresenceJoinFrame {
  t: 'pjoin'
  topic: string
  state: Json
}

/** Replaces this member's state; the others see an `update`. */
export interface PresenceStateFrame {
  t: 'pstate'
  topic: string
  state: Json
}

/** Leaves at once (no grace period). */
export interface PresenceLeaveFrame {
  t: 'pleave'
  topic: string
}

// ── server → client ──────────────────────────────────────────────────────────

/**
 * The full member list: the answer to `pjoin`, and a resync for a connection that fell behind on diffs. `denied`:
 * the server's `authorize` refused this user the topic's presence (then `members` is empty and nothing follows).
 */
export interface PresenceListFrame {
  t: 'presence'
  topic: string
  members: PresenceMember[]
  denied?: true
}

/** What changed since the last `presence` or `pdiff` of the topic on this connection, in that order: left, joined, updated. */
export interface PresenceDiffFrame {
  t: 'pdiff'
  topic: string
  joined: PresenceMember[]
  left: PresenceKey[]
  updated: PresenceMember[]
}

export type PresenceClientFrame = PresenceJoinFrame | PresenceStateFrame | PresenceLeaveFrame
export type PresenceServerFrame = PresenceListFrame | PresenceDiffFrame

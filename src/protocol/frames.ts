/**
 * Wire protocol v1: JSON text frames; field `t` names the frame.
 *
 * A WebSocket text message carries one frame object or a JSON array of them (a batch). Both sides accept both.
 * This file is shared by the worker and the server, so it names neither DOM nor Node types.
 */

import type { PresenceClientFrame, PresenceServerFrame } from './presence-frames.ts'

export const PROTOCOL_VERSION = 1 as const

/** Any JSON value: message bodies travel as-is inside the frame, never re-encoded. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A message body: JSON, or bytes — which travel in binary WebSocket messages (see `binary.ts`), never as base64. */
export type Body = Json | Uint8Array

/**
 * Identifies one incarnation of a topic's log. When a server loses a log (a memory store restarts) or rebuilds it,
 * the epoch changes, and a cursor taken under the old epoch is meaningless: the server answers it with `reset`.
 */
export type Epoch = string

/**
 * A resume point the client holds for one topic: the last seq it has, under which epoch. With `latest: true` the
 * client asks to start at the topic's newest message instead: the server answers with `reset {reason: 'latest'}`
 * at the seq before it (`after` and `epoch` are then ignored).
 */
export interface Cursor {
  topic: string
  after: number
  epoch?: Epoch
  latest?: true
}

// ── client → server ──────────────────────────────────────────────────────────

/** First frame on every connection. `subs` resumes every topic the client follows. */
export interface HelloFrame {
  t: 'hello'
  v: typeof PROTOCOL_VERSION
  client: string
  token?: string
  subs: Cursor[]
}

/**
 * `id` is the client's own counter (1, 2, 3…), persisted with the message so a resend carries the same id. `call`:
 * on the first pub of a send call that the client sent before it had stored it (see `VoidFrame`).
 */
export interface PubFrame {
  t: 'pub'
  id: number
  topic: string
  body: Body
  call?: CallTag
}

/**
 * Names the send call a pub opens, for a client that sends before it has stored (`welcome.early`): the call's tab and
 * its number there, how many pubs it holds (this one and the `count - 1` ids after it), and `stored`: every id ≤ it is
 * in the client's durable outbox, so the server forgets the calls it keeps at or below it. A server that takes the pub
 * keeps the call with the pub's id until then, at most `welcome.early` of them, so that a client which died before
 * storing the call can learn, through `void`, which of its ids the server took, and answer the call's retry with them.
 */
export type CallTag = [tab: string, n: number, count: number, stored: number]

export interface SubFrame extends Cursor {
  t: 'sub'
}

export interface UnsubFrame {
  t: 'unsub'
  topic: string
}

/** Older messages for one tab, without moving the subscription. Answered by `range` frames with the same `req`. */
export interface FetchFrame {
  t: 'fetch'
  req: number
  topic: string
  after: number
  limit: number
}

export interface PingFrame {
  t: 'ping'
  n: number
}

/**
 * A volatile message: relayed by the server to the topic's current subscribers (every node) as `vmsg`, never stored,
 * numbered, acked or replayed. Dropped for a subscriber whose connection is congested.
 */
export interface VpubFrame {
  t: 'vpub'
  topic: string
  body: Body
}

/** A question for the server's handler of `topic`; answered by one `reply` with the same `id` on this connection. */
export interface RequestFrame {
  t: 'request'
  id: number
  topic: string
  body: Body
}

/**
 * The client gives up pub `id` before sending it: its message alone is larger than the server takes (`welcome.maxBytes`,
 * or learnt from a 4413), or, with `why`, the app cancelled it or it expired before it was ever written. Stands in the
 * id sequence where the pub would have: the server refuses it like a pub, moving its counter past it, and answers
 * `nack {id, code}` with `code` `too-large`, or `why`.
 */
export interface SkipFrame {
  t: 'skip'
  id: number
  why?: SkipReason
}

export const SKIP_REASONS = ['cancelled', 'expired'] as const

export type SkipReason = (typeof SKIP_REASONS)[number]

/**
 * Ids `from`..`to` were reserved by a client that sends pubs before it has stored them, and it cannot tell which of
 * them went out (it died, or a store failed after the pub was sent): those the server already took stand, the rest
 * carry nothing. Stands in the id sequence at `from`, like a pub (out of order when the counter is below `from - 1`);
 * the counter moves to `to`, never back, and `voided` answers with what the server had taken. Only to a server whose
 * `welcome` has `early`.
 */
export interface VoidFrame {
  t: 'void'
  from: number
  to: number
}

/**
 * A fresh token for the open connection (the old one is about to expire): answered by `authed` when the server
 * accepts it for the same user, by `error {code: 'auth-refused'}` when it does not (the connection goes on under the
 * old token until it expires), and by `error {code: 'user-mismatch'}` and close 4403 when it names another user.
 */
export interface AuthFrame {
  t: 'auth'
  token: string
}

export type ClientFrame =
  | HelloFrame
  | AuthFrame
  | PubFrame
  | SubFrame
  | UnsubFrame
  | FetchFrame
  | PingFrame
  | VpubFrame
  | RequestFrame
  | PresenceClientFrame
  | SkipFrame
  | VoidFrame

// ── server → client ──────────────────────────────────────────────────────────

/**
 * `acked`: the highest pub id of this (user, client) the server has durably accepted or refused; 0 when none.
 * `maxBytes`: the largest WebSocket message the server takes (bigger closes with 4413). `refused`: the latest pubs of
 * this (user, client) the server refused for good, so a `nack` lost with a dropped connection is told again.
 */
export interface WelcomeFrame {
  t: 'welcome'
  v: typeof PROTOCOL_VERSION
  acked: number
  maxBytes?: number
  refused?: Refusal[]
  /**
   * Ms until the connection's token expires, counted from when the server sent this frame (relative, so clock skew
   * between the two sides does not matter). At that moment the server closes with 4401 unless an `auth` renewed it.
   * Absent: the token does not expire on this connection.
   */
  expiresIn?: number
  /**
   * The server takes `void` and keeps the calls of pubs sent before they were stored (`pub.call`), at most this many
   * per (user, client), the oldest forgotten first. Absent: it does neither, and a client sends only what it stored.
   */
  early?: number
}

/** The answer to an accepted `auth`: the connection now runs on the new token; `expiresIn` as in `welcome`. */
export interface AuthedFrame {
  t: 'authed'
  expiresIn?: number
}

/** A pub the server refused for good: never published, and the client's counter moved past it. */
export interface Refusal {
  id: number
  /** The reference server sends a `RefusalCode` (`forbidden`, `too-large`, `invalid`); other servers may send others. */
  code: string
  message: string
}

/**
 * The answer to `void {from, to}`: `was` is the counter before it (the ids from..`was` the server had taken stand), and
 * `calls` the kept calls (`pub.call`) among them, as [id of the call's first pub, tab, n, count], by id. An `ack` of
 * the counter follows.
 */
export interface VoidedFrame {
  t: 'voided'
  from: number
  to: number
  was: number
  calls: [id: number, tab: string, n: number, count: number][]
}

/** Cumulative: every pub id ≤ `id` is durably accepted. */
export interface AckFrame {
  t: 'ack'
  id: number
}

/** `seq` is contiguous per topic and epoch: 1, 2, 3… */
export interface MsgFrame {
  t: 'msg'
  topic: string
  seq: number
  epoch: Epoch
  body: Body
}

/** `latest` answers only a cursor with `latest: true`: the position just before the topic's newest message. */
export type ResetReason = 'retention' | 'epoch' | 'ahead' | 'latest'

/**
 * The range after the client's cursor is gone. The client takes `{seq, epoch}` as its new cursor: the messages that
 * follow start at `seq + 1`. `reason`: `retention` (trimmed), `epoch` (the log was replaced), `ahead` (the cursor
 * is beyond the log's end, as after a server lost its data), `latest` (the client asked for the newest message).
 */
export interface ResetFrame {
  t: 'reset'
  topic: string
  seq: number
  epoch: Epoch
  reason: ResetReason
}

export interface RangeMsg {
  seq: number
  epoch: Epoch
  body: Body
}

/**
 * The answer to `fetch`: `msgs` in seq order, contiguous from the first one. The first may start later than
 * `after + 1` when the older part is gone; `done` is true on the last `range` frame of a request.
 */
export interface RangeFrame {
  t: 'range'
  req: number
  topic: string
  msgs: RangeMsg[]
  done: boolean
}

/**
 * Pub `id` is refused for good (see `Refusal`): it is not published and never will be, and the server's counter is
 * at `id`, so the pubs after it go on. Sent in id order with the acks: an `ack` before it covers the ids before it.
 */
export interface NackFrame extends Refusal {
  t: 'nack'
}

export interface PongFrame {
  t: 'pong'
  n: number
}

/** `code` is any string on the wire; the reference server sends only `ServerErrorCode`s (`ErrorFrame<ServerErrorCode>`). */
export interface ErrorFrame<Code extends string = string> {
  t: 'error'
  code: Code
  message: string
}

/** A volatile message relayed to a subscriber of `topic`: no seq, no epoch, never replayed. */
export interface VmsgFrame {
  t: 'vmsg'
  topic: string
  body: Body
}

/** Why a request got no answer body (see docs/PROTOCOL.md: `remote`, `not-found`, `forbidden`, …). */
export interface ReplyError {
  code: string
  message: string
}

/** The answer to `request {id}`: either `body` (the handler's result) or `error`, never both. */
export type ReplyFrame = { t: 'reply'; id: number; body: Body } | { t: 'reply'; id: number; error: ReplyError }

export type ServerFrame =
  | WelcomeFrame
  | AuthedFrame
  | AckFrame
  | NackFrame
  | MsgFrame
  | ResetFrame
  | RangeFrame
  | PongFrame
  | ErrorFrame
  | PresenceServerFrame
  | VmsgFrame
  | ReplyFrame
  | VoidedFrame

export type Frame = ClientFrame | ServerFrame

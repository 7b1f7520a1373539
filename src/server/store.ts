import type { Body, CallTag, Epoch, Refusal } from '../protocol/frames.ts'
import type { VolatileRelay } from './volatile-relay.ts'

/** A message as a topic's log holds it. */
export interface StoredMessage {
  topic: string
  seq: number
  epoch: Epoch
  /**
   * JSON, or bytes: every store keeps a binary body byte for byte and gives it back as a plain `Uint8Array` (never
   * a Node `Buffer`, never text), copied on the way in so a caller reusing its buffer cannot change the log.
   */
  body: Body
  /** Append time, ms since epoch: what age-based retention measures. */
  at: number
}

/** One `pub` of a client, as the server hands it to the store. */
export interface PubInput {
  id: number
  topic: string
  body: Body
  /** The send call this pub opens, sent before the client stored it: kept by a store with `void` (see `EarlyCall`). */
  call?: CallTag
}

/**
 * A send call whose first pub (`id`) a client sent before storing it, kept per (user, client) by a store with `void`:
 * taking such a pub (published or refused) drops the kept calls at or below its tag's `stored` and keeps this one,
 * in the same atomic step as the counter's move, at most `EARLY_CALLS` of them (the oldest go).
 */
export interface EarlyCall {
  id: number
  tab: string
  n: number
  count: number
}

/** How many early calls a store keeps per (user, client) (`welcome.early`): a client sends no more before storing. */
export const EARLY_CALLS = 64

/**
 * What became of `void {from, to}`: `voided` (the counter moved to `to` unless it was past it, in one atomic step;
 * `was` is where it stood, `calls` the kept calls with ids from..`to`, by id), or `out-of-order` (the counter is below
 * `from - 1`; nothing moved).
 */
export type VoidOutcome =
  | { kind: 'voided'; was: number; calls: EarlyCall[] }
  | { kind: 'out-of-order'; expected: number }

/**
 * What became of one `pub`: `published` (appended, and the client's counter moved to its id in the same atomic
 * step), `duplicate` (id ≤ the counter: already accepted before, not appended again), `out-of-order` (id > counter + 1:
 * a protocol error; nothing appended).
 */
export type PubOutcome =
  | { kind: 'published'; msg: StoredMessage }
  | { kind: 'duplicate' }
  | { kind: 'out-of-order'; expected: number }

/**
 * What became of refusing one pub (`Store.refuse`): `refused` (the counter moved to its id and the refusal was recorded,
 * in one atomic step), `duplicate` (id ≤ the counter: already accepted or refused), `out-of-order` (id > counter + 1).
 */
export type RefuseOutcome = { kind: 'refused' } | { kind: 'duplicate' } | { kind: 'out-of-order'; expected: number }

/** How many refusals a store keeps per (user, client) for `welcome.refused`: the oldest go first. */
export const KEPT_REFUSALS = 64

/** Where a topic's log stands. For an empty log `first` is `last + 1`. */
export interface TopicHead {
  epoch: Epoch
  /** Oldest seq still retained. */
  first: number
  /** Newest seq appended (0 when nothing ever was). */
  last: number
}

export interface ReadResult extends TopicHead {
  /** Contiguous, ascending, starting at `max(after + 1, first)`; at most `limit`. */
  msgs: StoredMessage[]
}

/** Per-topic retention: whichever limit is hit first trims the oldest messages. */
export interface Retention {
  /** Keep at most this many messages per topic. */
  maxMessages?: number
  /** Drop messages older than this, ms. */
  maxAgeMs?: number
}

/**
 * What lets nodes sharing a store close a client's older socket on another node (4409 across nodes): each claim of
 * (user, client) gets a number that grows across every node, and every node hears every claim.
 */
export interface SessionClaims {
  /** Announces that (user, client) connected here; resolves with the claim's number. */
  claim(user: string, client: string): Promise<number>
  /** Every claim announced by any node sharing the store (this one included). Returns the unsubscribe function. */
  onClaim(listener: (user: string, client: string, claim: number) => void): () => void
  /** Announces `server.disconnect(user)` on the same channel: every node ends that user's sessions. */
  disconnect(user: string, code: number, reason: string): Promise<void>
  /**
   * Every disconnect announced by another node sharing the store (not this one's own: it ended its sessions when it
   * announced). Returns the unsubscribe function.
   */
  onDisconnect(listener: (user: string, code: number, reason: string) => void): () => void
}

/**
 * Where the server keeps topic logs and the dedup counters of (user, client). Every implementation moves a
 * client's counter and appends the message in one atomic step, so a crash between the two cannot happen and two
 * servers sharing the store cannot both publish the same id.
 */
export interface Store {
  /** Applies a client's pubs in order; stops at (and reports) the first out-of-order one, leaving the rest unapplied. */
  accept(user: string, client: string, pubs: readonly PubInput[]): Promise<PubOutcome[]>
  /**
   * Refuses a client's pub for good (a dead letter): when its id is counter + 1, moves the counter to it without
   * appending anything and records the refusal among the latest `KEPT_REFUSALS` of (user, client), in one atomic
   * step, so the pubs after it can be accepted. `topic` is the pub's, when the server read it (a pub over
   * `maxFrameBytes` has none): a store whose dedup is kept per topic (Redis Cluster) closes that topic to the id.
   * `call`: the pub's, kept as `accept` keeps it.
   */
  refuse(user: string, client: string, refusal: Refusal, topic?: string, call?: CallTag): Promise<RefuseOutcome>
  /**
   * `void {from, to}` of (user, client) (see `VoidOutcome`). Optional: a store without it (one whose dedup is kept per
   * topic cannot move every counter at once) keeps no early calls, and its server offers no `welcome.early`.
   */
  void?(user: string, client: string, from: number, to: number): Promise<VoidOutcome>
  /** The latest refusals of (user, client), oldest first: what `welcome.refused` tells a reconnecting client. */
  refusals(user: string, client: string): Promise<Refusal[]>
  /** A server-side producer's message: appended with the next seq. */
  append(topic: string, body: Body): Promise<StoredMessage>
  /** The highest pub id of (user, client) accepted so far; 0 when none. */
  acked(user: string, client: string): Promise<number>
  read(topic: string, after: number, limit: number): Promise<ReadResult>
  head(topic: string): Promise<TopicHead>
  /**
   * Drops the topic's messages with a seq below `before`, never its newest one (`before` is capped at `last`), and
   * returns the head after it: `first` moves as a retention trim moves it, so a reader behind it gets a `retention`
   * reset. What `server.compact` uses once the snapshot that replaces them is appended; optional, so stores written
   * before it still work (without it `compact` rejects).
   */
  trim?(topic: string, before: number): Promise<TopicHead>
  /**
   * Every message appended through this store by any server sharing it (this process included), in seq order per
   * topic. Returns the unsubscribe function.
   */
  onAppend(listener: (msg: StoredMessage) => void): () => void
  /** Only for a store several nodes share (the Redis one): without it, a newer socket supersedes older ones per node. */
  readonly sessionClaims?: SessionClaims
  /**
   * Carries volatile messages between the servers sharing this store (Redis: pub/sub). Optional: without one, the
   * servers of one process on the same store object share an in-process relay (see `relayOf`).
   */
  readonly relay?: VolatileRelay
  close(): Promise<void>
}

/**
 * A body as a store keeps it: bytes copied into a plain `Uint8Array` of their own (a Node `Buffer`, a view into a
 * larger buffer or one its owner will reuse become independent bytes); JSON as-is.
 */
export function ownBody(body: Body): Body {
  return body instanceof Uint8Array ? new Uint8Array(body) : body
}

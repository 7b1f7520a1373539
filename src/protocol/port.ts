/**
 * The contract between a tab (`src/client`) and the worker (`src/worker`), carried by Comlink over the worker's
 * MessagePort. Neither side imports the other; both import this file, which names no DOM or worker types.
 *
 * One `connect()` opens one port. The tab calls `WorkerPort.attach` first, handing over a Comlink proxy of its
 * `TabEvents`; every other call acts on the namespace session the port was attached to.
 */
import type { ErrorCode } from './errors.ts'
import type { Body } from './frames.ts'
import type { PresenceEvent, PresenceStateText } from './presence-port.ts'

export type WireState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'failed' | 'closed'

export interface StateInfo {
  state: WireState
  /** Failed connection attempts since the connection last stayed up for `stableAfter`. */
  attempt: number
  /** Wall-clock time (ms since epoch) of the next attempt while waiting in `reconnecting`. */
  nextRetryAt?: number
  /** Why the last connection ended or failed. */
  error?: { code: ErrorCode | 'close'; message: string; closeCode?: number }
}

/** Reconnect and liveness tuning. Every field has a default in the client's `DEFAULTS`. */
export interface ReconnectOptions {
  /**
   * Base of the exponential backoff, ms: retry n (1, 2, …) waits `random(0, min(maxDelay, minDelay·2^(n-1)))`.
   * @default 500
   */
  minDelay: number
  /**
   * Cap of the backoff, ms, applied before the random draw. Must be ≥ `minDelay`.
   * @default 30000
   */
  maxDelay: number
  /**
   * Failed attempts in a row before the state becomes `failed` (until `reconnect()`); `Infinity` never gives up.
   * @default Infinity
   */
  maxRetries: number
  /**
   * An attempt that has not received `welcome` after this many ms is abandoned.
   * @default 10000
   */
  connectTimeout: number
  /**
   * How often an open connection sends `ping`, ms.
   * @default 15000
   */
  heartbeatInterval: number
  /**
   * No frame at all from the server for this long (by the wall clock) means the link is dead, ms.
   * @default 40000
   */
  heartbeatTimeout: number
  /**
   * A connection must stay open this long, ms, before the attempt count resets.
   * @default 5000
   */
  stableAfter: number
}

/** What a tab tells the worker about the session it wants; the first tab of a namespace sets it. */
export interface SessionConfig {
  /** The URL when the tab gave a plain string; with a provider, `TabEvents.dial` answers on each connect. */
  url?: string
  namespace: string
  reconnect: ReconnectOptions
  /** Largest encoded `pub` body accepted by `send()`, in bytes of UTF-8. */
  maxMessageBytes: number
  /** How many recent messages per topic the worker keeps in IndexedDB to replay to tabs without the server. */
  inboxRetention: number
  /** `keep` the socket while every tab is hidden, or `disconnect` after `hiddenGrace` ms (reconnects when one shows). */
  whenHidden: 'keep' | 'disconnect'
  hiddenGrace: number
  /** Log state changes and every frame (token redacted) in the worker's console, prefixed `[tabwire:<namespace>]`. */
  debug: boolean
}

export interface TabInfo {
  /** Unique per tab (per `connect()`). */
  id: string
  /** The Web Lock name held by the tab for its lifetime: its grant to the worker means the tab is gone. */
  lock: string
  /** Whether the tab has a `url` or `token` provider to ask on each (re)connect (see `TabEvents.dial`). */
  dials: boolean
}

/** One message as a subscriber receives it. */
export interface Delivery {
  topic: string
  seq: number
  body: Body
}

/** How a subscription starts and keeps up; both off by default (see the client's `SubscribeOptions`). */
export interface SubscribeMode {
  /** Start at the topic's newest message (the `after` given is ignored), then live ones. */
  latest?: boolean
  /** While the tab is behind (handler busy, tab hidden or frozen), hand it only the newest message. */
  conflate?: boolean
  /** Also hand the tab the topic's volatile messages (`send(..., { durable: false })`), without a seq. */
  volatile?: boolean
}

/** A volatile message as a subscriber receives it: never stored nor numbered, so no `seq`. */
export interface VolatileDelivery {
  topic: string
  body: Body
}

/** How a `request` ended, as the worker tells the tab. `code` is a `TabwireError` code. */
export type RequestOutcome = { ok: true; body: Body } | { ok: false; code: ErrorCode; message: string }

/** The range after a subscriber's cursor is gone: it resumes after `seq`. */
export interface ResetNotice {
  topic: string
  seq: number
  reason: 'retention' | 'epoch' | 'ahead'
}

/** A send as the tab hands it over, checked for size by the tab: JSON already encoded as text, or bytes. */
export interface OutgoingMessage {
  topic: string
  body: string | Uint8Array
}

/**
 * Names one `send` call of one tab (with the tab's id, which the worker knows from `attach`), so that a call whose
 * worker died before answering can be made again on the next worker, which stores it only if the dead one had not.
 */
export interface SendCall {
  /** The tab's call number: 1, 2, 3… in call order. */
  n: number
  /** Every call of this tab below this number has had its answer: the worker may forget them. */
  settledBelow: number
  /** Made before, to a worker that died under it: if that call was stored, answer with its ids and store nothing. */
  retry: boolean
}

/**
 * The URL and token for one attempt, or, when the app's `url` provider answered with something that is no `ws:` or
 * `wss:` URL, why: a mistake in the app that no retry mends, so the worker stops in `failed` (`invalid-url`).
 */
export type DialInfo = { url: string; token?: string } | { invalidUrl: string }

/**
 * What a tab's page saw, forwarded because workers do not see it: online/offline (Chrome fires neither inside
 * workers), visibility, and the Page Lifecycle's freeze/resume (a frozen tab runs no code, so it counts as hidden).
 */
export type BrowserSignal = 'online' | 'offline' | 'visible' | 'hidden' | 'freeze' | 'resume'

/** Calls from the worker into a tab. All but `dial` are fire-and-forget: a dead tab never blocks the worker. */
export interface TabEvents {
  state(info: StateInfo): void
  /**
   * A batch of messages for subscription `sub`, in seq order: contiguous, except for a conflating subscription, which
   * gets one message at a time and whose answer (once its handler has finished) the worker awaits before the next.
   */
  messages(sub: number, msgs: Delivery[]): void | Promise<void>
  reset(sub: number, notice: ResetNotice): void
  /** Volatile messages for subscription `sub`, in the order the server sent them. */
  volatile(sub: number, msgs: VolatileDelivery[]): void
  /** The answer to this tab's request `req` (see `WorkerPort.request`). */
  replied(req: number, outcome: RequestOutcome): void
  /** Cumulative: every message id ≤ `upTo` is acked by the server. */
  acked(upTo: number): void
  /** Cumulative: every message id ≤ `upTo` has been written to the current socket (not yet acked). */
  sent(upTo: number): void
  /**
   * The queue was renumbered: ids ≥ `from` are now `id - delta` (their `acked` promises follow the new ids). Either
   * the server had lost its counter for this client (delta > 0), or it was ahead of everything stored and sends
   * committed while the worker caught up with it moved above it (delta < 0).
   */
  renumbered(from: number, delta: number): void
  /**
   * The server refused these messages for good (`nack`): they were moved to the dead letters and their `acked`
   * rejects. Told before any `acked` that covers their ids.
   */
  dead(letters: DeadLetter[]): void
  /** Messages up to `last` are stored in the namespace's outbox (by any tab): the queue grew. */
  queued(last: number): void
  /** Asked on every (re)connect of a tab that has a provider: the URL to use and the token; neither is stored. */
  dial(): Promise<DialInfo>
  /** News for presence handle `pid` of this tab. */
  presence(pid: number, event: PresenceEvent): void
}

export interface AttachResult {
  state: StateInfo
  /** Highest id acked so far, so sends resolved earlier can settle their `acked` at once. */
  acked: number
  /** The worker's id: it holds the Web Lock `tabwire-worker:<id>` for its lifetime, so a tab learns of its death. */
  worker: string
}

/** What `wire.stats()` reports, as the worker this tab is attached to sees it. */
export interface WorkerStats {
  state: StateInfo
  /** Messages of the namespace stored but not yet acked. */
  pending: number
  /** Highest outbox id acked by the server. */
  acked: number
  /** Last seq per followed topic; known only to the worker that owns the socket (empty on a follower). */
  cursors: Record<string, number>
  /**
   * Per topic this namespace is present in: `tabs`, the presence handles joined (every worker's tabs); `members`, the
   * members in the server's last list (0 until it came). Known only to the worker that owns the socket ({} on a
   * follower).
   */
  presence: Record<string, { tabs: number; members: number }>
  /** Tabs attached to this worker for the namespace. */
  tabs: number
  /** Whether this worker owns the namespace's socket (others relay to it). */
  owner: boolean
  worker: { id: string; version: string; kind: 'shared' | 'dedicated' }
}

/** Calls from a tab into the worker. */
/** One message of the namespace's outbox: stored, not yet acked by the server. */
export interface OutboxEntry {
  /** Its id, as `send()` resolved it. */
  id: number
  topic: string
  /** Size of the body as stored: UTF-8 bytes of its JSON text, or its byte length. */
  bytes: number
  /** When it was stored, ms since epoch (absent for a message stored by a tabwire older than `outbox.list()`). */
  queuedAt?: number
  /** `sent`: written to the current connection, waiting for the server's ack; `queued`: waiting for a connection. */
  state: 'queued' | 'sent'
}

/** A message the server refused for good: out of the outbox, kept in `wire.outbox.dead()` until `purge()`. */
export interface DeadLetter {
  id: number
  topic: string
  /** Size of the body as stored (see `OutboxEntry.bytes`). */
  bytes: number
  /** When it was stored, ms since epoch (absent for a message stored by a tabwire older than `outbox.list()`). */
  queuedAt?: number
  /** When the refusal arrived, ms since epoch. */
  deadAt: number
  /** The server's reason: `forbidden`, `too-large` or `invalid` from the reference server; any string from others. */
  code: string
  message: string
}

/**
 * Where one message of the namespace stands, by id (also an id from before a reload): `queued` (stored, waiting for
 * a connection), `sent` (written to the current connection, not yet acked), `acked`, `dead` (refused for good:
 * `refusal` says why) or `unknown` (no message of this namespace ever had this id).
 */
export type OutboxStatus =
  | { id: number; state: 'queued' | 'sent' | 'acked' | 'unknown' }
  | { id: number; state: 'dead'; refusal: { id: number; code: string; message: string } }

export interface WorkerPort {
  attach(config: SessionConfig, tab: TabInfo, events: TabEvents): Promise<AttachResult>
  /**
   * Stores the messages (one strict transaction) and returns their ids, in order. With `call`, the worker remembers
   * the call until the tab says it is settled, and a `retry` of a call already stored answers with the stored ids.
   */
  send(messages: OutgoingMessage[], call?: SendCall): Promise<number[]>
  /**
   * `sub` is chosen by the tab, so messages that overtake this call's answer can be routed. `after`: the last seq
   * the tab has (0: everything the worker and server still hold); ignored with `mode.latest`.
   */
  subscribe(sub: number, topic: string, after: number, mode?: SubscribeMode): Promise<void>
  unsubscribe(sub: number): Promise<void>
  /**
   * Volatile messages: written to the open socket at once, never stored. Resolves `true` when the connection is open
   * (they are written, or handed to the owning worker), `false` when not (they are dropped).
   */
  sendVolatile(messages: OutgoingMessage[]): Promise<boolean>
  /**
   * Asks the server's handler of `topic`; `req` is chosen by the tab, and the answer comes as `TabEvents.replied`
   * (never as this call's result, so a long wait is no stuck call). Waits for a connection for up to `timeout` ms.
   */
  request(req: number, topic: string, body: string | Uint8Array, timeout: number): Promise<void>
  /** The tab gave up on request `req` (its signal aborted): no `replied` follows. */
  cancelRequest(req: number): void
  pending(): Promise<number>
  reconnect(): Promise<void>
  purge(): Promise<void>
  signal(signal: BrowserSignal): void
  stats(): Promise<WorkerStats>
  /** The namespace's queued messages (every tab's), oldest first, at most `limit`. */
  outboxList(limit: number): Promise<OutboxEntry[]>
  /** Where the message `id` stands (see `OutboxStatus`). */
  outboxStatus(id: number): Promise<OutboxStatus>
  /** The namespace's dead letters, oldest first, at most `limit`. */
  outboxDead(limit: number): Promise<DeadLetter[]>
  /** This tab leaves; the session and its socket stay for the other tabs. */
  detach(): Promise<void>
  /**
   * Joins `topic`'s presence as handle `pid` (chosen by the tab) with `state`. Every tab of the namespace that joins a
   * topic makes one member together; the last state any of them set is the member's.
   */
  presenceJoin(pid: number, topic: string, state: PresenceStateText): Promise<void>
  presenceUpdate(pid: number, state: PresenceStateText): Promise<void>
  /** This handle leaves; when it was the topic's last one in the namespace, the member leaves at once. */
  presenceLeave(pid: number): Promise<void>
}

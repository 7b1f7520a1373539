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
  /**
   * ms the namespace (socket, owner lock, the last tab's subscriptions) outlives its last tab in a worker that keeps
   * running, so a reload or the next tab attaches to a live connection; 0 ends it with the tab.
   */
  lastTabGrace: number
  /** Log state changes and every frame (token redacted), in the worker's console and its tabs' (`TabEvents.log`). */
  debug: boolean
}

export interface TabInfo {
  /** Unique per tab (per `connect()`). */
  id: string
  /** The Web Lock name held by the tab for its lifetime: its grant to the worker means the tab is gone. */
  lock: string
  /** Whether the tab has a `url` or `token` provider to ask on each (re)connect (see `TabEvents.dial`). */
  dials: boolean
  /** The tab takes `bodiesJson` (a tab of an older release leaves this out, and is sent `messages` only). */
  jsonBodies?: true
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
  /** `deliver: 'one-tab'`: each message to one of the namespace's tabs subscribed so (see `OneTabGroup`). */
  oneTab?: boolean
}

/**
 * One change of a tab's subscriptions, as `WorkerPort.subscriptions` takes them: a `subscribe` (the arguments of
 * `WorkerPort.subscribe`) or an `unsubscribe` of `sub`.
 */
export type SubscriptionChange =
  | { sub: number; topic: string; after: number; mode?: SubscribeMode }
  | { sub: number; unsubscribe: true }

/** How one change of a batch ended: `null` when it took effect, else the error it alone raised. */
export type ChangeOutcome = { code: ErrorCode; message: string } | null

/** The most changes one `WorkerPort.subscriptions` call takes: an answer stays bounded however many a task makes. */
export const MAX_SUBSCRIPTION_CHANGES = 10_000

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
  /** Dropped unsent once this passes, ms since epoch (`send(…, { ttl })` or `{ expiresAt }`). */
  expiresAt?: number
}

/** Why a queued message was dropped before it was ever written: `cancel(id)`, or its `ttl`/`expiresAt` passed. */
export type DropCode = 'cancelled' | 'expired'

/** A queued message dropped before it was ever written (`TabEvents.dropped`); its `acked` rejects with `code`. */
export interface DroppedMessage {
  id: number
  topic: string
  code: DropCode
  /** When it expired (code `expired`), ms since epoch. */
  expiresAt?: number
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

/**
 * Calls from the worker into a tab. All but `dial` are fire-and-forget: a dead tab never blocks the worker. A tab
 * that hands `attach` an event port gets them one-way there (`EventPost`), except the ones the worker awaits
 * (`dial`, and `messages` of a conflating or one-tab subscription), which stay Comlink calls on that same port.
 */
export interface TabEvents {
  state(info: StateInfo): void
  /**
   * A batch of messages for subscription `sub`, in seq order: contiguous, except for a conflating subscription, which
   * gets one message at a time and whose answer (once its handler has finished) the worker awaits before the next.
   */
  messages(sub: number, msgs: Delivery[]): void | Promise<void>
  /**
   * `messages` of `topic` with seqs `first`, `first + 1`, …, one per body of `json` (the JSON text of the bodies), on
   * a tab's event port when the tab said it takes it: the worker serializes a batch that several tabs get once, and
   * posts each the same text, instead of one structured clone of the objects per tab; the topic and the seqs, which
   * a contiguous batch of one topic implies, are not repeated per message. Batches with a binary body, or that are not
   * such a run, still come as `messages`.
   */
  bodiesJson(sub: number, topic: string, first: number, json: string): void
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
  /** Queued messages dropped before they were ever written (cancelled or expired): their `acked` rejects. */
  dropped(messages: DroppedMessage[]): void
  /** Asked on every (re)connect of a tab that has a provider: the URL to use and the token; neither is stored. */
  dial(): Promise<DialInfo>
  /** News for presence handle `pid` of this tab. */
  presence(pid: number, event: PresenceEvent): void
  /**
   * The worker's log lines, for the tab's console (a SharedWorker's own console is hard to find, in Safari and
   * Firefox above all): `warn`/`error` always, `debug` only with the `debug` option. Batched per task, at most
   * `LOG_LINES_PER_SECOND` lines a second, then one line says how many were dropped.
   */
  log(lines: WorkerLogLine[]): void
}

/** The events the worker posts one-way on a tab's event port: every `TabEvents` call but `dial`. */
export type OneWayEventName = Exclude<keyof TabEvents, 'dial'>

/** One event as posted: its name and its arguments, as the `TabEvents` method takes them. */
export type OneWayEvent = { [K in OneWayEventName]: [K, ...Parameters<TabEvents[K]>] }[OneWayEventName]

/**
 * One message on a tab's event port that needs no answer: the one-way events of one task of the worker, in the order
 * they happened. Comlink's own messages (the awaited calls) share the port, so the order holds across both kinds.
 */
export interface EventPost {
  oneWay: OneWayEvent[]
}

/**
 * The tab's end of its event channel as `attach` receives it: a `MessagePort` (named by shape: this file names no DOM
 * or worker types). A worker of an older release ignores it and calls the `events` proxy instead.
 */
export interface EventPort {
  postMessage(message: unknown): void
  close(): void
}

/** One line of the worker's log. `text` carries the worker's tag: `[tabwire worker ns=<namespace> v=<version>]`. */
export interface WorkerLogLine {
  level: 'debug' | 'warn' | 'error'
  text: string
  /** When it was logged, ms since epoch. */
  at: number
}

export interface AttachResult {
  state: StateInfo
  /** Highest id acked so far, so sends resolved earlier can settle their `acked` at once. */
  acked: number
  /** The worker's id: it holds the Web Lock `tabwire-worker:<id>` for its lifetime, so a tab learns of its death. */
  worker: string
  /**
   * The worker takes `WorkerPort.subscriptions`. A worker of an older release (c886ca9 and before) has no such method
   * and leaves this out: the tab then makes one `subscribe` or `unsubscribe` call per change.
   */
  subscriptions?: true
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

/** A state the worker went through, and when (ms since epoch). */
export type StateRecord = StateInfo & { at: number }

/**
 * What `wire.inspect()` reports of the namespace, as the worker this tab is attached to sees it. Parts only the
 * worker that owns the socket knows (`topics`, presence `members`) are empty or `null` on a follower.
 */
export interface WorkerInspection {
  /** The worker this tab is attached to. */
  worker: WorkerStats['worker']
  /** `owner`: this worker holds the namespace's socket; `follower`: it relays to the worker that does. */
  role: 'owner' | 'follower'
  /** The worker that owns the socket (this one, or the last owner a follower heard of); `null` until one is known. */
  owner: { id: string; version: string | null } | null
  /** The tabs attached to this worker for the namespace. */
  tabs: {
    count: number
    /** Each tab's id (one per `connect()`), in attach order. */
    ids: string[]
    /** How many are visible and not frozen. */
    visible: number
  }
  /** The last `MAX_STATE_HISTORY` (20) states, oldest first, the current one last. */
  states: StateRecord[]
  outbox: {
    /** Messages stored and not yet acked (every tab's). */
    count: number
    /** Age of the oldest stored message, ms; `null` when none is stored (or it predates `queuedAt`). */
    oldestAge: number | null
    /** Bytes of the stored bodies, summed over at most the oldest 10,000 messages (`complete` says if that is all). */
    bytes: number
    complete: boolean
    /** Dead letters kept (the server refused them for good), counted up to 10,000. */
    dead: number
    /** Highest id acked by the server. */
    acked: number
  }
  /**
   * Per followed topic: `seq`, the last seq the worker took in; `head`, the newest seq the server has shown on this
   * connection (`null` until it shows one); `lag`, `head - seq` (`null` while `head` is). Owner only.
   */
  topics: Record<string, { seq: number; head: number | null; lag: number | null }>
  /**
   * Per topic joined by a tab of this worker: `handles`, this worker's presence handles on it; `members`, the size of
   * the list the server last sent (`null` before it came, and on a follower).
   */
  presence: Record<string, { handles: number; members: number | null }>
  /** Since this worker took the namespace up, for this worker's tabs. */
  counters: {
    /** Volatile messages handed to the open socket (or its owner), and dropped because it was not open. */
    volatileSent: number
    volatileDropped: number
    /** Volatile messages delivered to this worker's subscriptions (one per message and subscription). */
    volatileDelivered: number
    /** Requests asked; answered by the handler (`ok`); ended otherwise (error, timeout, disconnect); still waiting. */
    requests: number
    requestsOk: number
    requestsFailed: number
    requestsPending: number
  }
  /** The last `MAX_RECENT_ERRORS` (20) `warn` and `error` lines of the worker's log, oldest first. */
  errors: WorkerLogLine[]
}

/** One message of the namespace's outbox: stored, not yet acked by the server. */
export interface OutboxEntry {
  /** Its id, as `send()` resolved it. */
  id: number
  topic: string
  /** Size of the body as stored: UTF-8 bytes of its JSON text, or its byte length. */
  bytes: number
  /** When it was stored, ms since epoch (absent for a message stored by a tabwire older than `outbox.list()`). */
  queuedAt?: number
  /** When it expires unless written by then (`send(…, { ttl })` or `{ expiresAt }`), ms since epoch. */
  expiresAt?: number
  /** `sent`: written to the current connection, waiting for the server's ack; `queued`: waiting for a connection. */
  state: 'queued' | 'sent'
  /** The body as sent (JSON, or bytes as a `Uint8Array`): only when `list()` was asked for `bodies`. */
  body?: Body
}

/** What `outboxList` selects beyond its limit (see `WireOutbox.list`). */
export interface OutboxListOptions {
  /** Only ids above this one. */
  after?: number | undefined
  /** Only messages of this topic. */
  topic?: string | undefined
  /** Include each body (and stop at `MAX_LIST_BODY_BYTES` of them). */
  bodies?: boolean | undefined
}

/** The most body bytes one `outboxList` answer with `bodies` carries (at least one entry, whatever its size). */
export const MAX_LIST_BODY_BYTES = 8 << 20

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
 * `refusal` says why), `cancelled` or `expired` (dropped before it was ever written) or `unknown` (no message of this
 * namespace ever had this id).
 */
export type OutboxStatus =
  | { id: number; state: 'queued' | 'sent' | 'acked' | 'unknown' | DropCode }
  | { id: number; state: 'dead'; refusal: { id: number; code: string; message: string } }

/** Calls from a tab into the worker. */
export interface WorkerPort {
  /**
   * `events` serves a worker of an older release (and is let go of by this one); `eventPort` is where this worker
   * sends every `TabEvents` call, one-way where nobody awaits the answer. A tab of an older release hands no port:
   * it gets Comlink calls on `events`, as before.
   */
  attach(config: SessionConfig, tab: TabInfo, events: TabEvents, eventPort?: EventPort): Promise<AttachResult>
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
   * The subscribes and unsubscribes a tab made in one task, in one call, applied in order: the answer has one
   * outcome per change, so a bad one fails alone. At most `MAX_SUBSCRIPTION_CHANGES`; a call that is no such list, or
   * made by a tab that is not attached, rejects as a whole.
   */
  subscriptions(changes: SubscriptionChange[]): Promise<ChangeOutcome[]>
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
  /** A snapshot of the namespace as this worker sees it (see `WorkerInspection`). */
  inspect(): Promise<WorkerInspection>
  /** The namespace's queued messages (every tab's), oldest first, at most `limit`. */
  outboxList(limit: number, options?: OutboxListOptions): Promise<OutboxEntry[]>
  /** Where the message `id` stands (see `OutboxStatus`). */
  outboxStatus(id: number): Promise<OutboxStatus>
  /** The namespace's dead letters, oldest first, at most `limit`. */
  outboxDead(limit: number): Promise<DeadLetter[]>
  /** Drops queued message `id` unless it was written to a socket (`already-sent`); see `WireOutbox.cancel`. */
  outboxCancel(id: number): Promise<void>
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

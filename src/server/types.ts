import type { IncomingMessage } from 'node:http'
import type { Body } from '../protocol/frames.ts'
import type { PresenceMember } from '../protocol/presence-frames.ts'
import type { PresenceRegistry } from './presence.ts'
import type { Authorize, RateLimitOptions, Validate } from './guard.ts'
import type { AdmissionOptions } from './admission.ts'
import type { JwtOptions } from './jwt.ts'
import type { RequestHandler } from './requests.ts'
import type { Store, StoredMessage, TopicHead } from './store.ts'

/** Who a connection belongs to: dedup and acks are bound to `user`, never to the client id alone. */
export interface Identity {
  user: string
  /**
   * When the token stops being valid, ms since the Unix epoch (this server's clock). The connection is closed with
   * 4401 then, unless the client sent a fresh token (`auth`) first; the client is told the time left in
   * `welcome.expiresIn`. Absent: the connection's identity does not expire. `jwt` sets it from the token's `exp`.
   */
  expiresAt?: number
}

export interface ServerOptions {
  /** Port to listen on; 0 picks a free one (read it back from `server.port`). */
  port: number
  /**
   * Host to bind; `'0.0.0.0'` behind a proxy or in a container.
   * @default '127.0.0.1'
   */
  host?: string
  /** Default: a new in-memory store. */
  store?: Store
  /**
   * Turns a hello's token into an identity. Throw `AuthError` with `expired: true` for 4401 (the client fetches a
   * fresh token and retries) or without it for 4403 (the client stops). Return `expiresAt` to have the connection
   * closed with 4401 when the token runs out; before then the client sends a fresh token on the open connection
   * (`auth`), which this hook checks too: it must name the same user. Default: everyone is user `anonymous`.
   */
  authenticate?: (token: string | undefined, req: IncomingMessage) => Identity | Promise<Identity>
  /**
   * JWT authentication instead of a hand-written `authenticate`: tokens signed with an HS256 `secret` or a key from
   * `jwksUrl`, the user being the token's `sub` (see `jwtAuthenticate`). Giving both `jwt` and `authenticate` is an
   * error.
   */
  jwt?: JwtOptions
  /**
   * Largest incoming WebSocket message, bytes (1 MiB); larger closes with 4413.
   * @default 1048576
   */
  maxFrameBytes?: number
  /**
   * Offer permessage-deflate (RFC 7692) to clients that ask for it (browsers do): messages from 1 KiB up are
   * compressed, each on its own, with a 2 KiB window and zlib level 1. `maxFrameBytes` applies to the inflated
   * message, so a small compressed bomb still closes with 4413. Off by default: on chat JSON (BENCHMARKS.md) it cut
   * ~2 KB messages to about half their bytes for four to five times the server's CPU, left ~200 B ones as they were,
   * and every socket whose client compresses (browsers do) holds an inflate stream: 15–25 KB more per connection.
   * @default false
   */
  perMessageDeflate?: boolean
  /**
   * May `user` publish to (`pub`) or follow (`sub`, also `fetch`) `topic`? Asked per topic of each pub message and
   * per sub. A pub it denies (`false`) is refused for good, that one message only: it is not appended, the client's
   * counter moves past it and the client is told `nack {id, code: 'forbidden'}` (its `acked` rejects, the message
   * goes to `wire.outbox.dead()`); the pubs after it go on. A throw while judging a pub closes the connection with
   * 1011 instead (nothing from that message on is applied; the client resends), so a failing lookup never
   * dead-letters a message. A denied sub or fetch (a throw counts as a denial) gets `error {code: 'forbidden'}` and
   * no messages; the connection stays. Default: everything allowed.
   */
  authorize?: Authorize
  /**
   * Checks each pub's body before it is stored (after `authorize`). `true` accepts it; `false` or a string (the
   * reason, passed on to the client) refuses that one message for good, like a denied pub: `nack {id, code:
   * 'invalid', message}`, the counter moves past it, the pubs after it go on. A throw closes the connection with 1011
   * (the client resends), so a failing check never dead-letters a message. Also asked for a pub resent after an
   * unseen ack. Default: every body accepted.
   */
  validate?: Validate
  /**
   * Limit on incoming frames per (user, client id): a token bucket of `burst`, refilled at `messagesPerSecond`, that
   * every frame draws one token from (a batch of 100 frames costs 100) and that outlives the connection (a reconnect
   * finds it as it was left; it is forgotten once full again). A message arriving while the bucket holds less than
   * one token is not processed: the connection closes with 4429 and `retry-after=<ms>` (the time until it holds one
   * again); unacked pubs are resent after that wait. A message is let in whole whenever the bucket holds a token, and
   * may leave it in debt, so a batch larger than `burst` is not refused forever. Per node. Default: no limit.
   */
  rateLimit?: RateLimitOptions
  /**
   * Most topics one connection may follow at once (hello's subs included; re-subscribing a topic does not count
   * twice). One more closes the connection: `error {code: 'too-many-subscriptions'}`, then 4400. Default: no cap.
   */
  maxSubscriptions?: number
  /**
   * Origins (`https://app.example.com`, exactly as browsers send the `Origin` header) allowed to open a WebSocket; any
   * other origin, or none, gets HTTP 403 on the upgrade. Default: every origin.
   */
  allowedOrigins?: string[]
  /**
   * A connection that sends nothing (not even ping) for this long is closed with 4408, ms.
   * @default 60000
   */
  idleTimeout?: number
  /**
   * Messages per `range` frame and per replay read (fewer when they are large: a read is sized to about 256 KiB).
   * @default 500
   */
  replayBatch?: number
  /**
   * Admission control for reconnect storms: new connections beyond a token bucket (`burst`, refilled at
   * `ratePerSecond`) are closed with 4429 and reason `retry-after=<ms>`, a wait the client honours. Each one turned
   * away is told a later slot than the last, so they come back spread out. Default: no limit.
   */
  admission?: AdmissionOptions
  /**
   * How long a member stays after its connection is gone, ms: a reload or a short drop that reconnects (to any node)
   * within it takes the member over, and nobody sees a leave. A `pleave` (the client's `leave()`, its last tab
   * leaving) removes it at once.
   * @default 10000
   */
  presenceGrace?: number
  /**
   * Topics one connection may be a presence member of at once; one more closes it: `error too-many-presences`, 4400.
   * @default 32
   */
  maxPresences?: number
  /**
   * Largest presence state, bytes of its JSON; larger closes the connection: `error state-too-large`, 4400.
   * @default 4096
   */
  maxPresenceStateBytes?: number
  /**
   * Presence changes (joins, state updates, leaves) one connection may make per second, after a burst of
   * `maxPresences + presenceUpdatesPerSecond`; faster ones are not refused but conflated per topic (the newest wins).
   * @default 10
   */
  presenceUpdatesPerSecond?: number
  /**
   * Where members are kept: `createRedisPresence` shares them between nodes. Default: in this process's memory.
   */
  presenceRegistry?: PresenceRegistry
  /**
   * Answers `wire.request(topic, body)` for every topic without a handler of its own (`server.handle`). What it
   * returns goes back to the asking tab; what it throws reaches it as `TabwireError` code `remote` with the message.
   * With neither, a request gets code `not-found`. `authorize` is asked first, with action `request`.
   */
  onRequest?: RequestHandler
  /**
   * A request handler that has not answered after this many ms: the asker gets code `timeout`, the handler's signal
   * aborts.
   * @default 30000
   */
  requestTimeout?: number
  /**
   * Request handlers one connection may have running at once; further requests wait (and the connection stops
   * reading meanwhile), so a request flood cannot pile up work.
   * @default 16
   */
  maxConcurrentRequests?: number
  /**
   * Largest reply body, bytes (its JSON text in UTF-8, or its bytes); a larger answer reaches the asker as code
   * `too-large`.
   * @default 1048576
   */
  maxReplyBytes?: number
  /**
   * Prometheus metrics: connections, frames and bytes each way, pubs appended and deduplicated, closes by code, store
   * latency, bytes waiting. `true` serves them at `GET /metrics` on the server's own port; `{ path }` elsewhere,
   * `{ path: null }` nowhere (read `server.metrics()` and serve them yourself); `prefix` names the series. Off by
   * default: the port is public, and the numbers describe the load.
   */
  metrics?: boolean | MetricsOptions
  /**
   * The HTTP outbox (docs/PROTOCOL.md §17): `true` takes `POST /outbox` on the server's own port, a string another
   * path. A client's queued pubs in one request, for a drainer with no WebSocket (an app's service worker, through
   * `tabwire/sw`), under the same rules as `pub` frames: `authenticate` (the `Authorization: Bearer` token, or what
   * the hook reads from the request, such as a cookie), `authorize`, `validate`, `rateLimit`, `maxFrameBytes` for the
   * body, and the (user, client, id) dedup atomic with the append. `allowedOrigins` applies too. Default: off.
   */
  httpOutbox?: boolean | string
}

export interface DisconnectOptions {
  /**
   * 4403 (forbidden: the client stops) or 4401 (token expired: the client fetches a fresh token and reconnects).
   * @default 4403
   */
  code?: 4401 | 4403
  /**
   * The close reason the client sees (cut to 123 bytes).
   * @default 'disconnected by the server'
   */
  reason?: string
}

export interface MetricsOptions {
  /** @default '/metrics' */
  path?: string | null
  /** @default 'tabwire_' */
  prefix?: string
}

export interface TabwireServer {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number
  readonly store: Store
  /** Open WebSocket connections right now. */
  connections(): number
  /** Connections subscribed to `topic` on this node right now (read-only; for tests and monitoring). */
  subscribers(topic: string): number
  /** Who is present in `topic` right now, on every node sharing the presence registry. */
  presence(topic: string): Promise<PresenceMember[]>
  /**
   * A server-side producer: appends to the topic's log and fans out to subscribers on every node. A `Uint8Array` body
   * is stored as bytes (copied) and reaches subscribers in a binary message. A JSON body nested deeper than
   * `MAX_BODY_DEPTH` (100) rejects with a `RangeError`, as a client's `pub` would be refused.
   */
  publish(topic: string, body: Body): Promise<StoredMessage>
  /**
   * Compacts a topic's log: appends `snapshot` (as `publish` does) and then drops every message up to `through`, the
   * last seq the snapshot stands for. Messages appended after `through` stay, so a snapshot built from a read that a
   * newer pub overtook loses nothing. Subscribers following live just get the snapshot as a message; one behind
   * `through` (or starting from 0) gets a `retention` reset, then the messages after `through`, the snapshot among
   * them. Resolves with the snapshot's message and the log's head after the trim. `through` must be an integer ≥ 0
   * below the snapshot's seq (a `RangeError` otherwise, and nothing is appended).
   */
  compact(topic: string, through: number, snapshot: Body): Promise<{ msg: StoredMessage; head: TopicHead }>
  /**
   * Answers requests for `topic` with `fn` (instead of `onRequest`); a later `handle` of the same topic replaces it.
   * Returns the function that removes it.
   */
  handle(topic: string, fn: RequestHandler): () => void
  /**
   * Bytes waiting to be sent: `now`, summed over open connections, and `peak`, the most ever waiting for one
   * connection (queued in the server plus ws's buffer; the kernel's socket buffer not included). For monitoring and
   * for tests of the output bounds.
   */
  outputBytes(): { now: number; peak: number }
  /**
   * Ends every session of `user` on every node sharing the store (Redis: on the channel of the session claims), with close code
   * `code`: 4403 (the client stops in `failed` until the app calls `wire.reconnect()`), or 4401 (the client asks its
   * app for a fresh token and reconnects; `authenticate` decides again). Connections still in their hello when the
   * call arrives are not reached. Resolves once this node's sessions are closing and the other nodes are told.
   */
  disconnect(user: string, options?: DisconnectOptions): Promise<void>
  /** The Prometheus text exposition of the server's metrics; rejects with a TypeError when `metrics` is off. */
  metrics(): Promise<string>
  /**
   * Stops listening and closes every connection with 1012; after 1 s every socket still open is cut, whatever state
   * it is in (a WebSocket, a handshake in flight, a peer that never sent a byte). The store stays open.
   */
  stop(): Promise<void>
  /** Listens again on the same port after `stop()`. */
  start(): Promise<void>
  /** `stop()`, then closes the store. */
  close(): Promise<void>
}

import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'
import { Admission } from './admission.ts'
import { anonymous } from './auth.ts'
import { jwtAuthenticate } from './jwt.ts'
import { Connection } from './connection.ts'
import { checkMaxSubscriptions, checkRateLimit, refuseOrigin } from './guard.ts'
import { createMemoryStore } from './memory-store.ts'
import { createMetrics, METRICS_PATH, METRICS_PREFIX } from './metrics.ts'
import { NO_OBSERVER, timedStore } from './observer.ts'
import { RateLimits } from './rate-limits.ts'
import { MAX_BODY_DEPTH, nestsDeeperThan } from '../protocol/depth.ts'
import { checkPresenceLimits } from './presence-limits.ts'
import { createMemoryPresence, PresenceHub } from './presence.ts'
import { Sessions } from './sessions.ts'
import { TabwireSocket } from './socket.ts'
import { Topics } from './topics.ts'
import type { DisconnectOptions, ServerOptions, TabwireServer } from './types.ts'
import { Handlers } from './requests.ts'
import { serveOutbox } from './http-outbox.ts'
import { OUTBOX_PATH } from '../protocol/outbox-http.ts'
import { relayOf } from './volatile-relay.ts'
import { deflateOptions } from './deflate.ts'

/** The values of `ServerOptions`' `@default`s (docs/server.md's table is checked against both). */
export const DEFAULTS = {
  host: '127.0.0.1',
  maxFrameBytes: 1 << 20,
  idleTimeout: 60_000,
  replayBatch: 500,
  presenceGrace: 10_000,
  maxPresences: 32,
  maxPresenceStateBytes: 4_096,
  presenceUpdatesPerSecond: 10,
  requestTimeout: 30_000,
  maxConcurrentRequests: 16,
  maxReplyBytes: 1 << 20,
  perMessageDeflate: false,
}

/** `DisconnectOptions`' `@default`s. */
const DISCONNECT_DEFAULTS = { code: CloseCode.Forbidden, reason: 'disconnected by the server' }

/** How long `stop()` lets clients answer the 1012 close before cutting their sockets. */
const STOP_GRACE_MS = 1_000

/**
 * The HTTP this server speaks is a WebSocket handshake (a few hundred bytes), metrics, the HTTP outbox (at most
 * `maxFrameBytes` of body) or the 426 answer: a peer that has not sent its headers within 10 s, or a whole request
 * within 10 s, is holding a socket, not making a request. Node checks every 2 s.
 */
const HTTP_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 10_000, connectionsCheckingInterval: 2_000 }

/** A socket's error ends it; the handshake or the WebSocket that owns it reports what matters. */
function ignoreSocketError(): void {}

function authenticatorFor(options: ServerOptions): NonNullable<ServerOptions['authenticate']> {
  if (options.jwt && options.authenticate)
    throw new TypeError('createServer: give either `jwt` or `authenticate`, not both (`jwt` is an authenticate hook)')
  if (options.jwt) return jwtAuthenticate(options.jwt)
  return options.authenticate ?? anonymous
}

/** `server.disconnect`'s arguments, checked: a typo in a backend's call must not close with a code clients misread. */
function disconnectCall(user: string, options: DisconnectOptions): { code: number; reason: string } {
  if (typeof user !== 'string') throw new TypeError('disconnect(user): user must be a string')
  const code = options.code ?? DISCONNECT_DEFAULTS.code
  if (code !== CloseCode.AuthExpired && code !== CloseCode.Forbidden)
    throw new RangeError(`disconnect: code must be 4401 or 4403, got ${String(code)}`)
  return { code, reason: options.reason ?? DISCONNECT_DEFAULTS.reason }
}

/**
 * The reference server. One HTTP server carries the WebSocket upgrades; it can stop and start again on the same port
 * (what a restart looks like to clients) while the store, and so every log and dedup counter, stays.
 */
export async function createServer(options: ServerOptions): Promise<TabwireServer> {
  const host = options.host ?? DEFAULTS.host
  const connections = new Set<Connection>()
  const pendingBytes = (): number => [...connections].reduce((sum, c) => sum + c.pendingBytes, 0)
  const metricsOptions = options.metrics === true ? {} : options.metrics || undefined
  const metrics = metricsOptions && createMetrics(metricsOptions.prefix ?? METRICS_PREFIX, pendingBytes)
  const metricsPath = metricsOptions && metricsOptions.path !== null ? (metricsOptions.path ?? METRICS_PATH) : undefined
  const observer = metrics?.observer ?? NO_OBSERVER
  const ownStore = options.store ?? createMemoryStore()
  // Only a server with metrics pays for the timing proxy.
  const store = metrics ? timedStore(ownStore, observer) : ownStore
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULTS.maxFrameBytes
  const topics = new Topics()
  const presenceLimits = {
    grace: options.presenceGrace ?? DEFAULTS.presenceGrace,
    maxPresences: options.maxPresences ?? DEFAULTS.maxPresences,
    maxStateBytes: options.maxPresenceStateBytes ?? DEFAULTS.maxPresenceStateBytes,
    updatesPerSecond: options.presenceUpdatesPerSecond ?? DEFAULTS.presenceUpdatesPerSecond,
  }
  checkPresenceLimits(presenceLimits)
  const presence = new PresenceHub(options.presenceRegistry ?? createMemoryPresence())
  // The store as given, not its timing proxy: servers sharing one store object share its in-process relay.
  const relay = relayOf(ownStore)
  const handlers = new Handlers(options.onRequest)
  const admission = options.admission ? new Admission(options.admission) : undefined
  const context = {
    hellos: admission,
    store,
    topics,
    sessions: new Sessions(store.sessionClaims),
    authenticate: authenticatorFor(options),
    maxFrameBytes,
    idleTimeout: options.idleTimeout ?? DEFAULTS.idleTimeout,
    replayBatch: options.replayBatch ?? DEFAULTS.replayBatch,
    authorize: options.authorize,
    validate: options.validate,
    rateLimits: options.rateLimit ? new RateLimits(options.rateLimit) : undefined,
    maxSubscriptions: options.maxSubscriptions,
    meter: { peak: 0 },
    observer,
    presence,
    presenceLimits,
    relay,
    handlers,
    requestLimits: {
      timeout: options.requestTimeout ?? DEFAULTS.requestTimeout,
      maxConcurrent: options.maxConcurrentRequests ?? DEFAULTS.maxConcurrentRequests,
      maxReplyBytes: options.maxReplyBytes ?? DEFAULTS.maxReplyBytes,
    },
  }
  if (options.rateLimit) checkRateLimit(options.rateLimit)
  checkMaxSubscriptions(options.maxSubscriptions)
  const allowedOrigins = options.allowedOrigins ? [...options.allowedOrigins] : undefined
  const outboxPath = options.httpOutbox === true ? OUTBOX_PATH : options.httpOutbox || undefined
  const outboxContext = { ...context, allowedOrigins }
  // Fan-out comes from the store only, so every node sharing it delivers the same messages the same way.
  const unlistenAppends = store.onAppend((msg) => topics.dispatch(msg))
  const unlistenVolatile = relay.listen((msg) => topics.relay(msg))
  const unlisten = () => {
    unlistenAppends()
    unlistenVolatile()
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    WebSocket: TabwireSocket,
    perMessageDeflate: (options.perMessageDeflate ?? DEFAULTS.perMessageDeflate) && deflateOptions(),
  })
  const http = createHttpServer(HTTP_TIMEOUTS, (req, res) => {
    if (metrics && metricsPath !== undefined && req.method === 'GET' && req.url?.split('?')[0] === metricsPath) {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      )
      return
    }
    if (outboxPath !== undefined && req.url?.split('?')[0] === outboxPath) {
      serveOutbox(req, res, outboxContext).catch((error: unknown) => {
        console.error('tabwire: an outbox request failed', error)
        if (!res.headersSent) res.writeHead(500).end()
      })
      return
    }
    res.writeHead(426, { 'content-type': 'text/plain' }).end('tabwire: WebSocket only\n')
  })
  // Every raw socket, from accept to close: what `stop()` cuts when a peer never finishes (or never starts) a request.
  const sockets = new Set<Socket>()
  http.on('connection', (socket: Socket) => {
    // Node's HTTP server drops its own error listener when it hands a socket to 'upgrade': a peer resetting the
    // connection before ws attaches one (during an origin refusal, say) would then be an uncaught ECONNRESET. This
    // listener is added before anything is written and stays for the socket's life.
    socket.on('error', ignoreSocketError)
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  http.on('upgrade', (req, socket, head) => {
    if (refuseOrigin(allowedOrigins, req, socket)) return
    wss.handleUpgrade(req, socket, head, (ws) => {
      // An upgrade that completes while stop() runs would escape its 1012 round: it gets its own.
      if (!listening) {
        observer.closed(CloseCode.ServiceRestart)
        return ws.close(CloseCode.ServiceRestart, 'server restart')
      }
      // Shed a reconnect storm before it costs a hello, a store read and a replay: the handshake has to finish
      // anyway, since a browser sees a close code and reason only on an open WebSocket (an HTTP 429 reads as 1006).
      const verdict = admission?.take()
      if (verdict && !verdict.admit) {
        observer.closed(CloseCode.RateLimited)
        return ws.close(CloseCode.RateLimited, `retry-after=${verdict.retryAfterMs}`)
      }
      const connection = new Connection(ws, req, context)
      connections.add(connection)
      observer.connections(1)
      void connection.done.then(() => {
        connections.delete(connection)
        observer.connections(-1)
      })
    })
  })

  let port = options.port
  let listening = false

  async function start(): Promise<void> {
    if (listening) return
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject)
      http.listen(port, host, () => {
        http.off('error', reject)
        resolve()
      })
    })
    listening = true
    port = (http.address() as AddressInfo).port
  }

  async function stop(): Promise<void> {
    if (!listening) return
    listening = false
    const closed = new Promise<void>((resolve) => http.close(() => resolve()))
    const open = [...connections]
    for (const connection of open) connection.close(CloseCode.ServiceRestart, 'server restart')
    // A socket that is not a WebSocket yet (silent, half a request, an upgrade in flight) is not timed out by Node
    // once the server stops listening, so `close()` would wait for it forever: it is cut with the rest.
    const grace = setTimeout(() => {
      for (const ws of wss.clients) ws.terminate()
      for (const socket of sockets) socket.destroy()
    }, STOP_GRACE_MS)
    // `done` also takes each connection out of `connections` (its first listener), so none is counted after this.
    await Promise.all([closed, ...open.map((connection) => connection.done)])
    clearTimeout(grace)
  }

  try {
    await start()
  } catch (error) {
    unlisten()
    context.sessions.close()
    presence.close()
    throw error
  }

  return {
    get port() {
      return port
    },
    store,
    connections: () => connections.size,
    subscribers: (topic) => topics.count(topic),
    presence: (topic) => presence.members(topic),
    publish: async (topic, body) => {
      // What no client may publish, the server may not either: every stored body can be encoded and sent.
      if (nestsDeeperThan(body, MAX_BODY_DEPTH))
        throw new RangeError(`publish(${JSON.stringify(topic)}): the body nests deeper than ${MAX_BODY_DEPTH} levels`)
      return store.append(topic, body)
    },
    compact: async (topic, through, snapshot) => {
      if (!Number.isSafeInteger(through) || through < 0)
        throw new RangeError(`compact(${JSON.stringify(topic)}): through must be an integer ≥ 0`)
      const trim = store.trim?.bind(store)
      if (!trim) throw new TypeError(`compact(${JSON.stringify(topic)}): this store has no trim(topic, before)`)
      const { last } = await store.head(topic)
      if (through > last)
        throw new RangeError(`compact(${JSON.stringify(topic)}): through ${through} is beyond the log's end (${last})`)
      if (nestsDeeperThan(snapshot, MAX_BODY_DEPTH))
        throw new RangeError(`compact(${JSON.stringify(topic)}): the body nests deeper than ${MAX_BODY_DEPTH} levels`)
      const msg = await store.append(topic, snapshot)
      return { msg, head: await trim(topic, through + 1) }
    },
    handle: (topic, fn) => handlers.handle(topic, fn),
    disconnect: async (user, disconnectOptions = {}) => {
      const { code, reason } = disconnectCall(user, disconnectOptions)
      await context.sessions.disconnect(user, code, reason)
    },
    outputBytes: () => ({ now: pendingBytes(), peak: context.meter.peak }),
    metrics: async () => {
      if (!metrics) throw new TypeError('metrics are off: createServer({ metrics: true })')
      return metrics.registry.metrics()
    },
    stop,
    start,
    async close() {
      await stop()
      unlisten()
      context.sessions.close()
      presence.close()
      await presence.registry.close()
      await store.close()
    },
  }
}

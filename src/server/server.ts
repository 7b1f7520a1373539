import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'
import { Admission } from './admission.ts'
import { anonymous } from './auth.ts'
import { Connection } from './connection.ts'
import { checkMaxSubscriptions, checkRateLimit, refuseOrigin } from './guard.ts'
import { createMemoryStore } from './memory-store.ts'
import { RateLimits } from './rate-limits.ts'
import { MAX_BODY_DEPTH, nestsDeeperThan } from '../protocol/depth.ts'
import { Sessions } from './sessions.ts'
import { TabwireSocket } from './socket.ts'
import { Topics } from './topics.ts'
import type { ServerOptions, TabwireServer } from './types.ts'

const DEFAULTS = { host: '127.0.0.1', maxFrameBytes: 1 << 20, idleTimeout: 60_000, replayBatch: 500 }

/** How long `stop()` lets clients answer the 1012 close before cutting their sockets. */
const STOP_GRACE_MS = 1_000

/**
 * The reference server. One HTTP server carries the WebSocket upgrades; it can stop and start again on the same port
 * (what a restart looks like to clients) while the store, and so every log and dedup counter, stays.
 */
export async function createServer(options: ServerOptions): Promise<TabwireServer> {
  const host = options.host ?? DEFAULTS.host
  const store = options.store ?? createMemoryStore()
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULTS.maxFrameBytes
  const topics = new Topics()
  const connections = new Set<Connection>()
  const context = {
    store,
    topics,
    sessions: new Sessions(),
    authenticate: options.authenticate ?? anonymous,
    maxFrameBytes,
    idleTimeout: options.idleTimeout ?? DEFAULTS.idleTimeout,
    replayBatch: options.replayBatch ?? DEFAULTS.replayBatch,
    authorize: options.authorize,
    rateLimits: options.rateLimit ? new RateLimits(options.rateLimit) : undefined,
    maxSubscriptions: options.maxSubscriptions,
    meter: { peak: 0 },
  }
  if (options.rateLimit) checkRateLimit(options.rateLimit)
  checkMaxSubscriptions(options.maxSubscriptions)
  const allowedOrigins = options.allowedOrigins ? [...options.allowedOrigins] : undefined
  const admission = options.admission ? new Admission(options.admission) : undefined
  // Fan-out comes from the store only, so every node sharing it delivers the same messages the same way.
  const unlisten = store.onAppend((msg) => topics.dispatch(msg))

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, WebSocket: TabwireSocket })
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('tabwire: WebSocket only\n')
  })
  http.on('upgrade', (req, socket, head) => {
    if (refuseOrigin(allowedOrigins, req, socket)) return
    wss.handleUpgrade(req, socket, head, (ws) => {
      // An upgrade that completes while stop() runs would escape its 1012 round: it gets its own.
      if (!listening) return ws.close(CloseCode.ServiceRestart, 'server restart')
      // Shed a reconnect storm before it costs a hello, a store read and a replay: the handshake has to finish
      // anyway, since a browser sees a close code and reason only on an open WebSocket (an HTTP 429 reads as 1006).
      const verdict = admission?.take()
      if (verdict && !verdict.admit) return ws.close(CloseCode.RateLimited, `retry-after=${verdict.retryAfterMs}`)
      const connection = new Connection(ws, req, context)
      connections.add(connection)
      void connection.done.then(() => connections.delete(connection))
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
    const grace = setTimeout(() => {
      for (const ws of wss.clients) ws.terminate()
    }, STOP_GRACE_MS)
    // `done` also takes each connection out of `connections` (its first listener), so none is counted after this.
    await Promise.all([closed, ...open.map((connection) => connection.done)])
    clearTimeout(grace)
  }

  try {
    await start()
  } catch (error) {
    unlisten()
    throw error
  }

  return {
    get port() {
      return port
    },
    store,
    connections: () => connections.size,
    subscribers: (topic) => topics.count(topic),
    publish: async (topic, body) => {
      // What no client may publish, the server may not either: every stored body can be encoded and sent.
      if (nestsDeeperThan(body, MAX_BODY_DEPTH))
        throw new RangeError(`publish(${JSON.stringify(topic)}): the body nests deeper than ${MAX_BODY_DEPTH} levels`)
      return store.append(topic, body)
    },
    outputBytes: () => ({
      now: [...connections].reduce((sum, c) => sum + c.pendingBytes, 0),
      peak: context.meter.peak,
    }),
    stop,
    start,
    async close() {
      await stop()
      unlisten()
      await store.close()
    },
  }
}

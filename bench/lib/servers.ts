/**
 * The servers the contenders talk to, all on loopback in the runner's process, behind one interface:
 * - `ws`: a plain `ws` server for raw, raw-batch100, reconnecting-websocket and partysocket: an `ack {id}` per
 *   one-message frame and one per array frame (its last id); `sub` joins a topic and is answered with the topic's
 *   newest message, if any (what a live-data app's server sends a new subscriber); publish sends one frame per
 *   message (or 100 per frame for the batch contender).
 * - `socket.io`: a socket.io server, WebSocket transport only, ack callback per emit; `sub` is answered with the
 *   topic's newest message too.
 * - `tabwire`: the reference server with the memory store.
 * The bench servers keep only each topic's newest message; tabwire's stores every message (in memory), with dedup
 * and per-topic seqs.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Server as SocketIoServer } from 'socket.io'
import { WebSocketServer, type WebSocket } from 'ws'
import { createMemoryStore, createServer } from '../../src/server/index.ts'
import { BATCH, body, ECHO_TOPIC } from '../shared.ts'

export interface BenchServer {
  /** What the page connects to. */
  readonly url: string
  /** Publishes `n` messages on `topic` to every subscriber, a chunk per event-loop turn as they "arrive". */
  publish(topic: string, n: number, batch: boolean): Promise<void>
  connections(): number
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

const PUBLISH_CHUNK = 1000
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

interface Frame {
  t: string
  id?: number
  topic?: string
}

async function listen(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}

/** A restartable HTTP server: `stop()` cuts every socket (the clients see the server go away), `start()` listens again. */
function restartable(server: http.Server) {
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  let port = 0
  return {
    get port() {
      return port
    },
    async start() {
      if (server.listening) return
      port = await listen(server, port)
    },
    async stop() {
      if (!server.listening) return
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}

export async function startWsServer(): Promise<BenchServer> {
  const server = http.createServer((_req, res) => res.writeHead(426).end())
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  const topics = new Map<string, Set<WebSocket>>()
  /** Topic → the frame of its newest message. */
  const newest = new Map<string, string>()
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)))
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data) => {
      const parsed = JSON.parse(String(data)) as Frame | Frame[]
      const frames = Array.isArray(parsed) ? parsed : [parsed]
      let last = 0
      for (const f of frames) {
        if (f.t === 'pub') last = f.id ?? 0
        else if (f.t === 'ping') ws.send('{"t":"pong"}')
        else if (f.t === 'sub' && f.topic) {
          let subs = topics.get(f.topic)
          if (!subs) topics.set(f.topic, (subs = new Set()))
          subs.add(ws)
          ws.send(JSON.stringify({ t: 'subscribed', topic: f.topic }))
          const last = newest.get(f.topic)
          if (last !== undefined) ws.send(last)
        }
      }
      if (last > 0) ws.send(`{"t":"ack","id":${last}}`)
    })
    ws.on('close', () => {
      for (const subs of topics.values()) subs.delete(ws)
    })
  })
  const life = restartable(server)
  await life.start()
  const stop = async () => {
    for (const ws of wss.clients) ws.terminate()
    await life.stop()
  }
  return {
    url: `ws://127.0.0.1:${life.port}/`,
    async publish(topic, n, batch) {
      const subs = () => [...(topics.get(topic) ?? [])]
      let seq = 0
      while (seq < n) {
        const chunk = Math.min(PUBLISH_CHUNK, n - seq)
        if (batch) {
          for (let done = 0; done < chunk; done += BATCH) {
            const frame = []
            for (let i = 0; i < Math.min(BATCH, chunk - done); i++) {
              seq++
              frame.push({ t: 'msg', topic, seq, epoch: 'e', body: body(seq) })
            }
            const text = JSON.stringify(frame)
            for (const ws of subs()) ws.send(text)
          }
        } else {
          for (let i = 0; i < chunk; i++) {
            seq++
            const text = JSON.stringify({ t: 'msg', topic, seq, epoch: 'e', body: body(seq) })
            for (const ws of subs()) ws.send(text)
          }
        }
        newest.set(topic, JSON.stringify({ t: 'msg', topic, seq, epoch: 'e', body: body(seq) }))
        await turn()
      }
    },
    connections: () => wss.clients.size,
    start: () => life.start(),
    stop,
    async close() {
      await stop()
      wss.close()
    },
  }
}

export async function startSocketIoServer(): Promise<BenchServer> {
  const server = http.createServer()
  const io = new SocketIoServer(server, { transports: ['websocket'], serveClient: false })
  /** Topic → its newest message. */
  const newest = new Map<string, { topic: string; seq: number; epoch: string; body: ReturnType<typeof body> }>()
  io.on('connection', (socket) => {
    socket.on('pub', (_msg: unknown, ack: () => void) => ack())
    socket.on('sub', (topic: string, ack: () => void) => {
      void socket.join(topic)
      ack()
      const last = newest.get(topic)
      if (last) socket.emit('msg', last)
    })
  })
  const life = restartable(server)
  await life.start()
  const stop = async () => {
    io.disconnectSockets(true)
    await life.stop()
  }
  return {
    url: `http://127.0.0.1:${life.port}`,
    async publish(topic, n) {
      let seq = 0
      while (seq < n) {
        const chunk = Math.min(PUBLISH_CHUNK, n - seq)
        for (let i = 0; i < chunk; i++) {
          seq++
          io.to(topic).emit('msg', { topic, seq, epoch: 'e', body: body(seq) })
        }
        newest.set(topic, { topic, seq, epoch: 'e', body: body(seq) })
        await turn()
      }
    },
    connections: () => io.engine.clientsCount,
    start: () => life.start(),
    stop,
    async close() {
      await stop()
      await io.close().catch(() => undefined)
    },
  }
}

export async function startTabwireServer(): Promise<BenchServer> {
  const server = await createServer({ port: 0, store: createMemoryStore() })
  server.handle(ECHO_TOPIC, ({ body }) => body)
  return {
    url: `ws://127.0.0.1:${server.port}/`,
    async publish(topic, n) {
      let seq = 0
      while (seq < n) {
        const chunk = Math.min(PUBLISH_CHUNK, n - seq)
        const appends = []
        for (let i = 0; i < chunk; i++) appends.push(server.publish(topic, body(++seq)))
        await Promise.all(appends)
        await turn()
      }
    },
    connections: () => server.connections(),
    start: () => server.start(),
    stop: () => server.stop(),
    close: () => server.close(),
  }
}

/**
 * A scriptable fake tabwire server for bad-input tests: a plain `ws` server that answers each `hello` with
 * `welcome {acked}` (configurable) and otherwise does only what the test tells it — send raw text, raw bytes or
 * frames, close with any code, cut the TCP connection. It records every connection: when it opened, its hello, every
 * frame the client sent after it (parsed; unparseable text kept raw) and how it closed and by whom.
 *
 * Tests in browser mode drive it through the `evil*` browser commands (see `evilCommands` below).
 */
import type { AddressInfo } from 'node:net'
import type { BrowserCommand } from 'vitest/node'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ServerFrame } from '../../src/protocol/frames.ts'

export interface EvilOptions {
  /** `welcome.acked` for each hello (default 0). */
  welcomeAcked?: number
  /** Ack every pub at once with its id (default false: the test acks, or doesn't). */
  autoAck?: boolean
  /** Record hellos but answer none (default false): for a test that sends something else before `welcome`. */
  silent?: boolean
  /** Answer every ping with its pong (default false: a test that keeps a connection open longer than the heartbeat). */
  autoPong?: boolean
  /** Close each connection with this code and reason as soon as its hello arrives, instead of a welcome (null: stop). */
  refuse?: { code: number; reason: string } | null
}

export interface EvilClose {
  /** `server`: the test closed it; `client`: the browser did. */
  by: 'server' | 'client'
  code: number
  reason: string
  /** ms since epoch, on this (Node) side. */
  at: number
}

export interface EvilConnection {
  index: number
  openedAt: number
  /** The client's hello as it was sent (token included: the test decides what to look at). */
  hello: Record<string, unknown> | undefined
  /** Every frame after the hello, batches flattened, in order; a message that is not JSON appears as `{raw}`. */
  frames: Record<string, unknown>[]
  closed: EvilClose | undefined
}

/** What a test may inject: text as-is, bytes (given as a string, sent as its UTF-8 bytes), or frames (one message). */
export type EvilPayload =
  | { text: string }
  | { binary: string }
  | { frames: ServerFrame[] }
  | { size: number; topic: string; seq: number; epoch: string }

export interface EvilServer {
  readonly port: number
  readonly connections: EvilConnection[]
  configure(options: EvilOptions): void
  /** Sends to the newest open connection; false when there is none. */
  send(payload: EvilPayload): boolean
  close(code: number, reason: string): boolean
  stop(): Promise<void>
}

export async function createEvilServer(options: EvilOptions = {}): Promise<EvilServer> {
  const opts: EvilOptions = { ...options }
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 << 20 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const connections: EvilConnection[] = []
  const sockets: WebSocket[] = []

  wss.on('connection', (ws) => {
    const conn: EvilConnection = {
      index: connections.length,
      openedAt: Date.now(),
      hello: undefined,
      frames: [],
      closed: undefined,
    }
    connections.push(conn)
    sockets.push(ws)
    ws.on('error', () => {})
    ws.on('message', (data, isBinary) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(data.toString())
      } catch {
        conn.frames.push({ raw: isBinary ? `[binary ${(data as Buffer).length}]` : data.toString() })
        return
      }
      for (const f of (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[]) {
        if (f.t === 'hello' && conn.hello === undefined) {
          conn.hello = f
          if (opts.refuse) {
            conn.closed = { by: 'server', ...opts.refuse, at: Date.now() }
            ws.close(opts.refuse.code, opts.refuse.reason)
          } else if (!opts.silent) ws.send(JSON.stringify({ t: 'welcome', v: 1, acked: opts.welcomeAcked ?? 0 }))
          continue
        }
        conn.frames.push(f)
        if (f.t === 'pub' && opts.autoAck) ws.send(JSON.stringify({ t: 'ack', id: f.id }))
        if (f.t === 'ping' && opts.autoPong) ws.send(JSON.stringify({ t: 'pong', n: f.n }))
      }
    })
    ws.on('close', (code, reason) => {
      conn.closed ??= { by: 'client', code, reason: reason.toString(), at: Date.now() }
    })
  })

  const newest = (): WebSocket | undefined => {
    const ws = sockets[sockets.length - 1]
    return ws && ws.readyState === ws.OPEN ? ws : undefined
  }

  return {
    port: (wss.address() as AddressInfo).port,
    connections,
    configure(o) {
      Object.assign(opts, o)
    },
    send(payload) {
      const ws = newest()
      if (!ws) return false
      if ('text' in payload) ws.send(payload.text)
      else if ('binary' in payload) ws.send(Buffer.from(payload.binary), { binary: true })
      else if ('frames' in payload)
        ws.send(JSON.stringify(payload.frames.length === 1 ? payload.frames[0] : payload.frames))
      else {
        const { size, topic, seq, epoch } = payload
        ws.send(JSON.stringify({ t: 'msg', topic, seq, epoch, body: 'x'.repeat(size) }))
      }
      return true
    },
    close(code, reason) {
      const ws = newest()
      const conn = connections[connections.length - 1]
      if (!ws || !conn) return false
      conn.closed = { by: 'server', code, reason, at: Date.now() }
      ws.close(code, reason)
      return true
    },
    async stop() {
      for (const ws of sockets) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}

// ── browser commands ─────────────────────────────────────────────────────────

/** Kept on globalThis: the config's bundled commands may be a different module instance than a test's import. */
const KEY = Symbol.for('tabwire.test.evil-servers')

function registry(): Map<string, EvilServer> {
  const g = globalThis as { [KEY]?: Map<string, EvilServer> }
  g[KEY] ??= new Map()
  return g[KEY]
}

function evil(id: string): EvilServer {
  const s = registry().get(id)
  if (!s) throw new Error(`no evil server ${id}`)
  return s
}

let nextId = 1

const evilStart: BrowserCommand<[options?: EvilOptions]> = async (_ctx, options) => {
  const server = await createEvilServer(options)
  const id = `evil-${nextId++}`
  registry().set(id, server)
  return { id, port: server.port }
}

const evilConfigure: BrowserCommand<[id: string, options: EvilOptions]> = (_ctx, id, options) => {
  evil(id).configure(options)
}

const evilSend: BrowserCommand<[id: string, payload: EvilPayload]> = (_ctx, id, payload) => evil(id).send(payload)

const evilClose: BrowserCommand<[id: string, code: number, reason: string]> = (_ctx, id, code, reason) =>
  evil(id).close(code, reason)

const evilLog: BrowserCommand<[id: string]> = (_ctx, id) => evil(id).connections

const evilStop: BrowserCommand<[id: string]> = async (_ctx, id) => {
  const s = registry().get(id)
  registry().delete(id)
  await s?.stop()
}

export const evilCommands = { evilStart, evilConfigure, evilSend, evilClose, evilLog, evilStop }

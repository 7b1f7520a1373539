import type { IncomingMessage } from 'node:http'
import { type ClientOptions, WebSocket } from 'ws'
import { encodeBinaryMessage } from '../../src/protocol/binary.ts'
import { decodeServerMessage, voidedFrame } from '../../src/protocol/decode.ts'
import { encodeFrames } from '../../src/protocol/encode.ts'
import type { ClientFrame, Cursor, MsgFrame, ServerFrame } from '../../src/protocol/frames.ts'

export interface Closed {
  code: number
  reason: string
}

/**
 * A raw protocol client for server tests: collects every frame the server sends (validated by the protocol's own
 * decoder, so a malformed server frame fails the test) and lets a test await a condition on them.
 */
export class TestClient {
  /** Every frame received, in order, batches flattened. */
  readonly frames: ServerFrame[] = []
  /** How many WebSocket messages carried them: batching shows as fewer messages than frames. */
  messages = 0
  /** Per frame in `frames`, the kind of WebSocket message that carried it, and that message's number (from 1). */
  readonly via: { kind: 'text' | 'binary'; message: number }[] = []
  /** WebSocket message payload bytes each way (what the server's byte counters should match). */
  bytesReceived = 0
  bytesSent = 0
  /** Messages from the server that the protocol decoder rejected: any makes `waitFor` fail. */
  readonly invalid: string[] = []
  /** Settles when the socket closes, with the code and reason the server sent. */
  readonly closed: Promise<Closed>
  private readonly checks = new Set<() => void>()

  private constructor(
    readonly ws: WebSocket,
    /** The server's 101 answer: its headers (`sec-websocket-extensions`), and the TCP socket under the WebSocket. */
    readonly handshake: IncomingMessage,
  ) {
    ws.on('message', (data, isBinary) => {
      const decoded = decodeServerMessage(isBinary ? data : data.toString(), Infinity, { voided: voidedFrame })
      this.messages++
      this.bytesReceived += Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength
      if (decoded.ok) {
        this.frames.push(...decoded.frames)
        for (const _ of decoded.frames) this.via.push({ kind: isBinary ? 'binary' : 'text', message: this.messages })
      } else {
        this.invalid.push(decoded.error.message)
      }
      for (const check of this.checks) check()
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const check of this.checks) check()
      })
    })
  }

  /** `options` go to ws's client (`perMessageDeflate`, say; ws offers it unless told `false`). */
  static async open(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options)
    const handshake = await new Promise<IncomingMessage>((resolve, reject) => {
      let response: IncomingMessage | undefined
      ws.once('upgrade', (res) => (response = res))
      ws.once('open', () => resolve(response as IncomingMessage))
      ws.once('error', reject)
    })
    ws.on('error', () => {})
    return new TestClient(ws, handshake)
  }

  /** Opens, says hello and waits for `welcome`. */
  static async hello(
    url: string,
    client: string,
    options: { token?: string; subs?: Cursor[]; socket?: ClientOptions } = {},
  ): Promise<TestClient> {
    const c = await TestClient.open(url, options.socket)
    const hello: ClientFrame = { t: 'hello', v: 1, client, subs: options.subs ?? [] }
    if (options.token !== undefined) hello.token = options.token
    c.send(hello)
    await c.waitFor((frames) => frames.some((f) => f.t === 'welcome'))
    return c
  }

  /** Sends frames as one WebSocket message (a batch when several), or a raw string / bytes as-is. */
  send(...frames: ClientFrame[]): void
  send(raw: string | Uint8Array): void
  send(...args: unknown[]): void {
    const [first] = args
    const data = typeof first === 'string' || first instanceof Uint8Array ? first : encodeFrames(args as ClientFrame[])
    this.bytesSent += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    this.ws.send(data)
  }

  /** Sends frames as one binary message (see `protocol/binary.ts`), whatever their bodies. */
  sendBinary(...frames: ClientFrame[]): void {
    const data = encodeBinaryMessage(frames)
    this.bytesSent += data.byteLength
    this.ws.send(data)
  }

  /** Resolves once `predicate(frames)` holds; rejects on timeout or if the socket closes first. */
  waitFor(predicate: (frames: ServerFrame[]) => boolean, timeoutMs = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.checks.delete(check)
        reject(new Error(`timed out; frames so far: ${JSON.stringify(this.frames.slice(-5))}`))
      }, timeoutMs)
      const check = () => {
        if (this.invalid.length > 0) {
          clearTimeout(timer)
          this.checks.delete(check)
          reject(new Error(`server sent a bad message: ${this.invalid.join('; ')}`))
        } else if (predicate(this.frames)) {
          clearTimeout(timer)
          this.checks.delete(check)
          resolve()
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          clearTimeout(timer)
          this.checks.delete(check)
          reject(new Error(`socket closed; frames so far: ${JSON.stringify(this.frames.slice(-5))}`))
        }
      }
      this.checks.add(check)
      check()
    })
  }

  /** The `msg` frames received for one topic. */
  msgs(topic: string): MsgFrame[] {
    return this.frames.filter((f): f is MsgFrame => f.t === 'msg' && f.topic === topic)
  }

  /** Waits until the `msg` frames of `topic` reach seq `seq`. */
  untilSeq(topic: string, seq: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.msgs(topic).some((m) => m.seq >= seq), timeoutMs)
  }

  /** Frames received after a mark: `const mark = c.frames.length; …; c.since(mark)`. */
  since(mark: number): ServerFrame[] {
    return this.frames.slice(mark)
  }

  /** Lets in-flight frames arrive: to assert that something did *not* come. */
  async quiet(ms = 50): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms))
  }

  close(): Promise<Closed> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close()
    return this.closed
  }
}

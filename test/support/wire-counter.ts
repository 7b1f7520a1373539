import { WebSocket } from 'ws'
import { decodeServerMessage, voidedFrame } from '../../src/protocol/decode.ts'
import type { ServerFrame } from '../../src/protocol/frames.ts'

/**
 * A raw client for tests that move hundreds of megabytes: it validates every frame with the protocol's decoder and
 * hands it to `onFrame`, but keeps none of them; it records how the server cut its output into WebSocket messages.
 * It can stop reading (`pause()`: the socket's kernel buffers fill and the server sees a client that never reads).
 */
export class WireCounter {
  messages = 0
  frames = 0
  /** Largest WebSocket message received, bytes. */
  maxMessageBytes = 0
  bytes = 0
  readonly invalid: string[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private readonly checks = new Set<() => void>()

  private constructor(
    readonly ws: WebSocket,
    onFrame: (frame: ServerFrame) => void,
  ) {
    ws.on('message', (data: Buffer, isBinary) => {
      this.messages++
      this.bytes += data.byteLength
      this.maxMessageBytes = Math.max(this.maxMessageBytes, data.byteLength)
      const decoded = decodeServerMessage(isBinary ? data : data.toString(), Infinity, { voided: voidedFrame })
      if (!decoded.ok) this.invalid.push(decoded.error.message)
      else for (const frame of decoded.frames) this.frames++, onFrame(frame)
      for (const check of this.checks) check()
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const check of this.checks) check()
      })
    })
  }

  static async open(url: string, onFrame: (frame: ServerFrame) => void = () => {}): Promise<WireCounter> {
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    ws.on('error', () => {})
    return new WireCounter(ws, onFrame)
  }

  send(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, (error) => (error ? reject(error) : resolve())))
  }

  pause(): void {
    this.ws.pause()
  }

  resume(): void {
    this.ws.resume()
  }

  /** Resolves once `done()` holds after a message; rejects on a frame the decoder refused, a close, or the deadline. */
  until(done: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const stop = (error?: Error) => {
        clearTimeout(timer)
        this.checks.delete(check)
        if (error) reject(error)
        else resolve()
      }
      const timer = setTimeout(
        () => stop(new Error(`timed out waiting for ${what} (${this.frames} frames)`)),
        timeoutMs,
      )
      const check = () => {
        if (this.invalid.length > 0) stop(new Error(`server sent a bad message: ${this.invalid.join('; ')}`))
        else if (done()) stop()
        else if (this.ws.readyState === WebSocket.CLOSED) stop(new Error(`socket closed waiting for ${what}`))
      }
      this.checks.add(check)
      check()
    })
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate()
    return this.closed
  }
}

import type { DialInfo } from '../protocol/port.ts'
import type { SocketFactory } from './platform.ts'

/**
 * A worker's first connection, begun the moment it holds the owner lock, while its storage is still loading: the
 * WebSocket handshake then overlaps the IndexedDB reads instead of following them (a cold start after a reload).
 * Nothing is sent on it here: the session takes it over as its first attempt (`SocketLoop.start`), and `hello` still
 * waits for the outbox and the cursors. Dropped (closed) if the session never starts.
 */
export class HeadStart {
  /** The first attempt's URL and token, asked of a tab now rather than after the storage is open. */
  readonly dial: Promise<DialInfo>
  #ws: WebSocket | undefined
  #opened = false
  #closed: CloseEvent | undefined
  #done = false

  constructor(dial: () => Promise<DialInfo>, open: SocketFactory) {
    this.dial = dial()
    this.dial.then(
      (d) => {
        if (this.#done || 'invalidUrl' in d) return
        let ws: WebSocket
        try {
          ws = open(d.url)
        } catch {
          return // the session's own attempt opens it again and reports the refusal
        }
        ws.onopen = () => {
          this.#opened = true
        }
        ws.onclose = (ev) => {
          this.#closed = ev
        }
        this.#ws = ws
      },
      () => undefined, // the session's attempt awaits the same promise and handles the failure
    )
  }

  /**
   * The socket for the first attempt (whose URL is `dial`'s): the one opened early, or a new one when the browser
   * refused to open it then. What it went through before the caller set its handlers (opened, or closed with a code
   * the caller must act on) reaches them once they are set, which the caller does synchronously after this returns.
   */
  socket(url: string, open: SocketFactory): WebSocket {
    const ws = this.#ws
    const usable = !this.#done && ws !== undefined
    this.#done = true
    if (!usable) return open(url)
    const closed = this.#closed
    const opened = this.#opened
    queueMicrotask(() => {
      if (closed) ws.onclose?.call(ws, closed)
      else if (opened) ws.onopen?.call(ws, new Event('open'))
    })
    return ws
  }

  /** The session will not start: close the early socket. */
  drop(): void {
    if (this.#done) return
    this.#done = true
    this.#ws?.close()
  }
}

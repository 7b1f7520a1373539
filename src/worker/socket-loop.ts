import { CloseCode, closePolicy } from '../protocol/close-codes.ts'
import { decodeServerMessage } from '../protocol/decode.ts'
import { encodeFrames } from '../protocol/encode.ts'
import type { Cursor, ServerFrame, WelcomeFrame } from '../protocol/frames.ts'
import { PROTOCOL_VERSION } from '../protocol/frames.ts'
import type { DialInfo, ReconnectOptions, StateInfo } from '../protocol/port.ts'
import { backoffDelay, MAX_TIMER_DELAY, retryAfterDelay } from './backoff.ts'
import { utf8Length } from './utf8.ts'
import type { Clock, SocketFactory, TimerId } from './platform.ts'

/** What the connection needs from the session that owns it. */
export interface SocketLoopHost {
  /** The URL and token for the next attempt, asked of a live tab each time; never kept. */
  dial(): Promise<DialInfo>
  /**
   * The identity and resume points sent in `hello`, read at the moment of each attempt: `subs(room)` gives those that
   * fit in `room` bytes, and the rest go as `sub` after `welcome`.
   */
  hello(): { client: string; subs(room: number): Cursor[] }
  /** `welcome` arrived: the connection is open. */
  opened(welcome: WelcomeFrame): void
  /** Every frame after `welcome`, one call per WebSocket message (a batch stays a batch). */
  frames(frames: ServerFrame[]): void
  /** The socket went away (any reason); in-flight requests on it are void. */
  dropped(): void
  /** The server closed with 4413; `largest` is the largest message (UTF-8 bytes) written on that connection. */
  tooLarge(largest: number): void
  state(info: StateInfo): void
  log(message: string, level?: 'warn' | 'error'): void
  /** Every WebSocket message in (`<-`) and out (`->`), when the app asked for `debug`; the token is redacted. */
  trace?(direction: '->' | '<-', text: string): void
}

export type Hold = 'offline' | 'hidden'

/**
 * The largest message a server takes until it names its own in `welcome.maxBytes`: the reference server's default.
 * A smaller server closes a larger one with 4413, and the largest message written is then the bound (see `#lost`).
 */
export const ASSUMED_MAX_BYTES = 1 << 20

/** A close we decide ourselves, with codes from the protocol so logs read the same on both sides. */
class LocalClose {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}

/**
 * One reconnecting WebSocket with explicit states. An attempt is: dial (URL + token from a tab) → socket open →
 * `hello` → `welcome`; only then is the state `open`. Everything that ends an attempt or an open connection goes
 * through `lost()`, which picks the next state by the close code and schedules the retry with full jitter.
 */
export class SocketLoop {
  #ws: WebSocket | undefined
  #info: StateInfo = { state: 'connecting', attempt: 0 }
  #retryTimer: TimerId | undefined
  #connectTimer: TimerId | undefined
  #heartbeatTimer: TimerId | undefined
  #stableTimer: TimerId | undefined
  #lastFrameAt = 0
  #pingN = 0
  /** Reasons to stay disconnected: the browser says offline, or every tab is hidden under `whenHidden: 'disconnect'`. */
  readonly #holds = new Set<Hold>()
  /** Bumped on every attempt: events of an abandoned socket compare it and fall silent. */
  #generation = 0
  /** The largest message written on the current socket, bytes: what a 4413 teaches. */
  #largestSent = 0
  /** The server's `welcome.maxBytes`, kept across connections: the next `hello` is sized by it. */
  #namedLimit = ASSUMED_MAX_BYTES
  /** Below the largest message a server closed with 4413 (a server that names no limit, or a smaller one). */
  #learntLimit = Number.POSITIVE_INFINITY

  readonly #opts: ReconnectOptions
  readonly #host: SocketLoopHost
  readonly #clock: Clock
  readonly #openSocket: SocketFactory

  constructor(opts: ReconnectOptions, host: SocketLoopHost, clock: Clock, openSocket: SocketFactory) {
    this.#opts = opts
    this.#host = host
    this.#clock = clock
    this.#openSocket = openSocket
  }

  get stateInfo(): StateInfo {
    return this.#info
  }

  get isOpen(): boolean {
    return this.#info.state === 'open'
  }

  /** The largest WebSocket message, in UTF-8 bytes, the server is known or assumed to take. */
  get messageLimit(): number {
    return Math.min(this.#namedLimit, this.#learntLimit)
  }

  /** Bytes handed to the socket and not yet on the network. */
  get buffered(): number {
    return this.#ws?.bufferedAmount ?? 0
  }

  start(): void {
    void this.#attempt()
  }

  /**
   * Sends a message on the open connection; false when not open (the caller keeps the data and resends after the next
   * `welcome`).
   */
  send(data: string | Uint8Array): boolean {
    const ws = this.#ws
    if (this.#info.state !== 'open' || !ws) return false
    const queued = ws.bufferedAmount
    // Our bytes always sit on a plain ArrayBuffer (built by encodeBinaryMessage), never a SharedArrayBuffer.
    ws.send(data as string | Uint8Array<ArrayBuffer>)
    // A text's UTF-8 size without encoding it a second time (that cost a send burst ~10 % of the worker's time): within
    // a task `bufferedAmount` moves only by what send() adds, the message's bytes (HTML counts what was not yet
    // transmitted as of the event loop's last step 1).
    const bytes = typeof data === 'string' ? ws.bufferedAmount - queued : data.byteLength
    this.#largestSent = Math.max(this.#largestSent, bytes)
    this.#host.trace?.('->', typeof data === 'string' ? data : `[binary ${data.byteLength} bytes]`)
    return true
  }

  /** Sends `auth {token}` on the open connection, the token redacted in the trace; false when not open. */
  sendAuth(token: string): boolean {
    if (this.#info.state !== 'open' || !this.#ws) return false
    this.#ws.send(encodeFrames([{ t: 'auth', token }]))
    this.#host.trace?.('->', encodeFrames([{ t: 'auth', token: '[redacted]' }]))
    return true
  }

  /**
   * A frame that decoded fine but breaks the protocol in its context (an ack of ids never sent): closed with 4400
   * and retried, like a malformed frame, so the state shows error code `protocol`.
   */
  protocolError(message: string): void {
    if (!this.#ws) return
    this.#host.log(`bad frame from server (protocol): ${message}`, 'error')
    this.#lost(new LocalClose(CloseCode.BadFrame, message))
  }

  /** This side cannot go on with the connection: closed (1000: a script may not send 1001) and retried with backoff. */
  retryLater(message: string): void {
    if (!this.#ws) return
    this.#host.log(message, 'error')
    this.#lost(new LocalClose(CloseCode.Normal, message))
  }

  /** Try now: after `failed`, or to skip a backoff wait. Does nothing while an attempt is running or open. */
  reconnectNow(): void {
    if (this.#info.state === 'closed' || this.#holds.size > 0) return
    if (this.#ws) return
    this.#clearTimer('retry')
    if (this.#info.state === 'failed') this.#set({ state: 'reconnecting', attempt: 0 })
    void this.#attempt()
  }

  /**
   * Holds the connection down for a reason (state `offline`, no futile attempts) or lets it go: when the last hold is
   * lifted, it tries at once instead of waiting out a backoff.
   */
  hold(reason: Hold, on: boolean): void {
    if (this.#info.state === 'closed') return
    if (this.#holds.has(reason) === on) {
      // `online` without an `offline` before it (the tab missed it, or it came from another tab): still a reason to
      // stop waiting out a backoff.
      if (reason === 'offline' && !on && this.#holds.size === 0 && this.#info.state === 'reconnecting')
        this.reconnectNow()
      return
    }
    if (on) this.#holds.add(reason)
    else this.#holds.delete(reason)
    if (this.#holds.size === 0) {
      if (this.#info.state === 'offline' || this.#info.state === 'reconnecting') this.reconnectNow()
      return
    }
    if (this.#info.state === 'failed' || this.#info.state === 'offline') return
    this.#clearTimer('retry')
    this.#abandon(new LocalClose(CloseCode.GoingAway, reason === 'offline' ? 'browser offline' : 'every tab is hidden'))
    this.#set({ state: 'offline', attempt: this.#info.attempt })
  }

  close(): void {
    this.#abandon(new LocalClose(CloseCode.Normal, 'closed'))
    this.#clearTimer('retry')
    this.#set({ state: 'closed', attempt: 0 })
  }

  async #attempt(): Promise<void> {
    const gen = ++this.#generation
    if (this.#info.state !== 'connecting') this.#set({ state: 'reconnecting', attempt: this.#info.attempt })
    this.#connectTimer = this.#clock.setTimeout(() => {
      if (gen === this.#generation) this.#lost(new LocalClose(CloseCode.HeartbeatTimeout, 'connect timeout'))
    }, this.#opts.connectTimeout)
    let dial: DialInfo
    try {
      dial = await this.#host.dial()
    } catch (e) {
      if (gen === this.#generation) this.#lost(new LocalClose(CloseCode.AuthExpired, `no URL or token: ${String(e)}`))
      return
    }
    if (gen !== this.#generation) return
    if ('invalidUrl' in dial) {
      this.#invalidUrl(dial.invalidUrl)
      return
    }
    let ws: WebSocket
    try {
      ws = this.#openSocket(dial.url)
    } catch (e) {
      this.#invalidUrl(`the browser refused the URL ${JSON.stringify(dial.url)}: ${String(e)}`)
      return
    }
    // Binary bodies arrive as binary messages; an ArrayBuffer decodes synchronously, a Blob would not.
    ws.binaryType = 'arraybuffer'
    this.#ws = ws
    this.#largestSent = 0
    this.#lastFrameAt = this.#clock.now()
    ws.onopen = () => {
      if (gen !== this.#generation) return
      const { client, subs } = this.#host.hello()
      const hello = (cursors: Cursor[], token = dial.token) =>
        encodeFrames([{ t: 'hello', v: PROTOCOL_VERSION, client, subs: cursors, ...(token ? { token } : {}) }])
      const cursors = subs(this.messageLimit - utf8Length(hello([])))
      const text = hello(cursors)
      ws.send(text)
      this.#largestSent = utf8Length(text)
      this.#host.trace?.('->', hello(cursors, dial.token && '[redacted]'))
    }
    ws.onmessage = (ev: MessageEvent) => {
      if (gen === this.#generation) this.#receive(ev.data)
    }
    ws.onclose = (ev: CloseEvent) => {
      if (gen === this.#generation) this.#lost(ev)
    }
  }

  #receive(data: unknown): void {
    this.#lastFrameAt = this.#clock.now()
    this.#host.trace?.('<-', typeof data === 'string' ? data : `[binary ${(data as ArrayBuffer).byteLength} bytes]`)
    const decoded = decodeServerMessage(data)
    if (!decoded.ok) {
      this.#host.log(`bad frame from server (${decoded.error.code}): ${decoded.error.message}`, 'error')
      this.#lost(new LocalClose(CloseCode.BadFrame, decoded.error.message))
      return
    }
    let frames = decoded.frames
    if (this.#info.state !== 'open') {
      const [first, ...rest] = frames
      if (first?.t !== 'welcome') {
        this.#lost(new LocalClose(CloseCode.BadFrame, `expected welcome, got ${first?.t}`))
        return
      }
      // The server took the hello: a limit below it contradicts itself, and would turn every queued pub into a skip.
      if (first.maxBytes !== undefined && first.maxBytes < this.#largestSent) {
        this.#lost(
          new LocalClose(CloseCode.BadFrame, `welcome.maxBytes ${first.maxBytes} is below the hello it answers`),
        )
        return
      }
      this.#welcomed(first)
      // The session may have refused the welcome itself (a counter it cannot follow).
      if (!this.isOpen) return
      frames = rest
    }
    if (frames.length > 0) this.#host.frames(frames)
  }

  #welcomed(welcome: WelcomeFrame): void {
    this.#namedLimit = welcome.maxBytes ?? ASSUMED_MAX_BYTES
    // The hello was taken: a 4413 from now on is about a message sent after it.
    this.#largestSent = 0
    this.#clearTimer('connect')
    this.#set({ state: 'open', attempt: this.#info.attempt })
    this.#stableTimer = this.#clock.setTimeout(() => {
      if (this.#info.state === 'open') this.#set({ state: 'open', attempt: 0 })
    }, this.#opts.stableAfter)
    this.#startHeartbeat()
    this.#host.opened(welcome)
  }

  /**
   * Pings on an interval and checks silence against the wall clock, not against timer counts: a sleeping laptop or a
   * throttled background timer fires late, and the clock then shows the real gap.
   */
  #startHeartbeat(): void {
    const tick = Math.max(50, Math.min(this.#opts.heartbeatInterval, this.#opts.heartbeatTimeout / 2))
    let lastPing = this.#clock.now()
    this.#heartbeatTimer = this.#clock.setInterval(() => {
      const now = this.#clock.now()
      if (now - this.#lastFrameAt > this.#opts.heartbeatTimeout) {
        this.#lost(new LocalClose(CloseCode.HeartbeatTimeout, `no frame for ${now - this.#lastFrameAt} ms`))
        return
      }
      if (now - lastPing >= this.#opts.heartbeatInterval) {
        lastPing = now
        this.send(encodeFrames([{ t: 'ping', n: ++this.#pingN }]))
      }
    }, tick)
  }

  /** Ends the current socket (if any) without waiting for its close handshake: a half-open link may never answer. */
  #abandon(why: LocalClose): void {
    this.#generation++
    this.#clearTimer('connect')
    this.#clearTimer('heartbeat')
    this.#clearTimer('stable')
    const ws = this.#ws
    this.#ws = undefined
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null
      // Browsers accept only 1000 and 3000–4999 from a script; any other code would throw and leave the socket open.
      const code = why.code === CloseCode.Normal || (why.code >= 3000 && why.code <= 4999) ? why.code : CloseCode.Normal
      ws.close(code, why.reason.slice(0, 100))
      this.#host.dropped()
    }
  }

  #lost(why: CloseEvent | LocalClose): void {
    if (!(why instanceof LocalClose) && why.code === CloseCode.FrameTooLarge && this.#largestSent > 0) {
      this.#learntLimit = Math.min(this.#learntLimit, this.#largestSent - 1)
      // Before the welcome only the hello was sent: it teaches nothing about pubs, which would be skipped for good.
      if (this.isOpen) this.#host.tooLarge(this.#largestSent)
    }
    this.#abandon(why instanceof LocalClose ? why : new LocalClose(CloseCode.Normal, ''))
    const error: StateInfo['error'] = {
      // Our own 4400 means the server broke the protocol; anything else is the server's close code.
      code: why instanceof LocalClose && why.code === CloseCode.BadFrame ? 'protocol' : 'close',
      message: why.reason || 'connection lost',
      closeCode: why.code,
    }
    if (closePolicy(why.code) === 'stop') {
      this.#set({ state: 'failed', attempt: this.#info.attempt, error: { ...error, code: 'failed' } })
      return
    }
    if (this.#holds.size > 0) {
      this.#set({ state: 'offline', attempt: this.#info.attempt, error })
      return
    }
    // The count resets only once a connection has stayed up for `stableAfter`, so a flapping server backs us off.
    const attempt = this.#info.attempt + 1
    if (attempt > this.#opts.maxRetries) {
      this.#set({ state: 'failed', attempt, error: { ...error, code: 'failed' } })
      return
    }
    // A server shedding load names the slot it will admit us in (4429 retry-after): come back then, not later,
    // or a growing backoff would push every client past the slot it was given and stretch the recovery. Only a
    // server's close carries one; the wait is capped, so a hostile or broken server cannot park us for days.
    const named = why instanceof LocalClose ? undefined : retryAfterDelay(why.reason, this.#opts)
    // An app's maxDelay past setTimeout's range would otherwise wrap to an immediate retry.
    const delay = Math.min(named ?? backoffDelay(attempt - 1, this.#opts), MAX_TIMER_DELAY)
    const nextRetryAt = this.#clock.now() + delay
    this.#set({ state: 'reconnecting', attempt, nextRetryAt, error })
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined
      void this.#attempt()
    }, delay)
  }

  /** A bad URL is the app's mistake: retrying cannot mend it, so stop in `failed` until `reconnect()` asks again. */
  #invalidUrl(message: string): void {
    this.#abandon(new LocalClose(CloseCode.Normal, 'invalid URL'))
    this.#set({ state: 'failed', attempt: this.#info.attempt, error: { code: 'invalid-url', message } })
  }

  #set(info: StateInfo): void {
    this.#info = info
    this.#host.state(info)
  }

  #clearTimer(which: 'retry' | 'connect' | 'heartbeat' | 'stable'): void {
    switch (which) {
      case 'retry':
        this.#clock.clearTimeout(this.#retryTimer)
        this.#retryTimer = undefined
        break
      case 'connect':
        this.#clock.clearTimeout(this.#connectTimer)
        break
      case 'heartbeat':
        this.#clock.clearInterval(this.#heartbeatTimer)
        break
      case 'stable':
        this.#clock.clearTimeout(this.#stableTimer)
        break
    }
  }
}
